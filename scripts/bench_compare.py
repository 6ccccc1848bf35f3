#!/usr/bin/env python
"""On Record side by side with the LangChain baseline: same run, same files, same model, same machine.

    scripts/bench compare [--size N] [--only index|query|add] [--questions 500] [--files P ...]

Systems: On Record (index.indexer.run_index into a work index; bot.answer.Engine answers) and the
baseline of bot/quality/baseline.py (RecursiveCharacterTextSplitter(1000, 200) +
langchain_huggingface.HuggingFaceEmbeddings on the same model folder + langchain_community FAISS,
similarity_search(k=3)). Files: ../shared/corpus, plus `--size N` files of the Europarl scale set
(../shared/scale/europarl-en-2004-2011.tar.gz, unpacked to the work folder), or `--files`.

Figures, each measured in its own process (peak RSS = that process's ru_maxrss):
  index  indexing wall time (model load apart), passages (chunks) per second, characters per second
         of the same text, bytes on disk, peak RSS while indexing
  query  cold start (process start to first answer), warm latency p50/p95/p99 over `--questions`
         questions (the dev questions, then varied: lower case, no final punctuation), peak RSS
         while serving
  add    one more transcript: On Record adds it to a copy of its built index (incremental); the
         baseline rebuilds from all files (it keeps no record of what it indexed). The baseline's
         FAISS.add_documents append is also timed, for information.
Passage embeddings are cached between runs (a SQLite byte store under CacheBackedEmbeddings, keyed by
the model's fingerprint, the system and the text); figures that used cached vectors say so
(`from_cache`), and `--no-cache` measures everything. The baseline's full rebuild in `add` never uses
the cache; nor do On Record's passages with late sentence vectors (ONRECORD_LATE_SENTENCE_VECTORS=1:
their sentences' vectors come from the same pass). Writes JSON (--out), a Markdown table and a PNG plot beside it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO))

SYSTEMS = ("onrecord", "baseline")
PHASES = ("index", "query", "add")


# --------------------------------------------------------------------------- embedding cache


def _byte_store_class():
    from langchain_core.stores import ByteStore

    class SQLiteByteStore(ByteStore):
        """A langchain ByteStore in one SQLite file; counts what it found and missed."""

        def __init__(self, path: Path):
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), timeout=60)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL)")
            self.hits = self.misses = 0

        def mget(self, keys: Sequence[str]) -> list[bytes | None]:
            found: dict[str, bytes] = {}
            for i in range(0, len(keys), 500):
                part = list(keys[i : i + 500])
                q = f"SELECT k, v FROM kv WHERE k IN ({','.join('?' * len(part))})"
                found.update(self.db.execute(q, part).fetchall())
            out = [found.get(k) for k in keys]
            hit = sum(v is not None for v in out)
            self.hits += hit
            self.misses += len(out) - hit
            return out

        def mset(self, pairs: Sequence[tuple[str, bytes]]) -> None:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", list(pairs))

        def mdelete(self, keys: Sequence[str]) -> None:
            with self.db:
                self.db.executemany("DELETE FROM kv WHERE k = ?", [(k,) for k in keys])

        def yield_keys(self, *, prefix: str | None = None) -> Iterator[str]:
            q, args = ("SELECT k FROM kv WHERE k LIKE ?", [prefix + "%"]) if prefix else ("SELECT k FROM kv", [])
            for (k,) in self.db.execute(q, args):
                yield k

    return SQLiteByteStore


def cached(embeddings, store, namespace: str):
    """CacheBackedEmbeddings over langchain Embeddings: document vectors by namespace + SHA-256 of the text."""
    from langchain_classic.embeddings import CacheBackedEmbeddings

    return CacheBackedEmbeddings.from_bytes_store(embeddings, store, namespace=namespace, key_encoder="sha256")


class CachedEmbedder:
    """On Record's Embedder with its passage vectors through the same cache (queries are not cached)."""

    def __init__(self, inner, store, namespace: str):
        import numpy as np
        from langchain_core.embeddings import Embeddings

        self.inner, self.name, self.dimension, self._np = inner, inner.name, inner.dimension, np

        class _Adapter(Embeddings):
            def embed_documents(self, texts):
                return inner.embed_passages(list(texts)).tolist()

            def embed_query(self, text):
                return inner.embed_queries([text])[0].tolist()

        self.cache = cached(_Adapter(), store, namespace)

    def embed_passages(self, texts: list[str]):
        if not texts:
            return self.inner.embed_passages(texts)
        return self._np.asarray(self.cache.embed_documents(list(texts)), dtype=self._np.float32)

    def embed_queries(self, texts: list[str]):
        return self.inner.embed_queries(texts)

    def __getattr__(self, name: str):
        # late sentence vectors come from the passages' own pass, so with them On Record's passages are
        # embedded uncached (without this, indexing took the separate sentence pass the setting avoids)
        if name == "embed_passages_with_sentences":
            return getattr(self.inner, name)
        raise AttributeError(name)


