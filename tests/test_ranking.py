"""The ranking stage is one replaceable part: the hand-set rules and a learnt ranker fitted on real
dev questions plug into the same engine, and cross-validation never lets a statement sit on both
sides of a fold."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bot.answer.features import FEATURES
from bot.answer.learnt import CANDIDATE_FEATURES, LearntRanker, RankerParams, calibration_file
from bot.answer.rank import Ranker, RuleRanker
from bot.quality.crossval import candidate_table, fit_on, folds_of, load_items

IDS = {"d001", "d007", "d017", "d018", "d024", "d025"}


@pytest.fixture(scope="module")
def items(corpus):
    every = load_items(corpus.parent / "dev-questions.jsonl")
    unanswerable = [it for it in every if it["kind"] == "unanswerable"][:3]
    return [it for it in every if it["id"] in IDS] + unanswerable


def test_folds_keep_one_statement_on_one_side(corpus):
    every = load_items(corpus.parent / "dev-questions.jsonl")
    folds = folds_of(every, 5)
    by_source: dict[str, set[int]] = {}
    for it, f in zip(every, folds):
        for g in it.get("gold") or []:
            by_source.setdefault(g["source"], set()).add(f)
    assert by_source and all(len(fs) == 1 for fs in by_source.values() if fs)
    sizes = np.bincount(folds, minlength=5)
    assert sizes.min() >= len(every) // 5 - 15  # balanced enough to test on


def test_candidates_are_labelled_from_the_gold_quotes(engine, items, corpus):
    x, y, q, answerable = candidate_table(engine, items, corpus)
    assert x.shape == (len(y), len(FEATURES)) and np.isfinite(x).all()
    by_id = {it["id"]: i for i, it in enumerate(items)}
    # the EU-loan question's gold sentence is in one of its candidates; unanswerable ones have none
    assert y[q == by_id["d001"]].sum() >= 1
    for it in items:
        if it["kind"] == "unanswerable":
            assert y[q == by_id[it["id"]]].sum() == 0 and answerable[by_id[it["id"]]] is False


def test_a_learnt_ranker_plugs_into_the_engine(engine, items, corpus, tmp_path):
    table = candidate_table(engine, items, corpus)
    params = fit_on(table, set(range(len(items))), engine.embedder.name)
    path = calibration_file(engine.embedder.name, tmp_path)
    params.save(path)
    loaded = RankerParams.load(path)
    assert loaded.features == list(CANDIDATE_FEATURES) and len(loaded.coef) == len(CANDIDATE_FEATURES) and 0.0 <= loaded.threshold <= 1.0
    before = engine.ranker
    rule = RuleRanker(engine.tuning, engine.vectors, engine.settings.languages)
    learnt = LearntRanker(loaded, engine.tuning, engine.vectors, engine.settings.languages)
    for ranker in (rule, learnt):
        assert isinstance(ranker, Ranker)
    try:
        engine.ranker = learnt
        answer = engine.ask("What did Zakharova say about the EU loan to Kiev?")
        assert answer.found and answer.quotes
        for quote in answer.quotes:  # whatever the ranking, quotes stay slices
            assert open(quote.source, encoding="utf-8").read()[quote.start : quote.end] == quote.text
            assert 0.0 <= quote.score <= 1.0  # a learnt score is a probability
    finally:
        engine.ranker = before


def test_a_calibration_fitted_on_other_features_is_refused(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"model": "m", "features": ["dense"], "mean": [0], "scale": [1], "coef": [1],
                                "intercept": 0, "threshold": 0.5}))
    with pytest.raises(ValueError, match="calibrate"):
        RankerParams.load(path)


def test_the_engine_uses_a_calibration_for_its_model_and_says_how_to_make_one(small_index, settings_for, embedder,
                                                                             engine, items, corpus, tmp_path):
    from bot.answer import Engine
    from index.errors import ModelError

    base = settings_for(small_index).model_copy(update={"home": tmp_path})
    strict = base.model_copy(update={"answers": base.answers.model_copy(update={"ranker": "learnt"})})
    if not calibration_file(embedder.name).exists():  # no shipped calibration for this model
        with pytest.raises(ModelError, match="onrecord calibrate"):
            Engine.open(settings=strict, embedder=embedder)
    table = candidate_table(engine, items, corpus)
    fit_on(table, set(range(len(items))), embedder.name).save(calibration_file(embedder.name, tmp_path / "calibration"))
    eng = Engine.open(settings=strict, embedder=embedder)
    try:
        assert isinstance(eng.ranker, LearntRanker)
    finally:
        eng.close()
    rules = base.model_copy(update={"answers": base.answers.model_copy(update={"ranker": "rules"})})
    eng = Engine.open(settings=rules, embedder=embedder)
    try:
        assert isinstance(eng.ranker, RuleRanker)
    finally:
        eng.close()


def test_a_stale_calibration_is_said_and_the_rules_answer(small_index, settings_for, embedder, tmp_path, caplog):
    from bot.answer import Engine
    from index.errors import ModelError

    stale = calibration_file(embedder.name, tmp_path / "calibration")
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps({"model": embedder.name, "features": ["dense"], "mean": [0], "scale": [1],
                                 "coef": [1], "intercept": 0, "threshold": 0.5}))
    base = settings_for(small_index).model_copy(update={"home": tmp_path})
    eng = Engine.open(settings=base, embedder=embedder)
    try:
        assert "onrecord calibrate" in caplog.text
        # the next calibration in line answers: the shipped one for this model, else the rules
        assert isinstance(eng.ranker, LearntRanker if calibration_file(embedder.name).exists() else RuleRanker)
    finally:
        eng.close()
    strict = base.model_copy(update={"answers": base.answers.model_copy(update={"ranker": "learnt"})})
    with pytest.raises(ModelError, match="calibrate"):
        Engine.open(settings=strict, embedder=embedder)


def test_a_calibration_brings_its_models_cosine_scale_and_a_setting_the_user_made_wins(
        small_index, settings_for, embedder, monkeypatch, tmp_path):
    """Margins, bonuses and the name threshold are cosines: a calibration carries its model's values and
    the engine answers with them (retrieval, features and quotes read the same settings)."""
    from bot.answer import Engine
    from index.settings import AnswerSettings

    shipped = RankerParams.load(calibration_file(embedder.name))
    shipped.answer_settings = {"dense_margin": 0.25, "entity_min_cosine": 0.8}
    shipped.save(calibration_file(embedder.name, tmp_path / "calibration"))
    base = settings_for(small_index).model_copy(update={"home": tmp_path})
    eng = Engine.open(settings=base, embedder=embedder)
    try:
        assert isinstance(eng.ranker, LearntRanker)
        for t in (eng.tuning, eng.ranker.tuning, eng.assembler.tuning, eng.settings.answers):
            assert (t.dense_margin, t.entity_min_cosine) == (0.25, 0.8)
        answer = eng.ask("What did Zakharova say about the EU loan to Kiev?")
        assert answer.found and all(open(q.source, encoding="utf-8").read()[q.start:q.end] == q.text
                                    for q in answer.quotes)
    finally:
        eng.close()
    monkeypatch.setenv("ONRECORD_ANSWER_DENSE_MARGIN", "0.1")
    mine = base.model_copy(update={"answers": AnswerSettings()})
    eng = Engine.open(settings=mine, embedder=embedder)
    try:
        assert (eng.tuning.dense_margin, eng.tuning.entity_min_cosine) == (0.1, 0.8)
    finally:
        eng.close()


def test_every_shipped_model_ships_its_calibration():
    """Both shipped models answer with a learnt ranker out of the box: a calibration for each, fitted on
    the dev questions, loadable, tied to the model's name."""
    from index import models

    for shipped in models.SHIPPED.values():
        path = calibration_file(shipped.identity)
        assert path.is_file(), f"no shipped calibration for {shipped.name}: run `onrecord calibrate`"
        params = RankerParams.load(path)
        assert params.model == shipped.identity
        assert params.fitted_on["questions"] >= 200 and 0.0 < params.threshold < 1.0


