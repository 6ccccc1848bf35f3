#!/usr/bin/env python
"""Exact against approximate vector search at 10k, 100k and 1M passages: build seconds, bytes per
passage, single-query latency (k=60, as the engine asks) and recall@10 against exact search.

    .venv/bin/python scripts/bench_ann.py [--sizes 10000 100000 1000000] [--out bench-out/ann.json]
    scripts/bench ann [ARGS...]

Vectors: the real 384-d multilingual-e5-small passage vectors of an index (`--base`, default the
whole-corpus index in ../e5-index, read only: its vectors.faiss is copied first), each taken in turn
with Gaussian noise added (sigma `--sigma`, then re-normalised) under a new id, as many times as the
size asks (5,456 real vectors: 1M is 183 copies of each). The noise is set so that a copy's cosine to
its original is about the median cosine of a real passage to its nearest other passage (0.94), so
copies are new neighbours, not duplicates; the originals themselves are left out, so none is closer to
the questions for being unperturbed. The output says so. Queries: the dev questions embedded once with the same model
(`--questions`, cached in bench-out/ann-questions.npy).

recall@10 = |approximate top 10 ∩ exact top 10| / 10, averaged over the questions; exact = FAISS flat
inner product over the float32 vectors. Latency: one query at a time, one thread, p50/p95 over the
questions (twice over, after a warm-up). Filtered search (the speaker/metadata filter) is measured
on the chosen index with filters admitting 0.1%, 1% and 10% of the passages: the store's rule
(exact over the admitted ids up to ONRECORD_ANN_EXACT_FILTER, by default 2*sqrt(passages), else the
index with an IDSelector and a wider probe), and each way always, against exact filtered search. The load average is recorded beside every row: the
machine may be shared.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import faiss  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from index.store import ann  # noqa: E402

K = 60
SIGMA = 0.0185


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def base_vectors(base: Path, work: Path) -> np.ndarray:
    """The real vectors of an index folder (its current generation) or of a vectors.faiss file."""
    if base.is_dir():
        base = base / (base / "CURRENT").read_text().strip() / "vectors.faiss"
    local = work / "base.faiss"
    shutil.copyfile(base, local)  # never open the original
    idx = faiss.read_index(str(local))
    inner = faiss.downcast_index(idx.index) if hasattr(idx, "id_map") else idx
    x = inner.reconstruct_n(0, inner.ntotal)
    return np.ascontiguousarray(x, dtype=np.float32)


def question_vectors(path: Path) -> np.ndarray:
    cache = REPO / "bench-out" / "ann-questions.npy"
    if cache.exists():
        return np.load(cache)
    from index.embedder import load_embedder
    from index.settings import get_settings

    qs = [json.loads(line)["question"] for line in path.open(encoding="utf-8") if line.strip()]
    settings = get_settings().model_copy(update={"model": "multilingual-e5-small"})
    v = np.asarray(load_embedder(settings).embed_queries(qs), dtype=np.float32)
    cache.parent.mkdir(exist_ok=True)
    np.save(cache, v)
    return v


def grow(real: np.ndarray, n: int, sigma: float, seed: int = 0) -> np.ndarray:
    """`n` unit vectors, each a noisy re-normalised copy of a real one (the real ones in turn), so that
    no vector is closer to the questions for being unperturbed."""
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    rng = np.random.default_rng(seed)
    step = 100_000
    for s in range(0, n, step):
        e = min(n, s + step)
        src = real[np.arange(s, e) % len(real)]
        x = src + rng.standard_normal(src.shape, dtype=np.float32) * sigma
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[s:e] = x
    return out


def latencies(fn, queries: np.ndarray) -> tuple[float, float]:
    for q in queries[:10]:
        fn(q)
    ts = []
    for _ in range(2):
        for q in queries:
            t = time.perf_counter()
            fn(q)
            ts.append((time.perf_counter() - t) * 1000)
    return float(np.percentile(ts, 50)), float(np.percentile(ts, 95))


def recall(found: np.ndarray, truth: np.ndarray, at: int = 10) -> float:
    return float(np.mean([len(set(f[:at]) & set(t[:at])) / at for f, t in zip(found, truth)]))


def size_on_disk(index, work: Path) -> int:
    path = work / "probe.faiss"
    faiss.write_index(index, str(path))
    n = path.stat().st_size
    path.unlink()
    return n


def measure(name: str, index, params_list, xq, truth, n, build_s, work) -> list[dict]:
    """One row per search parameter tried (nprobe or efSearch)."""
    rows = []
    nbytes = size_on_disk(index, work)
    for label, params in params_list:
        _, found = index.search(xq, K, params=params)
        r10 = recall(found, truth)
        p50, p95 = latencies(lambda q: index.search(q.reshape(1, -1), K, params=params), xq)
        rows.append({"index": name, "size": n, "param": label, "build_s": round(build_s, 2),
                     "bytes_per_passage": round(nbytes / n, 1), "p50_ms": round(p50, 3), "p95_ms": round(p95, 3),
                     "recall_at_10": round(r10, 4), "load": load()})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def run_size(n: int, real: np.ndarray, xq: np.ndarray, args, work: Path) -> tuple[list[dict], dict]:
    xb = grow(real, n, args.sigma)
    ids = np.arange(n, dtype=np.int64) + 1
    rows = []
    faiss.omp_set_num_threads(args.threads)
    t = time.perf_counter()
    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(xb.shape[1]))
    flat.add_with_ids(xb, ids)
    build = time.perf_counter() - t
    _, truth = flat.search(xq, K)
    faiss.omp_set_num_threads(1)
    rows += measure("Flat (exact, today)", flat, [("-", None)], xq, truth, n, build, work)
    del flat

    nlist = ann.list_count(n)
    kept = None
    for name, spec in (("IVF,SQ8", "SQ8"), ("IVF,SQfp16", "SQfp16"), ("IVF,PQ48x8", "PQ48")):
        if name not in args.candidates or (spec.startswith("PQ") and n > args.pq_max):
            continue
        faiss.omp_set_num_threads(args.threads)
        t = time.perf_counter()
        index = ann.build_ivf(xb, ids, nlist=nlist, encoding=spec)
        build = time.perf_counter() - t
        faiss.omp_set_num_threads(1)
        probes = [p for p in (8, 16, 32, 64, 128, 256, 512) if p <= nlist // 2 or p == 8]
        rows += measure(f"{name} nlist={nlist}", index, [(f"nprobe={p}", faiss.SearchParametersIVF(nprobe=p))
                                                        for p in probes], xq, truth, n, build, work)
        if spec == "SQ8":
            kept = index  # the store's choice: its filtered search is measured on it
        del index
    for name, spec in (("HNSW32,Flat", "HNSW32"), ("HNSW32,SQ8", "HNSW32,SQ8"), ("HNSW32,SQfp16", "HNSW32,SQfp16")):
        if name not in args.candidates or n > args.hnsw_max:
            continue
        faiss.omp_set_num_threads(args.threads)
        t = time.perf_counter()
        inner = faiss.index_factory(xb.shape[1], spec, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = 40
        if not inner.is_trained:
            inner.train(xb[: min(n, 100_000)])
        index = faiss.IndexIDMap2(inner)
        index.add_with_ids(xb, ids)
        build = time.perf_counter() - t
        faiss.omp_set_num_threads(1)
        rows += measure(name, index, [(f"efSearch={e}", faiss.SearchParametersHNSW(efSearch=e)) for e in (64, 128, 256)],
                        xq, truth, n, build, work)
        del index, inner

    filtered = measure_filters(xb, ids, xq, kept, args) if n >= 100_000 and kept is not None else {}
    return rows, filtered


def measure_filters(xb, ids, xq, index, args) -> dict:
    """The chosen index with a filter admitting 0.1%, 1%, 10% of the passages: the store's search
    (ann.search) against exact filtered search."""
    rng = np.random.default_rng(1)
    xq = xq[:100]  # exact over 10% of 1M passages takes a while per question
    out = {}
    cfg = ann.AnnConfig(threshold=0, nprobe=args.nprobe, exact_filter=args.exact_filter)
    for share in (0.001, 0.01, 0.1):
        admitted = np.sort(rng.choice(ids, size=max(1, int(len(ids) * share)), replace=False))
        rows = xb[admitted - 1]
        truth = np.argsort(-(xq @ rows.T), axis=1)[:, :K]
        truth_ids = admitted[truth]
        res = {}
        for how, exact_filter in (("store rule", cfg.exact_filter), ("IDSelector always", 1),  # 1: never exact here
                                  ("exact over admitted always", 10**9)):
            c = ann.AnnConfig(threshold=0, nprobe=cfg.nprobe, exact_filter=exact_filter)
            found = [[i for i, _ in ann.search(index, q, K, admitted, c)] for q in xq]
            r10 = recall(found, truth_ids)
            bad = sum(1 for f in found for i in f if i not in set(admitted.tolist()))
            p50, p95 = latencies(lambda q: ann.search(index, q, K, admitted, c), xq)
            res[how] = {"recall_at_10": round(r10, 4), "p50_ms": round(p50, 3), "p95_ms": round(p95, 3),
                        "outside_filter": bad, "load": load()}
        out[f"{share:.1%} admitted ({len(admitted)})"] = res
        print(json.dumps({"filter": share, **res}), flush=True)
    return out


def plot(rows: list[dict], chosen: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for name, style in (("Flat (exact, today)", "o-"), (chosen["index"].split(" nlist")[0], "s-")):
        pts = sorted((r["size"], r) for r in rows if r["index"].startswith(name)
                     and (name.startswith("Flat") or r["param"] == chosen["param"]))
        if not pts:
            continue
        label = name if name.startswith("Flat") else f"{name}, {chosen['param']}"
        a1.plot([p[0] for p in pts], [p[1]["p50_ms"] for p in pts], style, label=label)
        a2.plot([p[0] for p in pts], [p[1]["recall_at_10"] for p in pts], style, label=label)
    for a in (a1, a2):
        a.set_xscale("log")
        a.set_xlabel("passages (noisy copies of 5,456 real e5-small vectors)")
        a.grid(alpha=0.3)
    a1.set_yscale("log")
    a1.set_ylabel("search p50, ms (k=60, one query, one thread)")
    a2.set_ylabel("recall@10 vs exact")
    a2.axhline(0.95, color="grey", ls="--", lw=1)
    a1.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--base", type=Path, default=REPO.parent / "e5-index")
    ap.add_argument("--questions", type=Path, default=REPO.parent / "shared" / "dev-questions.jsonl")
    ap.add_argument("--sigma", type=float, default=SIGMA)
    ap.add_argument("--candidates", nargs="+", default=["IVF,SQ8", "IVF,SQfp16", "IVF,PQ48x8", "HNSW32,Flat",
                                                        "HNSW32,SQ8"])
    ap.add_argument("--hnsw-max", type=int, default=100_000, help="HNSW builds only up to this size (slow here)")
    ap.add_argument("--pq-max", type=int, default=100_000, help="IVF-PQ only up to this size (slow to train here)")
    ap.add_argument("--threads", type=int, default=2, help="threads for building and the exact ground truth")
    ap.add_argument("--nprobe", type=int, default=ann.DEFAULT_NPROBE)
    ap.add_argument("--exact-filter", type=int, default=ann.DEFAULT_EXACT_FILTER)
    ap.add_argument("--out", type=Path, default=REPO / "bench-out" / "ann.json")
    args = ap.parse_args()
    args.out.parent.mkdir(exist_ok=True)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="onrecord-ann-") as tmp:
        work = Path(tmp)
        real = base_vectors(args.base, work)
        xq = question_vectors(args.questions)
        rows, filters = [], {}
        for n in args.sizes:
            r, f = run_size(n, real, xq, args, work)
            rows += r
            if f:
                filters[str(n)] = f
            write(args, rows, filters, real, xq, started, done=n == args.sizes[-1])  # each size as it ends


def write(args, rows: list[dict], filters: dict, real: np.ndarray, xq: np.ndarray, started: float,
          done: bool = True) -> None:
    ok = [r for r in rows if not r["index"].startswith("Flat") and r["recall_at_10"] >= 0.95]
    chosen = next((r for r in ok if r["index"].startswith("IVF,SQ8") and r["param"] == f"nprobe={args.nprobe}"),
                  {"index": "IVF,SQ8", "param": f"nprobe={args.nprobe}"})
    out = {
        "what": "exact vs approximate vector search, recall@10 against exact",
        "vectors": f"perturbed real vectors: noisy copies (Gaussian sigma={args.sigma}, re-normalised, new ids) of "
                   f"the {len(real)} real multilingual-e5-small passage vectors (384-d) of the whole corpus, "
                   f"taken in turn; not embedded passages",
        "queries": f"{len(xq)} dev questions embedded with multilingual-e5-small",
        "k": K, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1), "machine": f"{os.cpu_count()} cores, {platform.machine()}",
        "faiss": faiss.__version__, "complete": done, "rows": rows, "filtered": filters,
        "store_settings": {"nprobe": args.nprobe, "exact_filter": args.exact_filter},
    }
    args.out.write_text(json.dumps(out, indent=1))
    plot(rows, chosen, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