# --------------------------------------------------------------------------- worker side


def peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kilobytes


def _settings(index_dir: Path | None = None):
    from index.settings import get_settings

    s = get_settings()
    return s.model_copy(update={"index": index_dir}) if index_dir else s


def _cache_store(args):
    return _byte_store_class()(Path(args.cache_dir) / "embeddings.sqlite") if args.cache_dir else None


def _namespace(system: str) -> str:
    from bot.quality.baseline import model_ref

    ref = model_ref(_settings())
    return f"{ref.name}:{ref.fingerprint or ref.path}:{system}:"


def worker_index(args) -> dict:
    files = [Path(p) for p in json.loads(Path(args.files_json).read_text())]  # folders and files
    out = Path(args.target)
    store = _cache_store(args)
    if args.system == "onrecord":
        from index.embedder import load_embedder
        from index.indexer import run_index

        s = _settings(out)
        t0 = time.perf_counter()
        emb = load_embedder(s)
        load = time.perf_counter() - t0
        if store is not None:
            emb = CachedEmbedder(emb, store, _namespace("onrecord"))
        summary = run_index(files, s, embedder=emb, progress=False)
        res = {"seconds": summary.seconds, "model_load_seconds": load, "passages": summary.total_passages,
               "documents": summary.total_documents, "skipped": len(summary.skipped)}
    else:
        from bot.quality.baseline import BaselineStore, load_embeddings, model_ref

        s = _settings()
        t0 = time.perf_counter()
        ref = model_ref(s)
        emb = load_embeddings(ref)
        load = time.perf_counter() - t0
        doc_emb = cached(emb, store, _namespace("baseline")) if store is not None else None
        t0 = time.perf_counter()
        b = BaselineStore.build(files, settings=s, embeddings=emb, use_cache=False, ref=ref, document_embeddings=doc_emb)
        b.save(out)
        res = {"seconds": time.perf_counter() - t0, "model_load_seconds": load, "passages": b.chunk_count(),
               "split_seconds": b.info.split_seconds, "embed_seconds": b.info.embed_seconds}
    if store is not None:
        res["cache_hits"], res["cache_misses"] = store.hits, store.misses
    res["from_cache"] = bool(res.get("cache_hits"))
    res["peak_rss"] = peak_rss()
    return res


def worker_query(args) -> dict:
    questions = json.loads(Path(args.questions_json).read_text())
    if args.system == "onrecord":
        from bot.answer import Engine

        engine = Engine.open(index_dir=Path(args.target))

        def answer(kind: str, text: str) -> int:
            a = (engine.quote if kind == "quote_lookup" else engine.ask)(text)
            return len(a.quotes)
    else:
        from bot.quality.baseline import BaselineStore

        b = BaselineStore.open(Path(args.target))

        def answer(kind: str, text: str) -> int:
            return len(b.search(text))

    answer(*questions[0])
    first = time.time()
    times = []
    for kind, text in questions[1:]:
        t0 = time.perf_counter()
        answer(kind, text)
        times.append((time.perf_counter() - t0) * 1000)
    return {"first_answer_at": first, "latencies_ms": times, "peak_rss": peak_rss()}


