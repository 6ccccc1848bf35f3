"""Smoke test of `scripts/bench compare` (scripts/bench_compare.py): it runs on three small real files
and a few questions, and its JSON holds every figure for both systems. Not how fast."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO

# every phase in one process (--in-process): six processes loading torch and the model took minutes
pytestmark = pytest.mark.timeout(1800)

FILES = [
    "seed/000_7014e17accf97c28.txt",
    "mfa-telegram-en/2025-12-19_msg27755.txt",
    "mfa-telegram-en/2026-01-12_msg27978.txt",
]
ADD = "mfa-telegram-en/2026-01-26_msg28118.txt"


def _run(corpus, tmp_path, *extra):
    cmd = [sys.executable, str(REPO / "scripts" / "bench_compare.py"), "--files", *[str(corpus / f) for f in FILES],
           "--questions", "3", "--add-file", str(corpus / ADD), "--work", str(tmp_path / "work"),
           "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out" / "compare.json"), "--in-process",
           *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=dict(os.environ), timeout=3000)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((tmp_path / "out" / "compare.json").read_text()), proc.stdout


def test_compare_runs_and_reports_every_figure_for_both(corpus, tmp_path, embedder):
    from scripts.bench_compare import FIGURES, SYSTEMS

    result, out = _run(corpus, tmp_path)
    assert result["set"]["files"] == len(FILES) and result["questions"] == 3
    for system in SYSTEMS:
        figures = result["figures"][system]
        for key, *_ in FIGURES:
            assert isinstance(figures.get(key), (int, float)) and figures[key] > 0, (system, key)
        assert len(result["phases"]["query"][system]["latencies_ms"]) == 3
        assert result["from_cache"][system] == []  # the first run embeds everything
    # the same files: On Record cuts its passages, the baseline its 1000-character chunks
    assert result["figures"]["baseline"]["passages"] >= 12
    add = result["phases"]["add"]
    assert add["onrecord"]["passages_added"] > 0 and add["baseline"]["passages_added"] > 0
    assert add["baseline"]["total_passages"] > result["figures"]["baseline"]["passages"]
    for key in ("index_seconds", "p50_ms", "serve_peak_rss", "add_seconds"):
        assert key in result["ratios"]
    for suffix in (".md", ".png"):
        assert (tmp_path / "out" / f"compare{suffix}").stat().st_size > 0
    table = (tmp_path / "out" / "compare.md").read_text()
    assert "| warm latency p95 |" in table and "LangChain baseline" in table
    assert result["in_process"] and "--in-process" in table  # its memory figures are not reported as such

    # the passage vectors went into the cache, keyed by model fingerprint, system and text: the same
    # texts through the same cache come back from it (checked here in-process: a second index run
    # would load the model in two more processes)
    from scripts.bench_compare import CachedEmbedder, _byte_store_class, _namespace, markdown

    store = _byte_store_class()(tmp_path / "cache" / "embeddings.sqlite")
    texts = ["Zakharova said the loan was backed by EU budget funds.", "Lavrov spoke about a truce."]
    cached = CachedEmbedder(embedder, store, _namespace("onrecord") + "smoke:")
    first = cached.embed_passages(texts)
    assert (store.hits, store.misses) == (0, 2)
    again = cached.embed_passages(texts)
    assert (store.hits, store.misses) == (2, 2) and np.allclose(first, again)
    assert np.allclose(first, embedder.embed_passages(texts), atol=1e-5)
    result["from_cache"]["onrecord"] = ["index_seconds"]
    assert "(cached vectors: onrecord)" in markdown(result)  # figures from the cache say so


def test_a_small_ratio_also_reads_as_the_baseline_multiple():
    """"0.00x" said nothing about adding a transcript (1.5 s against a 404 s rebuild)."""
    sys.path.insert(0, str(REPO / "scripts"))
    from bench_compare import _ratio

    assert _ratio(1.50, 403.71) == "0.004x (1/269)"
    assert _ratio(108.0, 56.0) == "1.93x"
    assert _ratio(None, 3.0) == "-" and _ratio(1.0, 0) == "-"