def test_a_passages_best_sentence_is_a_feature(engine, items, corpus):
    """sentence_best is the highest cosine of one of the passage's stored sentence vectors with the
    question; sentence_gap its distance to the best candidate's."""
    from bot.answer.asked import Asked
    from bot.answer.features import candidate_features
    from bot.answer.retrieve import retrieve

    text = "What did Zakharova say about the EU loan to Kiev?"
    asked = Asked(text, "en", engine.vectors.query(text))
    with engine.live.reader() as store:
        hits = retrieve(store, asked, engine.tuning, engine.speakers)
        x = candidate_features(store, asked, hits, engine.tuning, engine.vectors, engine.settings.languages)
        col, gap = FEATURES.index("sentence_best"), FEATURES.index("sentence_gap")
        for h, row in list(zip(hits, x))[:5]:
            sents = store.sentences_of_passage(h.passage_id)
            stored = store.sentence_vectors([s.id for s in sents])
            assert len(stored) == len(sents)  # read from the index, not embedded now
            expect = max(float(stored[s.id] @ asked.vector) for s in sents)
            assert row[col] == pytest.approx(expect, abs=1e-5)
        assert x[:, gap] == pytest.approx(x[:, col].max() - x[:, col])
        assert x[:, gap].min() == 0.0
        # a ranker that does not read them (e5-small's calibration) does not pay for them; the rest is the same
        others = [f for f in CANDIDATE_FEATURES if f not in ("sentence_best", "sentence_gap")]
        y = candidate_features(store, asked, hits, engine.tuning, engine.vectors, engine.settings.languages,
                               read=others)
        assert not y[:, [col, gap]].any()
        keep = [FEATURES.index(f) for f in others]
        assert np.allclose(y[:, keep], x[:, keep])