def worker_add(args) -> dict:
    new = Path(args.add_file)
    if args.system == "onrecord":
        from index.embedder import load_embedder
        from index.indexer import run_index

        s = _settings(Path(args.target))
        emb = load_embedder(s)  # no cache: the new file is embedded for real
        summary = run_index([new], s, embedder=emb, progress=False)
        return {"seconds": summary.seconds, "passages_added": summary.passages,
                "total_passages": summary.total_passages, "from_cache": False, "peak_rss": peak_rss()}
    from bot.quality.baseline import BaselineStore, load_documents, load_embeddings, model_ref, splitter

    files = [Path(p) for p in json.loads(Path(args.files_json).read_text())] + [new]
    s = _settings()
    ref = model_ref(s)
    emb = load_embeddings(ref)
    t0 = time.perf_counter()
    rebuilt = BaselineStore.build(files, settings=s, embeddings=emb, use_cache=False, ref=ref)
    rebuilt.save(Path(args.target))
    rebuild = time.perf_counter() - t0
    # for information: langchain's FAISS can append to a loaded store (the tutorial pipeline does not)
    loaded = BaselineStore.open(Path(args.base_target), settings=s, embeddings=emb)
    t0 = time.perf_counter()
    chunks = splitter().split_documents(load_documents([new]))
    loaded.store.add_documents(chunks)
    append = time.perf_counter() - t0
    return {"seconds": rebuild, "total_passages": rebuilt.chunk_count(), "passages_added": len(chunks),
            "append_seconds": append, "from_cache": False, "peak_rss": peak_rss()}


def worker_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("phase", choices=PHASES)
    ap.add_argument("--system", choices=SYSTEMS, required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--files-json")
    ap.add_argument("--questions-json")
    ap.add_argument("--cache-dir")
    ap.add_argument("--add-file")
    ap.add_argument("--base-target")
    args = ap.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING)
    res = {"index": worker_index, "query": worker_query, "add": worker_add}[args.phase](args)
    print("RESULT " + json.dumps(res), flush=True)


# --------------------------------------------------------------------------- parent side


IN_PROCESS = False  # --in-process: every phase in this process (a quick check that the bench runs)


