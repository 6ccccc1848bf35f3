"""Late sentence vectors (ONRECORD_LATE_SENTENCE_VECTORS): each sentence's vector taken from its
passage's own pass through the real model, the index built with them, versions still aligned."""
from __future__ import annotations

import re

import numpy as np
import pytest

from index.indexer import run_index
from index.store import all_documents, open_backend
from tests.conftest import SMALL_SET, _settings

TOLERANCE = {"fp32": 1e-5, "bf16": 5e-3}


def _spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"[^.\n:]+[.]", text)]


def test_one_pass_gives_the_passage_vectors_and_a_vector_for_each_sentence(embedder):
    texts = ["Sergey Lavrov: Interview\nThe minister said the talks on a ceasefire would continue in Geneva. "
             "He added that history is a strict lady and does not forgive.",
             "Die Bundesregierung hält an ihrem Ziel fest. Die Ausgaben für Bildung steigen.",
             "Министр заявил, что переговоры продолжатся."]
    spans = [_spans(t) for t in texts]
    assert [len(s) for s in spans] == [2, 2, 1]
    passages, sentences = embedder.embed_passages_with_sentences(texts, spans)
    np.testing.assert_allclose(passages, embedder.embed_passages(texts), atol=TOLERANCE[embedder.precision])
    assert [len(row) for row in sentences] == [2, 2, 1] and all(v is not None for row in sentences for v in row)
    owner = [i for i, sp in enumerate(spans) for _ in sp]
    alone = embedder.embed_passages([t[a:z] for t, sp in zip(texts, spans) for a, z in sp])
    late = np.stack([v for row in sentences for v in row])
    assert np.allclose(np.linalg.norm(late, axis=1), 1, atol=1e-4)
    # read in its passage: nearest to a sentence of that passage embedded on its own, and close to itself
    assert [owner[int(j)] for j in np.argmax(late @ alone.T, axis=1)] == owner
    assert float(np.min(np.sum(late * alone, axis=1))) > 0.6
    empty, none = embedder.embed_passages_with_sentences([], [])
    assert empty.shape == (0, embedder.dimension) and none == []


def test_a_sentence_past_the_model_window_gets_none(embedder):
    filler = "The committee met again and discussed the report at length. " * 200  # far past 512 tokens
    text = "The opening sentence stands first. " + filler + "The last sentence comes after the window."
    spans = [(0, 34), (len(text) - 41, len(text))]
    assert text[spans[0][0]:spans[0][1]] == "The opening sentence stands first."
    assert text[spans[1][0]:spans[1][1]] == "The last sentence comes after the window."
    _, sentences = embedder.embed_passages_with_sentences([text], [spans])
    assert sentences[0][0] is not None and sentences[0][1] is None


@pytest.fixture(scope="module")
def late_built(tmp_path_factory, corpus, embedder):
    settings = _settings(tmp_path_factory.mktemp("late") / "index").model_copy(update={"late_sentence_vectors": True})
    summary = run_index([corpus / p for p in SMALL_SET], settings, embedder=embedder, progress=False)
    return settings, summary


def test_an_index_built_with_late_sentence_vectors(late_built, embedder, small_index):
    """Every sentence gets a vector from its passage's pass; the answers' inputs (passages, their
    vectors, sentences) equal a normal build's; versions are aligned exactly as in a normal build."""
    settings, summary = late_built
    late, normal = open_backend(settings.index_dir).open_reader(), open_backend(small_index).open_reader()
    try:
        docs = {(d.source, d.ordinal): d for d in all_documents(late)}
        ref = {(d.source, d.ordinal): d for d in all_documents(normal)}
        assert docs.keys() == ref.keys()
        sentence_count, closer = 0, []
        for key, d in docs.items():
            sents, ref_sents = late.sentences_of_document(d.id), normal.sentences_of_document(ref[key].id)
            assert [(s.start, s.end) for s in sents] == [(s.start, s.end) for s in ref_sents]
            vecs = late.sentence_vectors([s.id for s in sents])
            assert set(vecs) == {s.id for s in sents}  # every one, from the passages' pass
            sentence_count += len(sents)
            alone = normal.sentence_vectors([s.id for s in ref_sents])
            for s, r in zip(sents, ref_sents):
                closer.append(float(vecs[s.id] @ alone[r.id]))
            # passages and their vectors as a normal build makes them
            for s, r in zip(sents[:1], ref_sents[:1]):
                np.testing.assert_allclose(late.vectors.reconstruct(s.passage_id),
                                           normal.vectors.reconstruct(r.passage_id), atol=TOLERANCE[embedder.precision])
            # the same sentences aligned with their other-language versions
            aligned = [(x.doc_id, x.start, x.end) for x in late.aligned_sentences(s.id for s in sents)]
            ref_aligned = [(x.doc_id, x.start, x.end) for x in normal.aligned_sentences(s.id for s in ref_sents)]
            by_id = {v.id: k for k, v in docs.items()}
            ref_by_id = {v.id: k for k, v in ref.items()}
            assert [(by_id[a], s, e) for a, s, e in aligned] == [(ref_by_id[a], s, e) for a, s, e in ref_aligned]
        assert summary.sentences == sentence_count > 50
        assert np.median(closer) > 0.7  # in context, yet the same sentences
    finally:
        late.close(), normal.close()


def test_fact_checks_still_find_translations_on_such_an_index(late_built, embedder):
    """The translation threshold is set for sentences embedded on their own: with late vectors the
    check embeds the candidates so (read in context, the Swedish and English versions fell below it)."""
    from bot.answer import Engine
    from bot.factcheck.verdict import check

    settings, _ = late_built
    engine = Engine.open(settings=settings, embedder=embedder)
    try:
        v = check(engine, "Нас не устроит перемирие.", speaker="Лавров")
        assert v.kind == "translation_only" and v.quote is not None and v.quote.language in ("en", "sv")
        assert check(engine, "По статье о госизмене ему грозит срок вплоть до пожизненного.").kind == "exact"
    finally:
        engine.close()
