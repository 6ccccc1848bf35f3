"""The store interface, written once, run over every backend (tests/store/conftest.py)."""
from __future__ import annotations

import re
import threading

import numpy as np
import pytest

from index.errors import IndexLocked, IndexMissing, ModelMismatch
from index.store import (
    FileRecord,
    IndexBackend,
    IndexIdentity,
    NewPassage,
    NewSentence,
    StoreReader,
    StoreWriter,
)
from index.textnorm import normalize, stems

# Real statements (the seed's English and Swedish versions, a Bundestag line), written as one file
# of two documents plus one more file.
EN = ("Sergey Lavrov said the ceasefire proposal was not serious. "
      "He added that history is a strict lady and does not forgive.")
SV = ("Sergej Lavrov sa att förslaget om vapenvila inte var seriöst. "
      "Han tillade att historien är en sträng dam som inte förlåter.")
DE = "Die Bundesregierung hält an ihrem Ziel fest, die Ausgaben für Bildung und Forschung zu erhöhen."


def _sentences(text: str, base: int, speaker: str | None):
    return tuple(NewSentence(base + m.start(), base + m.end(), 1, speaker, None, normalize(m.group()))
                 for m in re.finditer(r"\S[^.]*\.", text))


def _passage(text: str, base: int, lang: str, speaker: str) -> NewPassage:
    return NewPassage(base, base + len(text), speaker, 1, None, None, None, None,
                      " ".join(stems(text, lang)), _sentences(text, base, speaker))


@pytest.fixture
def identity(embedder):
    return IndexIdentity(embedder.name, embedder.dimension, "test-chunker")


@pytest.fixture
def built(make_backend, embedder, identity, tmp_path):
    """A published generation: statement.txt (English then Swedish) and speech.txt (German)."""
    backend = make_backend()
    assert isinstance(backend, IndexBackend)
    w = backend.open_writer(identity)
    assert isinstance(w, StoreWriter)
    both = EN + "\n\n" + SV
    statement = str(tmp_path / "statement.txt")
    speech = str(tmp_path / "speech.txt")
    f1 = w.add_file(FileRecord(statement, "a" * 64, len(both), 1.0))
    en = w.add_document(f1, 0, both, 0, len(EN), "Interview", "Sergey Lavrov", "2024-12-25", "en", None, "text")
    sv = w.add_document(f1, 1, both, len(EN) + 2, len(both), "Intervju", "Sergej Lavrov", "2024-12-25", "sv",
                        None, "text")
    f2 = w.add_file(FileRecord(speech, "b" * 64, len(DE), 2.0))
    de = w.add_document(f2, 0, DE, 0, len(DE), "Rede", "Anja Karliczek", "2020-02-13", "de", None, "text")
    ids = w.add_passages(en, [_passage(EN, 0, "en", "Sergey Lavrov")])
    ids += w.add_passages(sv, [_passage(SV, len(EN) + 2, "sv", "Sergej Lavrov")])
    ids += w.add_passages(de, [_passage(DE, 0, "de", "Anja Karliczek")])
    w.add_vectors(ids, embedder.embed_passages([EN, SV, DE]))
    en_s = [s for s, _ in w.document_sentences(en)]
    sv_s = [s for s, _ in w.document_sentences(sv)]
    w.link_versions(en, sv, "same file", 1.0, list(zip(en_s, sv_s, [0.9, 0.9])))
    assert w.vector_count() == 3 and w.counts() == {"files": 2, "documents": 3, "passages": 3}
    name = w.commit()
    return backend, name, {"en": en, "sv": sv, "de": de, "passages": ids, "statement": statement, "speech": speech}


def test_nothing_published_is_index_missing(make_backend):
    backend = make_backend("empty")
    assert backend.current() is None
    with pytest.raises(IndexMissing, match="onrecord index"):
        backend.open_reader()


