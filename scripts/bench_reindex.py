#!/usr/bin/env python
"""Benchmark live re-indexing.

(1) Adding one transcript to an index built from ../shared/corpus plus N files of the Europarl scale
    set, against a full rebuild of the same set (times and their ratio).
(2) The time from a transcript landing in a watched folder (index.watch.Watcher, sharing the
    engine's model as `onrecord serve --watch` does) to the running Engine quoting from it.

    .venv/bin/python scripts/bench_reindex.py [--scale-files 150] [--trials 3] [--out bench-out/reindex.json]

Writes JSON (--out) and a PNG plot beside it. Embedding runs at roughly 15-30 passages/s on two
cores, so the full rebuild dominates: budget a few minutes per 1000 passages.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def extract_scale(tar_path: Path, dest: Path, n: int) -> list[Path]:
    """The first `n` transcripts of the tarball (sorted by name), flattened into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    with tarfile.open(tar_path, "r:gz") as tar:
        members = sorted((m for m in tar if m.isfile() and m.name.endswith(".txt")), key=lambda m: m.name)
        for m in members[:n]:
            target = dest / Path(m.name).name  # never a path from the archive
            with tar.extractfile(m) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            out.append(target)
    return out


def longest_line(path: Path) -> str:
    line = max(path.read_text(encoding="utf-8").splitlines(), key=lambda s: len(s.strip()))
    return line.strip()[:120]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    ap.add_argument("--scale", type=Path, default=SHARED / "scale" / "europarl-en-2004-2011.tar.gz")
    ap.add_argument("--scale-files", type=int, default=150, help="Europarl files added to the corpus")
    ap.add_argument("--trials", type=int, default=3, help="files dropped into the watched folder, one at a time")
    ap.add_argument("--debounce", type=float, default=2.0, help="the watcher's quiet period (s)")
    ap.add_argument("--out", type=Path, default=REPO / "bench-out" / "reindex.json")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args()

    from bot.answer import Engine
    from index.embedder import load_embedder
    from index.indexer import run_index
    from index.settings import get_settings
    from index.store import open_current
    from index.watch import Watcher

    work = args.work or Path(tempfile.mkdtemp(prefix="onrecord-bench-reindex-"))
    work.mkdir(parents=True, exist_ok=True)
    base = get_settings()
    extra = 1 + args.trials
    scale_all = extract_scale(args.scale, work / "extracted", args.scale_files + extra)
    scale_dir = work / "scale"
    scale_dir.mkdir(exist_ok=True)
    for p in scale_all[: args.scale_files]:
        shutil.copyfile(p, scale_dir / p.name)
    spare = scale_all[args.scale_files:]
    one_more = spare[0]
    settings_full = base.model_copy(update={"index": work / "index-full"})
    settings_inc = base.model_copy(update={"index": work / "index-inc"})
    for s in (settings_full, settings_inc):
        shutil.rmtree(s.index_dir, ignore_errors=True)

    t = time.perf_counter()
    embedder = load_embedder(base)
    load_s = time.perf_counter() - t
    print(f"model loaded in {load_s:.1f} s; set: corpus + {args.scale_files} Europarl files", flush=True)

    # (1a) full rebuild of the whole set (corpus + scale + the one more transcript)
    added = scale_dir / one_more.name
    shutil.copyfile(one_more, added)
    full = run_index([args.corpus, scale_dir], settings_full, embedder=embedder, progress=False)
    print(f"full rebuild: {full.line()}", flush=True)

    # (1b) the same index without that transcript (a cheap prune of a copy), then adding it back
    shutil.copytree(settings_full.index_dir, settings_inc.index_dir, ignore=shutil.ignore_patterns("writer.lock"))
    added.unlink()
    run_index([scale_dir], settings_inc, embedder=embedder, progress=False, prune=True)
    shutil.copyfile(one_more, added)
    inc = run_index([args.corpus, scale_dir], settings_inc, embedder=embedder, progress=False)
    print(f"add one: {inc.line()}", flush=True)
    # the watcher's way: only the changed path is examined
    added.unlink()
    run_index([scale_dir], settings_inc, embedder=embedder, progress=False, prune=True)
    shutil.copyfile(one_more, added)
    add_dir_only = run_index([added], settings_inc, embedder=embedder, progress=False)
    print(f"add one (changed path only): {add_dir_only.line()}", flush=True)

    # (2) file lands in a watched folder → the running engine quotes it
    engine = Engine.open(settings=settings_inc, embedder=embedder)
    summaries = []
    watcher = Watcher.for_engine([scale_dir], engine, debounce=args.debounce, on_summary=summaries.append)
    watcher.start()
    watcher.ready.wait(600)
    latencies, index_s = [], []
    for path in spare[1:]:
        line = longest_line(path)
        target = scale_dir / path.name
        n = len(summaries)
        t0 = time.perf_counter()
        shutil.copyfile(path, target)
        while not any(q.source == str(target) for q in engine.quote(line).quotes):
            if time.perf_counter() - t0 > 600:
                raise SystemExit(f"{path.name} was never answered from")
            time.sleep(0.05)
        latencies.append(time.perf_counter() - t0)
        index_s.append(sum(s.seconds for s in summaries[n:]))
        print(f"watched: {path.name} answered after {latencies[-1]:.2f} s "
              f"(debounce {args.debounce} s, update {index_s[-1]:.2f} s)", flush=True)
    watcher.stop()
    gen = open_current(settings_inc.index_dir)
    counts = gen.counts()
    gen.close()
    engine.close()

    result = {
        "set": {"corpus": str(args.corpus), "scale_files": args.scale_files, "files": full.files_seen,
                "documents": full.total_documents, "passages": full.total_passages},
        "model_load_s": round(load_s, 2),
        "full_rebuild_s": round(full.seconds, 2),
        "full_rebuild_passages_per_s": round(full.total_passages / full.seconds, 1),
        "add_one": {"file": one_more.name, "passages": inc.passages, "seconds": round(inc.seconds, 2),
                    "files_hashed": inc.files_seen},
        "add_one_changed_path_only_s": round(add_dir_only.seconds, 2),
        "ratio_full_to_add_one": round(full.seconds / inc.seconds, 1),
        "ratio_full_to_add_one_changed_path_only": round(full.seconds / add_dir_only.seconds, 1),
        "watch": {"debounce_s": args.debounce, "latencies_s": [round(x, 2) for x in latencies],
                  "median_s": round(statistics.median(latencies), 2) if latencies else None,
                  "update_s": [round(x, 2) for x in index_s]},
        "final_index": counts,
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
                    "python": platform.python_version()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    plot(result, args.out.with_suffix(".png"))
    print(json.dumps(result, indent=2))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    labels = ["full rebuild", "add one\n(rescan set)", "add one\n(changed path)"]
    values = [result["full_rebuild_s"], result["add_one"]["seconds"], result["add_one_changed_path_only_s"]]
    bars = a.bar(labels, values, color=["#888", "#3a7", "#2a5"])
    a.set_yscale("log")
    a.set_ylabel("seconds (log)")
    a.set_title(f"{result['set']['passages']} passages; full/add-one = {result['ratio_full_to_add_one']}×")
    for bar, v in zip(bars, values):
        a.annotate(f"{v:.1f} s", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom")
    lat = result["watch"]["latencies_s"]
    b.bar([f"file {i + 1}" for i in range(len(lat))], lat, color="#37a")
    b.axhline(result["watch"]["debounce_s"], color="k", ls="--", lw=1, label="debounce")
    b.set_ylabel("seconds")
    b.set_title("file lands in watched folder → engine quotes it")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
