#!/usr/bin/env python
"""Benchmark bulk indexing on Ray: passages per second with 1 and 2 embedding workers (actors, one
model and one CPU each) on a local Ray cluster, beside the local path with one thread, on the same
sample of the Europarl scale set.

    .venv/bin/python scripts/bench_ray.py [--kb 120] [--workers 1 2] [--cpus 2] [--out bench-out/ray.json]
    scripts/bench ray [ARGS...]

Each row is a whole `run_index` into a fresh SQLite index (parse, chunk, embed, store, commit):
`rate` = passages / the run's seconds. Starting the actors (a model load in each fresh worker) is
timed apart (`start_seconds`), as on a cluster it is paid once per run, not per passage. The load
average is recorded before and after each row: on a shared machine the wall-clock rates move with
it. Two load-independent figures come with them: each actor's texts per CPU-second it spent
embedding (what one worker does on a core of its own), and the driver's passages per CPU-second
(discovery, parsing, chunking, SQLite writes, handing over: the ceiling one driver sets).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def extract_sample(tar_path: Path, dest: Path, kb: int) -> list[Path]:
    """Transcripts of the tarball in name order until `kb` kilobytes, flattened into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    out, total = [], 0
    with tarfile.open(tar_path, "r:gz") as tar:
        members = sorted((m for m in tar if m.isfile() and m.name.endswith(".txt")), key=lambda m: m.name)
        for m in members:
            if total >= kb * 1024:
                break
            target = dest / Path(m.name).name  # never a path from the archive
            with tar.extractfile(m) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            out.append(target)
            total += m.size
    return out


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def row(kind: str, workers: int, summary, start_seconds: float, load_before, extra: dict | None = None) -> dict:
    r = {
        "kind": kind,
        "workers": workers,
        "passages": summary.passages,
        "documents": summary.documents,
        "seconds": round(summary.seconds, 2),
        "rate": round(summary.passages / summary.seconds, 2),
        "start_seconds": round(start_seconds, 2),
        "loadavg_before": load_before,
        "loadavg_after": load(),
        **(extra or {}),
    }
    print(json.dumps(r), flush=True)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=Path, default=SHARED / "scale" / "europarl-en-2004-2011.tar.gz")
    ap.add_argument("--kb", type=int, default=120, help="kilobytes of transcripts (about 2.6 passages per KB)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    ap.add_argument("--no-local", action="store_true", help="skip the local one-thread row")
    ap.add_argument("--out", type=Path, default=REPO / "bench-out" / "ray.json")
    args = ap.parse_args()

    import ray

    from index import models
    from index.embedder import SentenceTransformerEmbedder
    from index.indexer import run_index
    from index.ray_index import RayEmbedder
    from index.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="onrecord-bench-ray-"))
    try:
        files = extract_sample(args.scale, work / "files", args.kb)
        model = models.resolve(Settings()).ref  # ONRECORD_MODEL (a shipped name or a folder), or the default

        def settings(name: str) -> Settings:
            return Settings(home=work / "home", index=work / name / "index", model=model)

        rows = []
        if not args.no_local:
            before = load()
            t0 = time.perf_counter()
            emb = SentenceTransformerEmbedder(model, precision="auto", threads=1)
            start = time.perf_counter() - t0
            cpu0 = time.process_time()
            s = run_index([work / "files"], settings("local"), embedder=emb, progress=False)
            cpu = time.process_time() - cpu0
            rows.append(row("local", 1, s, start, before, {
                "threads": 1, "cpu_seconds": round(cpu, 2),
                "passages_per_cpu_second": round(s.passages / max(cpu, 1e-9), 2)}))
            del emb
        ray.init(num_cpus=args.cpus, include_dashboard=False, object_store_memory=200 * 2**20,
                 logging_level="WARNING")
        try:
            for w in args.workers:
                before = load()
                t0 = time.perf_counter()
                emb = RayEmbedder(settings(f"ray{w}"), workers=w)
                start = time.perf_counter() - t0
                try:
                    cpu0 = time.process_time()
                    s = run_index([work / "files"], settings(f"ray{w}"), embedder=emb, progress=False)
                    driver_cpu = time.process_time() - cpu0
                    stats = emb.stats()
                finally:
                    emb.close()
                rows.append(row("ray", w, s, start, before, {
                    "worker_cpus": 1,
                    # what a worker does per second of CPU it gets (load-independent, one thread each)
                    "actors": [{**a, "texts_per_cpu_second": round(a["texts"] / max(a["cpu_seconds"], 1e-9), 2)}
                               for a in stats],
                    # the driver alone (discover, hash, parse, chunk, write SQLite, hand over, commit):
                    # the ceiling one driver puts on any number of workers
                    "driver_cpu_seconds": round(driver_cpu, 2),
                    "driver_passages_per_cpu_second": round(s.passages / max(driver_cpu, 1e-9), 1),
                }))
        finally:
            ray.shutdown()
        by = {(r["kind"], r["workers"]): r["rate"] for r in rows}
        result = {
            "what": "bulk indexing with embedding on Ray actors (index/ray_index.py) vs the local path",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                        "ray": ray.__version__},
            "sample": {"files": len(files), "kb": args.kb, "source": str(args.scale)},
            "model": model,
            "cluster_cpus": args.cpus,
            "rows": rows,
            "speedup_2_vs_1": round(by[("ray", 2)] / by[("ray", 1)], 2) if ("ray", 1) in by and ("ray", 2) in by else None,
            "note": "the machine is shared with other jobs: see loadavg_before/after; rates move with the load",
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