def test_records_read_back_exactly(built, identity):
    backend, name, ids = built
    assert backend.current() == name
    r = backend.open_reader()
    try:
        assert isinstance(r, StoreReader)
        assert r.name == name and r.identity() == identity
        assert r.counts() == {"files": 2, "documents": 3, "passages": 3} and r.passage_count() == 3
        doc = r.document(ids["sv"])
        assert (doc.source, doc.ordinal, doc.language, doc.speaker, doc.title) == (
            ids["statement"], 1, "sv", "Sergej Lavrov", "Intervju")
        assert r.document_text(ids["sv"])[doc.start : doc.end] == SV
        assert [d.id for d in r.documents(limit=10)] == sorted([ids["en"], ids["sv"], ids["de"]])
        assert [d.id for d in r.documents(limit=10, after=ids["en"])] == sorted([ids["sv"], ids["de"]])
        p = r.passage(ids["passages"][2])
        assert r.document_text(p.doc_id)[p.start : p.end] == DE and p.speaker == "Anja Karliczek"
        assert set(r.passages(ids["passages"])) == set(ids["passages"])
        assert r.passage_language(ids["passages"][1]) == "sv"
        assert "bundesregier" in " ".join(r.passage_terms(ids["passages"][2]))
        assert sorted(r.speakers()) == ["Anja Karliczek", "Sergej Lavrov", "Sergey Lavrov"]
        sents = r.sentences_of_passage(ids["passages"][0])
        text = r.document_text(ids["en"])
        assert [text[s.start : s.end] for s in sents] == [
            "Sergey Lavrov said the ceasefire proposal was not serious.",
            "He added that history is a strict lady and does not forgive."]
        assert r.next_sentence(sents[0]) == sents[1] and r.next_sentence(sents[1]) is None
        assert r.sentences([sents[1].id, sents[0].id]) == sents
        assert r.sentences_of_document(ids["en"], sents[1].start, sents[1].end) == [sents[1]]
        assert r.sentences_of_document(ids["en"], 0, sents[1].end - 1, contained=True) == [sents[0]]
        # many passages in one read: the same lists, every id a key (an unknown one empty)
        every = {p: r.sentences_of_passage(p) for p in ids["passages"]}
        assert r.sentences_of_passages([*reversed(ids["passages"]), 10**9]) == {**every, 10**9: []}
    finally:
        r.close()


def test_versions_and_aligned_sentences(built):
    backend, _, ids = built
    r = backend.open_reader()
    try:
        assert r.versions(ids["en"]) == [ids["sv"]] and r.versions(ids["de"]) == []
        en_first = r.sentences_of_passage(ids["passages"][0])[0]
        aligned = r.aligned_sentences([en_first.id])
        assert [r.document_text(s.doc_id)[s.start : s.end] for s in aligned] == [
            "Sergej Lavrov sa att förslaget om vapenvila inte var seriöst."]
        assert r.earlier_in_file(ids["sv"], [ids["en"]]) == ids["en"]
        assert r.earlier_in_file(ids["en"], [ids["sv"]]) is None
    finally:
        r.close()


