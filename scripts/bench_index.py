"""Indexing throughput of the whole pipeline against the bare model's encode on the same passages,
in one run (the pipeline's overhead as a ratio), peak memory, and warm `ask` latency.

    scripts/bench index [--files N] [--index DIR] [--out bench-out/index.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPUS = Path(os.environ.get("ONRECORD_TEST_CORPUS", REPO.parent / "shared" / "corpus"))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pick_files(n: int) -> list[Path]:
    """A mix of every shape in the corpus, n files in all."""
    groups = [sorted(p for p in (CORPUS / g).rglob("*.txt")) for g in
              ("mfa-telegram-en", "europarl-en", "bundestag-de/speeches-19-146", "1tv-news-ru", "1tv-news-en-mt", "seed")]
    out, i = [], 0
    while len(out) < n and any(groups):
        g = groups[i % len(groups)]
        if g:
            out.append(g.pop(0))
        i += 1
    return out


def bench_pipeline(files: list[Path], settings_factory) -> dict:
    from index.chunk import chunk_document
    from index.embedder import load_embedder
    from index.indexer import run_index
    from index.ingest import parse_file

    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_factory(Path(tmp) / "index")
        t0 = time.perf_counter()
        embedder = load_embedder(settings)
        load_s = time.perf_counter() - t0
        # the bare model on exactly the passages the pipeline embeds
        texts = []
        for f in files:
            for doc in parse_file(f, languages=settings.languages):
                texts += [p.embed_text(doc) for p in chunk_document(doc, settings.passage_chars)]
        t0 = time.perf_counter()
        embedder.embed_passages(texts)
        bare_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        summary = run_index(files, settings, embedder=embedder, progress=False)
        pipe_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = run_index(files, settings, embedder=embedder, progress=False)
        noop_s = time.perf_counter() - t0
    return {
        "files": len(files),
        "documents": summary.documents,
        "passages": summary.passages,
        "model_load_s": round(load_s, 2),
        "bare_encode_s": round(bare_s, 2),
        "bare_passages_per_s": round(len(texts) / bare_s, 2),
        "pipeline_s": round(pipe_s, 2),
        "pipeline_passages_per_s": round(summary.passages / pipe_s, 2),
        "pipeline_over_bare_ratio": round(pipe_s / bare_s, 3),
        "unchanged_rerun_s": round(noop_s, 2),
        "unchanged_rerun_embedded": again.passages,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def bench_ask(index_dir: Path, settings_factory, n: int = 60) -> dict:
    from bot.answer import Engine

    questions = [json.loads(x)["question"] for x in (CORPUS.parent / "dev-questions.jsonl").read_text().splitlines() if x.strip()]
    engine = Engine.open(settings=settings_factory(index_dir))
    engine.warm_up()  # as a server does before serving
    times = []
    for i in range(n):
        q = questions[i % len(questions)]
        t0 = time.perf_counter()
        engine.ask(q)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "questions": n,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (n - 1))], 1),
        "max_ms": round(times[-1], 1),
        "index_passages": engine.passage_count(),
        "model": engine.embedder.name,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=40, help="corpus files to index for the throughput run")
    ap.add_argument("--index", type=Path, help="an index of the whole corpus for the ask latency (built if absent)")
    ap.add_argument("--out", type=Path, default=REPO / "bench-out" / "index.json")
    ap.add_argument("--ask-only", action="store_true", help="only the ask latency (needs --index)")
    ap.add_argument("--questions", type=int, default=60, help="questions timed for the ask latency")
    args = ap.parse_args(argv)
    from index.settings import Settings

    def settings_factory(index_dir: Path) -> Settings:
        return Settings(index=index_dir)

    if args.ask_only:
        if args.index is None or not (args.index / "CURRENT").exists():
            raise SystemExit("--ask-only needs --index DIR of a built index")
        result = {"ask": bench_ask(args.index, settings_factory, args.questions), "peak_rss_mb": round(peak_rss_mb(), 1)}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
        print(json.dumps(result, indent=1))
        return result
    result = {"pipeline": bench_pipeline(pick_files(args.files), settings_factory)}
    if args.index is None or not (args.index / "CURRENT").exists():
        from index.indexer import run_index

        args.index = args.index or Path(tempfile.mkdtemp()) / "corpus-index"
        t0 = time.perf_counter()
        s = run_index([CORPUS], settings_factory(args.index), progress=False)
        result["corpus_build"] = {"seconds": round(time.perf_counter() - t0, 1), "passages": s.total_passages}
    result["ask"] = bench_ask(args.index, settings_factory, args.questions)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    plot(result, args.out.with_suffix(".png"))
    print(json.dumps(result, indent=1))
    return result


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = result["pipeline"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.bar(["bare encode", "whole pipeline"], [p["bare_passages_per_s"], p["pipeline_passages_per_s"]], color=["#888", "#2a6"])
    a.set_ylabel("passages / s")
    a.set_title(f"indexing ({p['passages']} passages), ratio {p['pipeline_over_bare_ratio']}")
    ask = result["ask"]
    b.bar(["p50", "p95", "max"], [ask["p50_ms"], ask["p95_ms"], ask["max_ms"]], color="#26a")
    b.axhline(150, color="red", lw=1, ls="--")
    b.set_ylabel("ms")
    b.set_title("warm ask latency")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
