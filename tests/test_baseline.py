"""The LangChain baseline (bot/quality/baseline.py): real langchain classes, the real model, real FAISS,
on a small real subset of the corpus."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.quality.baseline import CHUNK_SIZE, STORE_FILES, BaselineStore, load_embeddings, model_ref, read_text
from bot.quality.evaluate import evaluate, evaluate_baseline

# the seed and three MFA posts (a part of conftest's SMALL_SET)
SUBSET = [
    "seed/000_7014e17accf97c28.txt",
    "mfa-telegram-en/2025-12-19_msg27755.txt",
    "mfa-telegram-en/2026-01-12_msg27978.txt",
    "mfa-telegram-en/2026-01-26_msg28118.txt",
]
# dev questions whose gold lies in SUBSET: semantic (en), same statement (sv), quote lookup (en)
DEV_IDS = ["d001", "d018", "d025"]
TRUCE = "We will not be satisfied with a truce."


@pytest.fixture(scope="module")
def base_settings(tmp_path_factory, settings_for):
    return settings_for(tmp_path_factory.mktemp("baseline-home") / "index")


@pytest.fixture(scope="module")
def lc_embeddings(base_settings):
    return load_embeddings(model_ref(base_settings))


@pytest.fixture(scope="module")
def subset_dir(tmp_path_factory, corpus) -> Path:
    """A private copy of the subset (the cache tests change a file)."""
    dst = tmp_path_factory.mktemp("subset")
    for rel in SUBSET:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus / rel, dst / rel)
    return dst


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("baseline-cache")


@pytest.fixture(scope="module")
def built(subset_dir, base_settings, lc_embeddings, cache_dir) -> BaselineStore:
    return BaselineStore.build([subset_dir], settings=base_settings, cache_dir=cache_dir, embeddings=lc_embeddings)


def test_model_is_on_records_with_its_prompts(base_settings):
    from index.embedder import model_info

    ref = model_ref(base_settings)
    assert ref.path == model_info(base_settings)["path"]
    assert ref.query_prompt == "query" and ref.passage_prompt in ("passage", "document")
    if "e5" in ref.name:
        assert ref.prompts == {"query": "query: ", ref.passage_prompt: "passage: "}


def test_chunks_are_exact_slices_at_their_start_index(built, subset_dir):
    assert not built.info.from_cache
    assert built.info.files == len(SUBSET)
    docs = list(built.store.docstore._dict.values())
    assert len(docs) == built.chunk_count() > len(SUBSET)
    texts = {str(p.resolve()): read_text(p) for p in subset_dir.rglob("*.txt")}
    assert {d.metadata["source"] for d in docs} == set(texts)
    for d in docs:
        start = d.metadata["start_index"]
        assert 0 < len(d.page_content) <= CHUNK_SIZE
        assert texts[d.metadata["source"]][start : start + len(d.page_content)] == d.page_content


def test_ceasefire_question_finds_the_seed_passage(built, subset_dir):
    quotes = built.search("Will Russia accept a ceasefire?")
    assert len(quotes) == 3
    seed = str((subset_dir / SUBSET[0]).resolve())
    top = quotes[0]
    assert top["source"] == seed and TRUCE in top["text"]
    text = read_text(Path(seed))
    at = text.index(TRUCE)
    assert top["start"] <= at and at + len(TRUCE) <= top["end"]
    assert text[top["start"] : top["end"]] == top["text"]
    assert top["language"] == "en"
    answer = built.ask("Will Russia accept a ceasefire?").to_json()
    assert answer["found"] is True and answer["language"] == "en" and answer["quotes"] == quotes


def test_cache_is_used_then_rebuilt_when_a_file_changes(built, subset_dir, base_settings, lc_embeddings, cache_dir):
    question = "What did Zakharova say about the EU loan to Kiev?"
    again = BaselineStore.build([subset_dir], settings=base_settings, cache_dir=cache_dir, embeddings=lc_embeddings)
    assert again.info.from_cache and again.info.key == built.info.key
    assert again.chunk_count() == built.chunk_count()
    assert again.search(question) == built.search(question)

    post = subset_dir / SUBSET[1]
    post.write_text(read_text(post) + "\nAn added closing line.\n", encoding="utf-8")
    changed = BaselineStore.build([subset_dir], settings=base_settings, cache_dir=cache_dir, embeddings=lc_embeddings)
    assert not changed.info.from_cache and changed.info.key != built.info.key
    assert any("An added closing line." in d.page_content for d in changed.store.docstore._dict.values())

    # a stored file that is not what the cache wrote is never unpickled: the store is rebuilt
    pkl = cache_dir / changed.info.key / STORE_FILES[1]
    pkl.write_bytes(pkl.read_bytes() + b"\0")
    rebuilt = BaselineStore.build([subset_dir], settings=base_settings, cache_dir=cache_dir, embeddings=lc_embeddings)
    assert not rebuilt.info.from_cache and rebuilt.chunk_count() == changed.chunk_count()
    record = json.loads((cache_dir / changed.info.key / "onrecord-baseline.json").read_text())
    assert record["chunks"] == rebuilt.chunk_count()


def test_evaluate_gives_rows_for_both_systems(engine, corpus, base_settings, tmp_path):
    from tests.conftest import DEV_QUESTIONS

    items = {json.loads(line)["id"]: json.loads(line) for line in DEV_QUESTIONS.read_text().splitlines() if line.strip()}
    chosen = [items[i] for i in DEV_IDS]
    ours = evaluate(engine, chosen, corpus)
    base = evaluate_baseline(chosen, corpus, settings=base_settings, cache_dir=tmp_path / "cache",
                             paths=[corpus / p for p in SUBSET])
    assert [r["id"] for r in ours["rows"]] == [r["id"] for r in base["rows"]] == DEV_IDS
    for rows in (ours["rows"], base["rows"]):
        for r in rows:
            assert {"rank", "doc_hit3", "chars3", "lang_match"} <= set(r)
            assert all(r["verbatim"])
    for r in base["rows"]:
        assert r["found"] and r["n_quotes"] == 3 and r["chars3"] > 0
        assert r["doc_hit3"]  # four files only: the gold's file is among the three chunks
    for groups in (ours["groups"], base["groups"]):
        assert {"all", "answerable", "semantic", "semantic/en", "same_statement_sv/sv", "quote_lookup/en"} <= set(groups)
        for key in ("hit@1", "hit@3", "doc_hit@3", "mrr", "language_match", "chars_top3"):
            assert key in groups["answerable"]
    assert base["groups"]["answerable"]["doc_hit@3"] == 1.0
    assert base["groups"]["answerable"]["chars_top3"] > ours["groups"]["answerable"]["chars_top3"]
    assert base["build"]["files"] == len(SUBSET) and not base["build"]["from_cache"]
