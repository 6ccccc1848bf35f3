"""Smoke test of `scripts/bench compare` (scripts/bench_compare.py): it runs on three small real files
and a few questions, and its JSON holds every figure for both systems. Not how fast."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

# eight processes each load the model: minutes on a quiet machine, far more on a shared one
pytestmark = pytest.mark.timeout(3600)

FILES = [
    "seed/000_7014e17accf97c28.txt",
    "mfa-telegram-en/2025-12-19_msg27755.txt",
    "mfa-telegram-en/2026-01-12_msg27978.txt",
]
ADD = "mfa-telegram-en/2026-01-26_msg28118.txt"


def _run(corpus, tmp_path, *extra):
    cmd = [sys.executable, str(REPO / "scripts" / "bench_compare.py"), "--files", *[str(corpus / f) for f in FILES],
           "--questions", "3", "--add-file", str(corpus / ADD), "--work", str(tmp_path / "work"),
           "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out" / "compare.json"), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=dict(os.environ), timeout=3000)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((tmp_path / "out" / "compare.json").read_text()), proc.stdout


def test_compare_runs_and_reports_every_figure_for_both(corpus, tmp_path):
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

    # a second run of the index part takes the passage vectors from the cache, and says so
    again, out = _run(corpus, tmp_path, "--only", "index")
    for system in SYSTEMS:
        assert "index_seconds" in again["from_cache"][system]
        assert again["phases"]["index"][system]["cache_misses"] == 0
        assert again["figures"][system]["passages"] == result["figures"][system]["passages"]
    assert "p50_ms" in again["figures"]["onrecord"]  # parts run separately add up for the same files
    assert "cached vectors" in (tmp_path / "out" / "compare.md").read_text()