def test_a_dropped_feature_is_not_read(engine, items, corpus, tmp_path):
    """A calibration fitted without some features (they did not help its model, cross-validated) reads
    the others only, and answers the same whatever the dropped columns hold."""
    table = candidate_table(engine, items, corpus)
    params = fit_on(table, set(range(len(items))), engine.embedder.name, drop=("sentence_best", "sentence_gap"))
    assert "sentence_best" not in params.features and len(params.coef) == len(CANDIDATE_FEATURES) - 2
    x = table[0][:50].copy()
    p = params.probabilities(x)
    x[:, FEATURES.index("sentence_best")] = 9.0
    assert np.allclose(params.probabilities(x), p)
    with pytest.raises(ValueError, match="unknown features"):
        fit_on(table, set(range(len(items))), engine.embedder.name, drop=("sentense_best",))


def test_calibrate_refuses_an_unknown_feature_before_any_work(tmp_path):
    from typer.testing import CliRunner

    from bot.cli import app

    questions = tmp_path / "q.jsonl"
    questions.write_text("")
    r = CliRunner().invoke(app, ["calibrate", str(questions), "--index", str(tmp_path / "none"),
                                 "--drop-feature", "sentense_best"])
    assert r.exit_code == 2
    assert "unknown features" in r.output and "sentence_best" in r.output


def test_the_learnt_ranking_decides_what_is_quoted(engine, corpus_engine, items, corpus):
    """With a learnt ranker no cosine margin stands between its order and the quotes (the margin cost a
    question with each shipped model, cross-validated): every candidate is offered in probability order,
    a passage only full-text search found is quoted when it is ranked, and `min_probability` leaves out
    weak further candidates but never the best."""
    from copy import copy

    from bot.answer.asked import Asked
    from bot.answer.retrieve import retrieve

    table = candidate_table(engine, items, corpus)
    params = fit_on(table, set(range(len(items))), engine.embedder.name)
    text = "Hur visar Ryssland upp sina angrepp på ukrainska militära anläggningar?"
    asked = Asked(text, "sv", engine.vectors.query(text))
    with engine.live.reader() as store:
        hits = retrieve(store, asked, engine.tuning, engine.speakers)
        ranking = LearntRanker(params, engine.tuning, engine.vectors, engine.settings.languages).rank(
            store, asked, [copy(h) for h in hits])
        assert len(ranking.hits) == len(hits)
        scores = [h.score for h in ranking.hits]
        assert scores == sorted(scores, reverse=True)
        floor = float(np.median(scores))
        strict = engine.tuning.model_copy(update={"min_probability": floor})
        floored = LearntRanker(params, strict, engine.vectors, engine.settings.languages).rank(
            store, asked, [copy(h) for h in hits])
        assert floored.hits[0].passage_id == ranking.hits[0].passage_id
        assert all(h.score >= floor for h in floored.hits[1:]) and len(floored.hits) < len(hits)
    asked = Asked(text, "sv", corpus_engine.vectors.query(text))
    with corpus_engine.live.reader() as store:  # the whole corpus: English posts crowd the dense list
        hits = retrieve(store, asked, corpus_engine.tuning, corpus_engine.speakers)
        full_text_only = [h for h in hits if h.dense is None]
        assert full_text_only
        quotes = corpus_engine.assembler.quotes(store, asked, full_text_only[:1], want=1)
        assert len(quotes) == 1
        assert quotes[0].document_id == store.passage(full_text_only[0].passage_id).doc_id


def test_the_answer_model_reads_scores_of_a_model_that_never_saw_the_question(engine, items, corpus):
    """The answer model and its threshold are fitted on each fitting question's candidates as a candidate
    model fitted without that question's statement scores them (new questions are scored that way):
    a question's scores do not move when its own statement's labels are flipped."""
    from bot.answer.learnt import _out_of_fold
    from bot.quality.crossval import statement_groups

    x, y, q, answerable = candidate_table(engine, items, corpus)
    cols = [FEATURES.index(f) for f in CANDIDATE_FEATURES]
    groups = statement_groups(items)
    inside = np.zeros(len(y))
    oof = _out_of_fold(x[:, cols], y, q, groups, 3, 1.0, inside)
    assert not np.allclose(oof, inside)
    seed = {i for i, it in enumerate(items) if it["id"] in {"d017", "d018"}}
    assert len({groups[i] for i in seed}) == 1  # one statement in two languages: one group
    own = np.isin(q, list(seed))
    flipped = y.copy()
    flipped[own] = 1 - flipped[own]
    again = _out_of_fold(x[:, cols], flipped, q, groups, 3, 1.0, inside)
    assert np.allclose(again[own], oof[own])
    assert not np.allclose(again[~own], oof[~own])