def test_sentence_vectors_are_stored_carried_to_the_next_generation_and_removed_with_their_file(
        built, identity, embedder):
    backend, name, ids = built
    w = backend.open_writer(identity)
    todo = w.sentences_without_vectors(100)
    # all five sentences lack one (the fixture stored none), in id order, with their text
    assert [t for _, t in todo] == [
        "Sergey Lavrov said the ceasefire proposal was not serious.",
        "He added that history is a strict lady and does not forgive.",
        "Sergej Lavrov sa att förslaget om vapenvila inte var seriöst.",
        "Han tillade att historien är en sträng dam som inte förlåter.", DE]
    assert [sid for sid, _ in w.sentences_without_vectors(2)] == [sid for sid, _ in todo[:2]]
    assert [sid for sid, _ in w.sentences_without_vectors(100, after=todo[1][0])] == [sid for sid, _ in todo[2:]]
    vecs = embedder.embed_passages([t for _, t in todo[:3]])
    w.add_sentence_vectors([sid for sid, _ in todo[:3]], vecs)
    assert [sid for sid, _ in w.sentences_without_vectors(100)] == [sid for sid, _ in todo[3:]]
    got = w.sentence_vectors([sid for sid, _ in todo])
    assert sorted(got) == sorted(sid for sid, _ in todo[:3])
    w.commit()
    r = backend.open_reader()
    try:  # float16 precision, as float32 arrays
        got = r.sentence_vectors([todo[0][0], todo[4][0], todo[1][0]])
        assert sorted(got) == sorted([todo[0][0], todo[1][0]])
        assert got[todo[0][0]].dtype == np.float32
        assert np.abs(got[todo[0][0]] - vecs[0]).max() < 2e-3 and np.abs(got[todo[1][0]] - vecs[1]).max() < 2e-3
        assert r.sentence_vectors([]) == {}
    finally:
        r.close()
    w = backend.open_writer(identity)  # the next generation starts from the live one's vectors
    assert [sid for sid, _ in w.sentences_without_vectors(100)] == [sid for sid, _ in todo[3:]]
    w.remove_file(ids["statement"])  # its four sentences, with their vectors
    assert [t for _, t in w.sentences_without_vectors(100)] == [DE] and w.sentence_vectors([todo[0][0]]) == {}
    w.commit()
    r = backend.open_reader()
    try:
        assert r.sentence_vectors([sid for sid, _ in todo]) == {}
    finally:
        r.close()


def test_word_vectors_are_stored_by_word_carried_to_the_next_generation_and_kept_when_files_go(
        built, identity, embedder):
    backend, name, ids = built
    r = backend.open_reader()
    try:  # a generation written without any: none, and no error
        assert r.word_vectors(["Lavrov"]) == {}
    finally:
        r.close()
    w = backend.open_writer(identity)
    # what a writer reads to embed the words of an index written without them: each document's own text
    docs = w.documents_with_text(2)
    assert [(d.id, text) for d, text in docs] == [(ids["en"], EN), (ids["sv"], SV)]
    assert [(d.id, text) for d, text in w.documents_with_text(5, after=ids["sv"])] == [(ids["de"], DE)]
    assert docs[0][0].title == "Interview" and w.documents_with_text(5, after=ids["de"]) == []
    words = ["Lavrov", "Sergej Lavrov", "Bundesregierung", "Лавров"]
    vecs = embedder.embed_passages(words)
    assert w.word_vector_count() == 0
    w.add_word_vectors(words[:3], vecs[:3])
    assert sorted(w.word_vectors(["Лавров", "Lavrov", "Lavrov"])) == ["Lavrov"] and w.word_vector_count() == 3
    w.add_word_vectors(words[3:], vecs[3:])
    w.commit()
    r = backend.open_reader()
    try:  # float16 precision, as float32 arrays; a word is its exact spelling
        got = r.word_vectors(["Sergej Lavrov", "Лавров", "lavrov", "Kremlin"])
        assert sorted(got) == ["Sergej Lavrov", "Лавров"]
        assert got["Лавров"].dtype == np.float32
        assert np.abs(got["Sergej Lavrov"] - vecs[1]).max() < 2e-3
        assert np.abs(got["Лавров"] - vecs[3]).max() < 2e-3
        assert r.word_vectors([]) == {}
    finally:
        r.close()
    w = backend.open_writer(identity)  # the next generation has them; removing a file keeps them
    w.remove_file(ids["statement"])
    w.add_word_vectors(["Lavrov"], vecs[3:4])  # replaced, not doubled
    w.commit()
    r = backend.open_reader()
    try:
        got = r.word_vectors(words)
        assert sorted(got) == sorted(words)
        assert np.abs(got["Lavrov"] - vecs[3]).max() < 2e-3
    finally:
        r.close()


