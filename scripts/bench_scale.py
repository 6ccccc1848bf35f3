"""Warm `ask` latency as the index grows: the whole engine (dense + full-text search, ranking
features, names check, sentence choice, verification) over stores of 10k, 100k and 1M passages.

scripts/bench scale --source DIR [--sizes 10000 100000 1000000] [--questions 206] [--work DIR]

The larger stores are **synthetic**: a built index (`--source`, e.g. the whole corpus) copied
round after round through the store's own writer (documents, passages, sentences, full-text terms),
every copy's passage and sentence vectors the originals with Gaussian noise (sigma 0.0185 a
dimension, re-normalised: cosine about 0.94 to the original, as in scripts/bench_ann.py), new ids.
Round 0 is the original itself. What differs from a real archive of that size, and is said in the
output: the copies repeat the originals' words (full-text search finds every copy, so its lists
are as crowded as they can be), copies carry no language-version links, and full-text terms are
written once per passage (no term counts). Past ONRECORD_ANN_THRESHOLD passages the store writes
the approximate vector index (IVF-SQ8), as it would for a real index of that size.

Out: JSON (sizes, build seconds, bytes on disk, p50/p95/p99 of a warm ask, peak RSS of the asking
process) and a PNG plot, bench-out/scale.{json,png}. Each size is asked in its own process.
"""
from __future__ import annotations

import argparse
import json
import math
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


def build(source: Path, target: Path, size: int, seed: int = 7) -> dict:
    """A store of about `size` passages: the source, then perturbed copies of it."""
    from index.store import open_backend
    from index.store.interface import FileRecord

    t0 = time.perf_counter()
    identity, docs = _read_source(source)
    per_round = sum(len(rows) for _, _, rows, _, _ in docs)
    rounds = max(1, math.ceil(size / per_round))
    if target.exists():
        shutil.rmtree(target)
    writer = open_backend(target).open_writer(identity)
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
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    disk = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    return {"passages": passages, "rounds": rounds, "build_s": round(time.perf_counter() - t0, 1),
            "disk_mb": round(disk / 1e6, 1), "bytes_per_passage": round(disk / max(passages, 1))}


def ask(index: Path, n: int, embedder=None) -> dict:
    """Warm ask latency over the first n dev questions (cycled), in this process."""
    from bot.answer import Engine
    from index.settings import Settings

    questions = [json.loads(x)["question"] for x in (SHARED / "dev-questions.jsonl").read_text().splitlines()
                 if x.strip()]
    t0 = time.perf_counter()
    engine = Engine.open(settings=Settings(index=index), embedder=embedder)
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


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["sizes"]
    xs = [r["passages"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, style in (("p50_ms", "o-"), ("p95_ms", "s--"), ("p99_ms", "^:")):
        ax.plot(xs, [r["ask"][key] for r in rows], style, label=key.split("_")[0])
    ax.set_xscale("log")
    ax.set_xlabel("passages in the index (copies beyond the source are synthetic)")
    ax.set_ylabel("warm ask, ms")
    ax.set_title(f"ask latency by index size ({rows[0]['ask']['model']})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, required=True, help="a built index (with sentence vectors) to copy")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--questions", type=int, default=206)
    ap.add_argument("--work", type=Path, default=REPO / "bench-out" / "scale-indexes",
                    help="where the synthetic stores are written (kept for re-runs with --reuse)")
    ap.add_argument("--reuse", action="store_true", help="ask over stores already built in --work")
    ap.add_argument("--out", type=Path, default=REPO / "bench-out" / "scale.json")
    ap.add_argument("--ask-only", type=Path, help=argparse.SUPPRESS)  # internal: one size, in its own process
    args = ap.parse_args(argv)
    if args.ask_only:
        print(json.dumps(ask(args.ask_only, args.questions)))
        return {}
    result = {"source": str(args.source), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "synthetic": "copies of the source with perturbed vectors (sigma 0.0185), the same words; "
                           "no version links between copies; full-text terms without counts",
              "sizes": []}
    for size in args.sizes:
        target = args.work / f"n{size}"
        row = {"size": size}
        if not (args.reuse and (target / "CURRENT").exists()):
            row["build"] = build(args.source, target, size)
            print(json.dumps({"built": size, **row["build"]}), flush=True)
        out = subprocess.run([sys.executable, __file__, "--source", str(args.source), "--ask-only", str(target),
                              "--questions", str(args.questions)], capture_output=True, text=True, check=True)
        row["ask"] = json.loads(out.stdout.strip().splitlines()[-1])
        row["passages"] = row["ask"]["passages"]
        print(json.dumps(row), flush=True)
        result["sizes"].append(row)
    result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    plot(result, args.out.with_suffix(".png"))
    return result


if __name__ == "__main__":
    main()
