"""Shared fixtures: the real corpus, the real model, real indexes built once per session.

Every test gets its own ONRECORD_HOME (so nothing touches the user's data folder); the embedding
model is the fast shipped one (multilingual-e5-small, always prepared by `scripts/setup`) whatever the
default is, so the suite's time does not depend on it; ONRECORD_TEST_MODEL names another (a shipped
name or a folder).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from index import models
from index.embedder import SentenceTransformerEmbedder
from index.settings import Settings, get_settings

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("ONRECORD_TEST_CORPUS", REPO.parent / "shared" / "corpus"))
DEV_QUESTIONS = CORPUS.parent / "dev-questions.jsonl"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
_TEST_MODEL = os.environ.get("ONRECORD_TEST_MODEL", models.FAST_MODEL)
_PREPARED_MODEL = str(models.folder(Settings(), _TEST_MODEL)) if _TEST_MODEL in models.SHIPPED else _TEST_MODEL

# Small real subsets, for tests that need a real index but not the whole corpus.
SMALL_SET = [
    "seed",
    "mfa-telegram-en/2025-12-19_msg27755.txt",
    "mfa-telegram-en/2026-01-12_msg27978.txt",
    "mfa-telegram-en/2026-01-26_msg28118.txt",
    "europarl-en/ep-2007-03-13-ch002-00.txt",
    "bundestag-de/speeches-19-146/ID1914605500.txt",
    "1tv-news-ru/2026-01-01_530156.txt",
    "1tv-news-en-mt/2026-01-01_530156.txt",
]


WHOLE_CORPUS_TESTS = "tests/test_eval.py"  # every test that needs the whole corpus indexed


def pytest_collection_modifyitems(config, items):
    """The whole-corpus module first: its index takes minutes to build, and with two pytest-xdist
    workers one builds it while the other runs the rest (the order within each module is kept)."""
    items.sort(key=lambda item: item.nodeid.split("::")[0] != WHOLE_CORPUS_TESTS)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"the test corpus is missing at {CORPUS} (set ONRECORD_TEST_CORPUS)")
    return CORPUS


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Each test gets its own data folder; the prepared model is shared."""
    home = tmp_path / "onrecord-home"
    monkeypatch.setenv("ONRECORD_HOME", str(home))
    monkeypatch.setenv("ONRECORD_MODEL", _PREPARED_MODEL)
    monkeypatch.delenv("ONRECORD_INDEX", raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def embedder():
    return SentenceTransformerEmbedder(_PREPARED_MODEL, precision="auto")  # as in production: bf16 where native


def _settings(index_dir: Path) -> Settings:
    return Settings(home=index_dir.parent, index=index_dir, model=_PREPARED_MODEL)


@pytest.fixture(scope="session")
def settings_for():
    return _settings


@pytest.fixture(scope="session")
def small_index(tmp_path_factory, corpus, embedder) -> Path:
    """A real index of a few real files (seed en+sv, MFA posts, Europarl, Bundestag, a ru/en pair)."""
    from index.indexer import run_index

    index_dir = tmp_path_factory.mktemp("small") / "index"
    run_index([corpus / p for p in SMALL_SET], _settings(index_dir), embedder=embedder, progress=False)
    return index_dir


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory, corpus, embedder) -> Path:
    """A real index of the whole ../shared/corpus, built once per session: with several pytest-xdist
    workers, the first one to need it builds it (the others wait for it) and all read it."""
    from filelock import FileLock

    from index.indexer import run_index

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the session's workers
    index_dir = root / "whole-corpus" / "index"
    with FileLock(str(root / "whole-corpus.lock")):
        if not (index_dir / "CURRENT").exists():
            # without stored sentence vectors, to keep the suite's time: sentences are then embedded when
            # first quoted, the same vectors at the same precision (tests/test_index.py checks the answers
            # are the same either way), so the whole-corpus eval measures what users get
            run_index([corpus], _settings(index_dir).model_copy(update={"sentence_vectors": False}),
                      embedder=embedder, progress=False)
    return index_dir


@pytest.fixture
def index_copy(tmp_path, small_index) -> Path:
    """A private copy of the small index, for tests that change it."""
    dst = tmp_path / "index-copy"
    shutil.copytree(small_index, dst, ignore=shutil.ignore_patterns("writer.lock"))
    return dst


@pytest.fixture(scope="session")
def engine(small_index, embedder):
    """A real answering engine (bot.answer.types.Answerer) over the small real index."""
    from bot.answer import Engine

    eng = Engine.open(settings=_settings(small_index), embedder=embedder)
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def corpus_engine(corpus_index, embedder):
    from bot.answer import Engine

    eng = Engine.open(settings=_settings(corpus_index), embedder=embedder)
    yield eng
    eng.close()