def test_vector_search_equals_exact_search(built, embedder):
    """As faiss's contrib tests do: the store's search against brute force over the same real vectors."""
    backend, _, ids = built
    texts = [EN, SV, DE]
    vecs = embedder.embed_passages(texts)
    r = backend.open_reader()
    try:
        for question in ("What did Lavrov say about a ceasefire?", "Forschung und Bildung", "vapenvila"):
            q = embedder.embed_queries([question])[0]
            exact = sorted(zip(ids["passages"], (vecs @ q).tolist()), key=lambda t: -t[1])
            found = r.search_vectors(q, 3)
            assert [i for i, _ in found] == [i for i, _ in exact]
            assert np.allclose([s for _, s in found], [s for _, s in exact], atol=1e-3)
        q = embedder.embed_queries(["What did Lavrov say about a ceasefire?"])[0]
        only = r.search_vectors(q, 5, speakers=["Anja Karliczek", "Sergej Lavrov"])
        assert [i for i, _ in only] == [i for i, _ in sorted(
            [(ids["passages"][1], float(vecs[1] @ q)), (ids["passages"][2], float(vecs[2] @ q))],
            key=lambda t: -t[1])]
        assert r.search_vectors(q, 5, speakers=["Nobody"]) == [] and r.search_vectors(q, 5, speakers=[]) == []
    finally:
        r.close()


def test_full_text_search(built):
    backend, _, ids = built
    r = backend.open_reader()
    try:
        en_hits = r.search_passage_terms(stems("ceasefire proposal", "en"), "en", 5)
        assert [i for i, _ in en_hits] == [ids["passages"][0]]
        assert r.search_passage_terms(stems("ceasefire proposal", "en"), "sv", 5) == []
        assert r.search_passage_terms(['"; DROP TABLE passages; --', "x"], None, 5) == []  # no syntax leaks
        df = r.term_document_frequency(stems("Lavrov Forschung", "en") + ["nothingatall"])
        assert df["nothingatall"] == 0 and max(df.values()) >= 1
        phrase = r.search_sentence_phrase(normalize("history is a strict lady"), 5)
        assert len(phrase) == 1 and r.sentences(phrase)[0].doc_id == ids["en"]
        assert r.search_sentence_phrase('"', 5) == []
        loose = r.search_sentence_terms(normalize("strict lady forgive").split(), 5)
        assert r.sentences(loose[:1])[0].doc_id == ids["en"]
    finally:
        r.close()


def test_a_reader_keeps_its_generation_while_the_next_is_written(built, identity, embedder):
    backend, name, ids = built
    before = backend.open_reader()
    try:
        w = backend.open_writer(identity)
        assert set(w.files()) == {ids["statement"], ids["speech"]}
        assert w.remove_file(ids["speech"]) == 1
        assert w.vector_count() == 2
        new = w.commit()
        assert new != name and backend.current() == new
        assert before.counts()["documents"] == 3 and before.document(ids["de"]) is not None
        after = backend.open_reader()
        try:
            assert after.counts() == {"files": 1, "documents": 2, "passages": 2}
            assert after.document(ids["de"]) is None
            q = embedder.embed_queries(["Bildung und Forschung"])[0]
            assert ids["passages"][2] not in [i for i, _ in after.search_vectors(q, 5)]
        finally:
            after.close()
    finally:
        before.close()


def test_an_aborted_write_publishes_nothing(built, identity):
    backend, name, ids = built
    w = backend.open_writer(identity)
    w.remove_file(ids["statement"])
    w.abort()
    assert backend.current() == name
    r = backend.open_reader()
    try:
        assert r.counts()["documents"] == 3
    finally:
        r.close()


def test_duplicates_are_recorded_and_forgotten(built, identity, tmp_path):
    backend, _, ids = built
    w = backend.open_writer(identity)
    copy = str(tmp_path / "copy-of-speech.txt")
    w.add_file(FileRecord(copy, "b" * 64, len(DE), 3.0, duplicate_of=ids["speech"]))
    assert w.duplicates_of(ids["speech"]) == [copy] and w.files()[copy].duplicate_of == ids["speech"]
    w.forget_file(copy)
    assert copy not in w.files()
    assert [d.source for d in w.documents_named("speech.txt")] == [ids["speech"]]
    assert [d.language for d in w.documents_of_file(ids["statement"])] == ["en", "sv"]
    w.abort()


