"""The optional cross-encoder reranker: wired in as one more feature of the learnt ranker, read only by a
calibration fitted with it, never letting anything but verbatim slices out. The CrossEncoder here is a
small one built in the test (random weights, the shipped model's tokenizer): it shows the wiring, not
what a trained reranker buys."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bot.answer.features import FEATURES
from bot.answer.learnt import LearntRanker, RankerParams, calibration_file
from bot.quality.crossval import candidate_table, fit_on, load_items
from index.errors import ModelError

IDS = {"d001", "d007", "d017", "d024"}


@pytest.fixture(scope="module")
def cross_encoder_folder(tmp_path_factory):
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaForSequenceClassification

    from tests.conftest import _PREPARED_MODEL

    folder = tmp_path_factory.mktemp("cross-encoder")
    tokenizer = AutoTokenizer.from_pretrained(_PREPARED_MODEL)  # the shipped model's own tokenizer
    config = XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=32, max_position_embeddings=514, num_labels=1)
    import torch

    torch.manual_seed(7)
    XLMRobertaForSequenceClassification(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def items(corpus):
    every = load_items(corpus.parent / "dev-questions.jsonl")
    return [it for it in every if it["id"] in IDS] + [it for it in every if it["kind"] == "unanswerable"][:2]


@pytest.fixture(scope="module")
def reranked_engine(small_index, settings_for, embedder, cross_encoder_folder, tmp_path_factory):
    from bot.answer import Engine

    base = settings_for(small_index)
    home = tmp_path_factory.mktemp("rerank-home")
    settings = base.model_copy(update={"home": home, "answers": base.answers.model_copy(
        update={"reranker": cross_encoder_folder, "reranker_candidates": 5})})
    eng = Engine.open(settings=settings, embedder=embedder)
    yield eng
    eng.close()


def test_the_cross_encoder_scores_the_best_candidates_as_one_more_feature(reranked_engine, engine, items, corpus):
    col = FEATURES.index("cross_encoder")
    x, y, q, _ = candidate_table(reranked_engine, items, corpus)
    for qi in set(q.tolist()):
        scores = x[q == qi, col]
        assert 0 < np.count_nonzero(scores) <= 5  # the five best candidates only
        assert ((scores >= 0) & (scores <= 1)).all()  # a one-label CrossEncoder's sigmoid
    off, *_ = candidate_table(engine, items, corpus)  # no reranker set: the column is 0
    assert not off[:, col].any()
    # the same candidates either way: the reranker adds a feature, it does not change retrieval
    assert np.array_equal(np.delete(off, col, axis=1), np.delete(x, col, axis=1))


def test_a_calibration_fitted_with_it_reads_it_and_quotes_stay_slices(reranked_engine, items, corpus, tmp_path):
    table = candidate_table(reranked_engine, items, corpus)
    params = fit_on(table, set(range(len(items))), reranked_engine.embedder.name, reranked_engine.reranker)
    assert params.features[-1] == "cross_encoder" and len(params.coef) == len(params.features)
    path = calibration_file(reranked_engine.embedder.name, tmp_path)
    params.save(path)
    ranker = LearntRanker(RankerParams.load(path), reranked_engine.tuning, reranked_engine.vectors,
                          reranked_engine.settings.languages, reranked_engine.reranker)
    assert ranker.reranker is reranked_engine.reranker
    before = reranked_engine.ranker
    try:
        reranked_engine.ranker = ranker
        answer = reranked_engine.ask("What did Zakharova say about the EU loan to Kiev?")
        assert answer.quotes
        for quote in answer.quotes:
            assert open(quote.source, encoding="utf-8").read()[quote.start : quote.end] == quote.text
    finally:
        reranked_engine.ranker = before


def test_a_calibration_that_needs_the_reranker_is_not_used_without_it(small_index, settings_for, embedder,
                                                                      reranked_engine, items, corpus, tmp_path, caplog):
    from bot.answer import Engine

    table = candidate_table(reranked_engine, items, corpus)
    fit_on(table, set(range(len(items))), embedder.name, reranked_engine.reranker).save(
        calibration_file(embedder.name, tmp_path / "calibration"))
    settings = settings_for(small_index).model_copy(update={"home": tmp_path})
    eng = Engine.open(settings=settings, embedder=embedder)  # ONRECORD_ANSWER_RERANKER unset
    try:
        assert "ONRECORD_ANSWER_RERANKER is unset" in caplog.text
        assert not isinstance(eng.ranker, LearntRanker) or "cross_encoder" not in eng.ranker.params.features
    finally:
        eng.close()


def test_a_reranker_setting_that_is_not_a_cross_encoder_says_so(small_index, settings_for, embedder, tmp_path):
    from bot.answer import Engine

    base = settings_for(small_index)
    for bad in (tmp_path / "missing", tmp_path):
        settings = base.model_copy(update={"answers": base.answers.model_copy(update={"reranker": bad})})
        with pytest.raises(ModelError, match="ONRECORD_ANSWER_RERANKER"):
            Engine.open(settings=settings, embedder=embedder)
    (tmp_path / "config.json").write_text(json.dumps({"not": "a model"}))
    settings = base.model_copy(update={"answers": base.answers.model_copy(update={"reranker": tmp_path})})
    with pytest.raises(ModelError, match="could not be loaded"):
        Engine.open(settings=settings, embedder=embedder)