def spawn(phase: str, system: str, **kw) -> dict:
    if IN_PROCESS:
        started = time.time()
        fields = ("target", "files_json", "questions_json", "cache_dir", "add_file", "base_target")
        ns = argparse.Namespace(phase=phase, system=system,
                                **{f: (None if kw.get(f) is None else str(kw[f])) for f in fields})
        res = {"index": worker_index, "query": worker_query, "add": worker_add}[phase](ns)
        res["process_seconds"] = time.time() - started
        res["started_at"] = started
        return res
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", phase, "--system", system]
    for k, v in kw.items():
        if v is not None:
            cmd += [f"--{k.replace('_', '-')}", str(v)]
    started = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"bench compare: {phase} of {system} failed (exit {proc.returncode})")
    res = json.loads(lines[-1][len("RESULT "):])
    res["process_seconds"] = time.time() - started
    res["started_at"] = started
    return res


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def scale_members(tar_path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(tar_path, "r:gz") as tar:
        return sorted((m for m in tar if m.isfile() and m.name.endswith(".txt")), key=lambda m: m.name)


def extract(tar_path: Path, members: list[tarfile.TarInfo], dest: Path) -> list[Path]:
    """Members flattened into `dest` by base name (never a path from the archive); kept between runs."""
    dest.mkdir(parents=True, exist_ok=True)
    want = {m.name: dest / Path(m.name).name for m in members if not (dest / Path(m.name).name).exists()}
    if want:
        with tarfile.open(tar_path, "r:gz") as tar:
            for m in tar:
                if m.name in want:
                    with tar.extractfile(m) as src, open(want[m.name], "wb") as dst:
                        shutil.copyfileobj(src, dst)
    return [dest / Path(m.name).name for m in members]


def question_set(path: Path, n: int) -> list[tuple[str, str]]:
    """The dev questions, then varied (lower case; final punctuation dropped or added) up to `n`."""
    base = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    variants = [lambda q: q, lambda q: q.lower(), lambda q: q.rstrip("?.!") if q[-1:] in "?.!" else q + "?",
                lambda q: q.lower().rstrip("?.!")]
    out: list[tuple[str, str]] = []
    for v in variants:
        for item in base:
            if len(out) >= n:
                return out
            out.append((item["kind"], v(item["question"])))
    while len(out) < n:
        out.extend(out[: n - len(out)])
    return out


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


FIGURES = [  # (key, label, unit, better)
    ("index_seconds", "indexing wall time", "s", "lower"),
    ("passages", "passages (chunks)", "", None),
    ("passages_per_s", "passages (chunks) / s", "/s", "higher"),
    ("chars_per_s", "characters of the same text / s", "/s", "higher"),
    ("disk_bytes", "bytes on disk", "B", "lower"),
    ("index_peak_rss", "peak RSS while indexing", "B", "lower"),
    ("cold_start_s", "cold start (process start to first answer)", "s", "lower"),
    ("p50_ms", "warm latency p50", "ms", "lower"),
    ("p95_ms", "warm latency p95", "ms", "lower"),
    ("p99_ms", "warm latency p99", "ms", "lower"),
    ("serve_peak_rss", "peak RSS while serving", "B", "lower"),
    ("add_seconds", "adding one transcript", "s", "lower"),
]
PHASE_OF = {"index_seconds": "index", "passages": "index", "passages_per_s": "index", "chars_per_s": "index",
            "disk_bytes": "index", "index_peak_rss": "index", "cold_start_s": "query", "p50_ms": "query",
            "p95_ms": "query", "p99_ms": "query", "serve_peak_rss": "query", "add_seconds": "add"}


def fmt(v, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "B":
        return f"{v / 2**20:,.1f} MB" if v >= 2**20 else f"{v / 1024:,.1f} KB"
    if unit == "ms":
        return f"{v:,.0f} ms"
    if unit == "s":
        return f"{v:,.2f} s"
    if unit == "/s":
        return f"{v:,.1f}/s"
    return f"{v:,}"


def _ratio(o, b) -> str:
    """On Record / baseline; a small ratio also as the baseline's multiple ("0.004x (1/269)")."""
    if not (isinstance(o, (int, float)) and isinstance(b, (int, float)) and b):
        return "-"
    r = o / b
    return f"{r:.3f}x (1/{b / o:,.0f})" if 0 < r < 0.1 else f"{r:.2f}x"


def markdown(result: dict) -> str:
    f = result["figures"]
    lines = [f"On Record vs the LangChain baseline: {result['set']['files']} files "
             f"({result['set']['characters']:,} characters), model {result['model']}, "
             f"{result['date']}, {result['machine']}"
             + ("; On Record with late sentence vectors" if result.get("onrecord_late_sentence_vectors") else "")
             + ".", "",
             "| figure | On Record | LangChain baseline | On Record / baseline |", "|---|---|---|---|"]
    for key, label, unit, _better in FIGURES:
        o, b = f["onrecord"].get(key), f["baseline"].get(key)
        ratio = _ratio(o, b)
        notes = [s for s in SYSTEMS if key in result["from_cache"].get(s, [])]
        tag = f" (cached vectors: {', '.join(notes)})" if notes else ""
        lines.append(f"| {label}{tag} | {fmt(o, unit)} | {fmt(b, unit)} | {ratio} |")
    add = result.get("phases", {}).get("add", {}).get("baseline")
    if add and add.get("append_seconds") is not None:
        lines += ["", f"The baseline's full rebuild is what the tutorial pipeline does; langchain's "
                  f"FAISS.add_documents can append the file to a loaded store in {add['append_seconds']:.2f} s "
                  "(no record of what was indexed: a changed or deleted file stays in it)."]
    q = result.get("phases", {}).get("query", {})
    if q:
        lines += ["", f"Latency over {result['questions']} questions (the dev questions, then varied)."]
    if result.get("note"):
        lines += ["", result["note"]]
    if result.get("in_process"):
        lines += ["", "Run with --in-process (every phase in one process): memory and cold start are not "
                  "per phase; these figures only show that the bench runs."]
    return "\n".join(lines) + "\n"


def plot(result: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # the figures this run measured (a run of one part, `--only query`, has no indexing figures)
    keys = [k for k in FIGURES if k[0] != "passages"
            and any(result["figures"][s].get(k[0]) is not None for s in SYSTEMS)]
    rows = max(1, -(-len(keys) // 4))
    fig, axes = plt.subplots(rows, 4, figsize=(15, 3 * rows), squeeze=False)
    for ax, (key, label, unit, better) in zip(axes.flat, keys):
        vals = [result["figures"][s].get(key) for s in SYSTEMS]
        scale = 2**20 if unit == "B" else 1
        shown = [(v or 0) / scale for v in vals]
        ax.bar(["On Record", "baseline"], shown, color=["#2b6cb0", "#a0aec0"])
        cached = [s for s in SYSTEMS if key in result.get("from_cache", {}).get(s, [])]
        ax.set_title(f"{label}\n({'MB' if unit == 'B' else unit or 'count'}; {better or ''} is better)"
                     + (f"\ncached vectors: {', '.join(cached)}" if cached else ""), fontsize=8)
        for i, v in enumerate(shown):
            ax.text(i, v, f"{v:,.1f}", ha="center", va="bottom", fontsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.suptitle(f"On Record vs LangChain baseline — {result['set']['files']} files, {result['model']}, {result['date']}")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def derive(result: dict) -> None:
    chars = result["set"]["characters"]
    figs: dict[str, dict] = {s: {} for s in SYSTEMS}
    cache: dict[str, list] = {s: [] for s in SYSTEMS}
    ph = result["phases"]
    for s in SYSTEMS:
        f = figs[s]
        if s in ph.get("index", {}):
            r = ph["index"][s]
            f["index_seconds"] = r["seconds"]
            f["passages"] = r["passages"]
            f["passages_per_s"] = r["passages"] / r["seconds"] if r["seconds"] else None
            f["chars_per_s"] = chars / r["seconds"] if r["seconds"] else None
            f["disk_bytes"] = r["disk_bytes"]
            f["index_peak_rss"] = r["peak_rss"]
            f["model_load_seconds"] = r["model_load_seconds"]
            if r.get("from_cache"):
                cache[s] += ["index_seconds", "passages_per_s", "chars_per_s", "index_peak_rss"]
        if s in ph.get("query", {}):
            r = ph["query"][s]
            f["cold_start_s"] = r["cold_start_s"]
            for q in (50, 95, 99):
                f[f"p{q}_ms"] = pct(r["latencies_ms"], q)
            f["serve_peak_rss"] = r["peak_rss"]
        if s in ph.get("add", {}):
            f["add_seconds"] = ph["add"][s]["seconds"]
    ratios = {}
    for key, *_ in FIGURES:
        o, b = figs["onrecord"].get(key), figs["baseline"].get(key)
        if isinstance(o, (int, float)) and isinstance(b, (int, float)) and b:
            ratios[key] = o / b
    o, b = figs["onrecord"].get("add_seconds"), figs["baseline"].get("add_seconds")
    if o and b:
        ratios["add_speedup"] = b / o  # how many times faster On Record adds a transcript
    result["figures"], result["ratios"], result["from_cache"] = figs, ratios, cache


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    ap.add_argument("--scale", type=Path, default=SHARED / "scale" / "europarl-en-2004-2011.tar.gz")
    ap.add_argument("--size", type=int, default=0, help="Europarl scale files added to the corpus (default 0)")
    ap.add_argument("--files", type=Path, nargs="+", help="index these files or folders instead of the corpus")
    ap.add_argument("--only", choices=PHASES, action="append", help="run only this part (repeatable)")
    ap.add_argument("--questions", type=int, default=500, help="warm questions timed (default 500)")
    ap.add_argument("--questions-file", type=Path, default=SHARED / "dev-questions.jsonl")
    ap.add_argument("--add-file", type=Path, help="the transcript added in `add` (default: the next scale file)")
    ap.add_argument("--no-cache", action="store_true", help="embed everything (no cached passage vectors)")
    ap.add_argument("--cache-dir", type=Path, default=REPO / "bench-out" / "compare-cache")
    ap.add_argument("--work", type=Path, help="work folder (default: bench-out/compare-work/<files key>)")
    ap.add_argument("--out", type=Path, default=REPO / "bench-out" / "compare.json")
    ap.add_argument("--note", help="a line added to the output (e.g. the machine was busy)")
    ap.add_argument("--in-process", action="store_true",
                    help="run every phase in this process: a quick check that the bench runs (the test suite's "
                         "smoke test); memory and cold-start figures are then not per phase, never report them")
    args = ap.parse_args()
    global IN_PROCESS
    IN_PROCESS = args.in_process
    t_start = time.time()
    from bot.quality.baseline import model_ref, read_text, transcript_files
    from index.settings import get_settings

    phases = args.only or list(PHASES)
    members = None
    if args.files:
        paths = list(args.files)
    else:
        paths = [args.corpus]
        if args.size:
            members = scale_members(args.scale)
            scale_dir = REPO / "bench-out" / "compare-scale"
            paths += extract(args.scale, members[: args.size], scale_dir)
    files = transcript_files(paths)
    if not files:
        raise SystemExit("bench compare: no transcripts found")
    settings = get_settings()
    ref = model_ref(settings)
    late = settings.late_sentence_vectors  # On Record's sentence vectors read from each passage's own pass
    key = hashlib.sha256(json.dumps([ref.fingerprint, ref.path] + (["late"] if late else []) + [f"{f}:{f.stat().st_size}:{f.stat().st_mtime_ns}"
                                                                  for f in files]).encode()).hexdigest()[:16]
    work = args.work or (REPO / "bench-out" / "compare-work" / key)
    work.mkdir(parents=True, exist_ok=True)
    files_json = work / "paths.json"  # what both systems are given: the folders and files (same discovery)
    files_json.write_text(json.dumps([str(Path(p).resolve()) for p in paths]))
    characters = sum(len(read_text(f)) for f in files)
    cache_dir = None if args.no_cache else args.cache_dir
    targets = {"onrecord": work / "onrecord-index", "baseline": work / "baseline-store"}

    result: dict = {}
    if args.out.exists():  # parts run separately add up, for the same files and model
        try:
            old = json.loads(args.out.read_text())
            if old.get("key") == key:
                result = old
        except ValueError:
            pass
    result.update({
        "key": key, "model": ref.name, "model_fingerprint": ref.fingerprint, "model_path": ref.path,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": f"{platform.machine()}, "
        f"{os.cpu_count()} CPUs, {platform.python_version()}, load average {os.getloadavg()[0]:.1f} at start",
        "set": {"files": len(files), "characters": characters, "size": args.size,
                "paths": [str(p) for p in (args.files or [args.corpus])]},
        "baseline": "RecursiveCharacterTextSplitter(1000, 200) + HuggingFaceEmbeddings (same model folder, its "
                    "prompts) + langchain_community FAISS, similarity_search(k=3)",
        "onrecord_late_sentence_vectors": late,
        "note": args.note,
        "in_process": args.in_process,
    })
    result.setdefault("phases", {})
    log = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)  # noqa: E731

    def built(system: str) -> bool:
        t = targets[system]
        return t.exists() and any(t.iterdir())

    def index(system: str) -> dict:
        shutil.rmtree(targets[system], ignore_errors=True)
        log(f"index: {system} over {len(files)} files")
        r = spawn("index", system, target=targets[system], files_json=files_json, cache_dir=cache_dir)
        r["disk_bytes"] = du(targets[system])
        log(f"  {r['passages']} passages in {r['seconds']:.1f} s (model {r['model_load_seconds']:.1f} s), "
            f"{r['disk_bytes'] / 2**20:.1f} MB on disk, peak RSS {r['peak_rss'] / 2**20:.0f} MB"
            + (f", {r['cache_hits']} of {r['cache_hits'] + r['cache_misses']} vectors from cache" if r.get("cache_hits") else ""))
        return r

    def save() -> None:  # after every part, so a run cut short keeps what it measured
        derive(result)
        result["seconds"] = round(time.time() - t_start, 1)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))

    if "index" in phases:
        result["phases"]["index"] = {}
        for s in SYSTEMS:
            result["phases"]["index"][s] = index(s)
            save()
    if "query" in phases or "add" in phases:
        for s in SYSTEMS:
            if not built(s):
                log(f"{s} has no built store in {work}: indexing it first (not timed here)")
                result["phases"].setdefault("index", {})[s] = index(s)
    if "query" in phases:
        qfile = work / "questions.json"
        qs = question_set(args.questions_file, args.questions + 1)  # the first answers the cold start
        qfile.write_text(json.dumps(qs, ensure_ascii=False))
        result["questions"] = args.questions
        result["phases"]["query"] = {}
        for s in SYSTEMS:
            log(f"query: {s}, cold start then {args.questions} warm questions")
            r = spawn("query", s, target=targets[s], questions_json=qfile)
            r["cold_start_s"] = r.pop("first_answer_at") - r["started_at"]
            log(f"  cold start {r['cold_start_s']:.1f} s, p50 {pct(r['latencies_ms'], 50):.0f} ms, "
                f"p95 {pct(r['latencies_ms'], 95):.0f} ms, peak RSS {r['peak_rss'] / 2**20:.0f} MB")
            result["phases"]["query"][s] = r
            save()
    if "add" in phases:
        add_file = args.add_file
        if add_file is None:
            members = members or scale_members(args.scale)
            used = {f.name for f in files}
            spare = next(m for m in members[args.size:] if Path(m.name).name not in used)
            add_file = extract(args.scale, [spare], REPO / "bench-out" / "compare-add")[0]
        add_file = Path(add_file).resolve()
        result["add_file"] = {"path": str(add_file), "characters": len(read_text(add_file))}
        copy = work / "onrecord-add"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(targets["onrecord"], copy, ignore=shutil.ignore_patterns("writer.lock"))
        log(f"add: {add_file.name} to On Record's index (incremental), and the baseline's full rebuild")
        r_on = spawn("add", "onrecord", target=copy, add_file=add_file)
        rebuilt = work / "baseline-rebuilt"
        shutil.rmtree(rebuilt, ignore_errors=True)
        r_b = spawn("add", "baseline", target=rebuilt, add_file=add_file, files_json=files_json,
                    base_target=targets["baseline"])
        log(f"  On Record {r_on['seconds']:.2f} s ({r_on['passages_added']} passages), baseline rebuild "
            f"{r_b['seconds']:.1f} s (append {r_b['append_seconds']:.2f} s)")
        result["phases"]["add"] = {"onrecord": r_on, "baseline": r_b}
        shutil.rmtree(copy, ignore_errors=True)
        shutil.rmtree(rebuilt, ignore_errors=True)
    save()
    md = args.out.with_suffix(".md")
    md.write_text(markdown(result), encoding="utf-8")
    png = args.out.with_suffix(".png")
    plot(result, png)
    print(markdown(result))
    print(f"JSON: {args.out}\nMarkdown: {md}\nPlot: {png}")


if __name__ == "__main__":
    main()