def test_one_writer_at_a_time(built, identity):
    backend, _, _ = built
    first = backend.open_writer(identity)
    try:
        with pytest.raises(IndexLocked):
            backend.open_writer(identity)
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("w", backend.open_writer(identity, wait=30)))
        t.start()
        first.abort()
        t.join(30)
        assert "w" in result
        result["w"].abort()
    finally:
        first.abort()


def test_another_model_is_refused(built, identity):
    backend, _, _ = built
    with pytest.raises(ModelMismatch, match="Rebuild"):
        backend.open_writer(IndexIdentity("another-model", identity.dimension, identity.chunker))


def test_filtered_search_by_date_source_language(built, embedder):
    """Metadata filters inside the search: the k best among the admitted passages (not the top k
    filtered afterwards), in the vector and the full-text search alike; counts of admitted documents."""
    from index.store import PassageFilter

    backend, _, ids = built
    en_p, sv_p, de_p = ids["passages"]
    r = backend.open_reader()
    try:
        q = embedder.embed_queries(["What did Lavrov say about a ceasefire?"])[0]
        best = r.search_vectors(q, 3)
        assert best[-1][0] == de_p  # unfiltered, the German speech is the least near
        # k=1 inside the filter finds the German speech: a post-filter of the top 1 would find nothing
        assert [i for i, _ in r.search_vectors(q, 1, where=PassageFilter(date_to="2020-12-31"))] == [de_p]
        assert [i for i, _ in r.search_vectors(q, 1, where=PassageFilter(languages=("de",)))] == [de_p]
        assert [i for i, _ in r.search_vectors(q, 1, where=PassageFilter(sources=("speech.txt",)))] == [de_p]
        dec = PassageFilter(date_from="2024-12-01", date_to="2024-12-31")
        assert {i for i, _ in r.search_vectors(q, 5, where=dec)} == {en_p, sv_p}
        assert r.search_vectors(q, 5, where=PassageFilter(date_from="2025-01-01")) == []
        # folder components, not substrings: the statement's folder admits both files, "speech" neither
        folder = ids["statement"].rsplit("/", 2)[-2]
        assert len(r.search_vectors(q, 5, where=PassageFilter(sources=(folder,)))) == 3
        assert r.search_vectors(q, 5, where=PassageFilter(sources=("speech",))) == []
        # with speakers too: both must hold
        both = r.search_vectors(q, 5, speakers=["Sergej Lavrov", "Anja Karliczek"], where=PassageFilter(languages=("sv",)))
        assert [i for i, _ in both] == [sv_p]
        # scores are the unfiltered search's scores
        assert dict(r.search_vectors(q, 5, where=dec))[en_p] == pytest.approx(dict(best)[en_p], abs=1e-6)
        # full text
        terms = stems("ceasefire proposal Lavrov", "en")
        assert [i for i, _ in r.search_passage_terms(terms, "en", 5, where=dec)] == [en_p]
        assert r.search_passage_terms(terms, "en", 5, where=PassageFilter(date_to="2024-12-24")) == []
        assert r.search_passage_terms(terms, None, 5, where=PassageFilter(speakers=("Anja Karliczek",))) == []
        de_terms = stems("Bildung und Forschung", "de")
        assert [i for i, _ in r.search_passage_terms(de_terms, None, 5, where=PassageFilter(
            sources=("speech.txt",), date_from="2020-02-13", date_to="2020-02-13"))] == [de_p]
        assert r.search_passage_terms(de_terms, None, 5, where=PassageFilter(languages=("en", "sv"))) == []
        # counts of the documents a filter admits
        assert r.count_documents(PassageFilter()) == 3
        assert r.count_documents(dec) == 2
        assert r.count_documents(PassageFilter(speakers=("Sergey Lavrov",), date_to="2020-12-31")) == 0
        assert r.count_documents(PassageFilter(languages=("sv", "de"))) == 2
        assert sorted(r.sources()) == sorted([ids["statement"], ids["speech"]])
    finally:
        r.close()


def test_a_speaker_filter_admits_unattributed_passages_of_a_document_titled_with_the_name(built, identity, embedder,
                                                                                         tmp_path):
    """A post titled "Foreign Minister Sergey Lavrov's interview" whose paragraphs record no speaker is
    his statement for a speaker filter that names his surname (`titled`); not without it."""
    from index.store import PassageFilter

    backend, _, ids = built
    text = "The ceasefire talk is a way to buy time for rearming."
    w = backend.open_writer(identity)
    f = w.add_file(FileRecord(str(tmp_path / "post.txt"), "c" * 64, len(text), 3.0))
    doc = w.add_document(f, 0, text, 0, len(text), "Foreign Minister Sergey Lavrov's interview", None,
                         "2024-12-26", "en", None, "text")
    [pid] = w.add_passages(doc, [NewPassage(0, len(text), None, 1, None, None, None, None,
                                            " ".join(stems(text, "en")), _sentences(text, 0, None))])
    w.add_vectors([pid], embedder.embed_passages([text]))
    w.commit()
    r = backend.open_reader()
    try:
        q = embedder.embed_queries(["What did Lavrov say about a ceasefire?"])[0]
        strict = PassageFilter(speakers=("Sergey Lavrov",))
        titled = PassageFilter(speakers=("Sergey Lavrov",), titled=("Lavrov",))
        assert pid not in [i for i, _ in r.search_vectors(q, 5, where=strict)]
        assert pid in [i for i, _ in r.search_vectors(q, 5, where=titled)]
        assert ids["passages"][0] in [i for i, _ in r.search_vectors(q, 5, where=titled)]
        assert ids["passages"][2] not in [i for i, _ in r.search_vectors(q, 5, where=titled)]  # Karliczek's
        terms = stems("ceasefire rearming", "en")
        assert [i for i, _ in r.search_passage_terms(terms, "en", 5, where=titled)][:1] == [pid]
        assert pid not in [i for i, _ in r.search_passage_terms(terms, "en", 5, where=strict)]
        assert r.count_documents(strict) == 1 and r.count_documents(titled) == 2  # the English one, and the post
        assert r.count_documents(PassageFilter(speakers=("Anja Karliczek",), titled=("Karliczek",))) == 1
    finally:
        r.close()


def test_sentences_without_vectors_walks_past_many_that_have_one(make_backend, identity, tmp_path):
    """The embedding loop's read: with hundreds of sentences already embedded (the last generation's),
    the next batch is the first ones without a vector, in id order, however far past they lie."""
    backend = make_backend()
    w = backend.open_writer(identity)
    line = "Die Bundesregierung hält an ihrem Ziel fest. "
    text = line * 700
    f = w.add_file(FileRecord(str(tmp_path / "long.txt"), "c" * 64, len(text), 1.0))
    doc = w.add_document(f, 0, text, 0, len(text), "Rede", "Olaf Scholz", "2024-01-01", "de", None, "text")
    w.add_passages(doc, [_passage(text[i * 100 * len(line):(i + 1) * 100 * len(line)], i * 100 * len(line), "de",
                                  "Olaf Scholz") for i in range(7)])
    todo = w.sentences_without_vectors(1000)
    assert len(todo) == 700 and [sid for sid, _ in todo] == sorted(sid for sid, _ in todo)
    assert {t for _, t in todo} == {line.strip()}
    w.add_sentence_vectors([sid for sid, _ in todo[:650]], np.ones((650, identity.dimension), dtype=np.float32))
    assert w.sentences_without_vectors(20) == todo[650:670]
    assert w.sentences_without_vectors(1000, after=todo[660][0]) == todo[661:]
    w.add_sentence_vectors([todo[699][0]], np.ones((1, identity.dimension), dtype=np.float32))
    assert w.sentences_without_vectors(1000) == todo[650:699]
    w.abort()
