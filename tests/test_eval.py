"""Everything that needs the whole corpus indexed, in one module: answer quality on
../shared/dev-questions.jsonl, whole-corpus answers and the index's exact slices.

The index takes minutes to build; tests/conftest.py runs this module first, so that under
pytest-xdist one worker builds it while the other runs the rest of the suite.

The floors here are what the engine measures now (scripts/eval prints the full table); they guard
against regressions. Verbatim quotes and abstention are held to the product's own bar.
"""
from __future__ import annotations

import json
import os

import pytest

from bot.quality.evaluate import evaluate
from index.store import open_current


@pytest.fixture(scope="module")
def result(corpus_engine, corpus):
    items = [json.loads(x) for x in (corpus.parent / "dev-questions.jsonl").read_text(encoding="utf-8").splitlines()
             if x.strip()]
    return evaluate(corpus_engine, items, corpus)


def test_every_quote_is_word_for_word_in_its_source_file(result):
    flags = [v for r in result["rows"] for v in r["verbatim"]]
    assert len(flags) > 40
    assert all(flags)


def test_unanswerable_questions_are_declined_and_answerable_ones_are_not(result):
    rows = result["rows"]
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    answerable = [r for r in rows if r["kind"] != "unanswerable"]
    assert sum(not r["found"] for r in unanswerable) / len(unanswerable) >= 0.85  # cross-validated: 23 of 26
    assert sum(not r["found"] for r in answerable) / len(answerable) <= 0.05  # cross-validated: 5 of 180


def test_answerable_questions_find_the_gold_quote(result):
    """Floors at the cross-validated numbers of the learnt ranker (README, "Answer quality"); the shipped
    calibration was fitted on these questions, so in-sample it should do at least as well."""
    g = result["groups"]
    assert g["answerable"]["hit@3"] >= 0.83  # cross-validated 0.844 (2026-12-07, e5-small; in-sample 0.85)
    assert g["answerable"]["doc_hit@3"] >= 0.93  # cross-validated 0.944
    assert g["answerable"]["language_match"] >= 0.92  # cross-validated 0.93 of those answered
    assert g["crosslingual"]["hit@3"] >= 0.73  # cross-validated 0.756
    assert g["quote_lookup"]["hit@1"] == 1.0
    assert g["speaker"]["speaker_match"] >= 0.80  # cross-validated 0.91


def test_questions_are_answered_in_their_own_language(result):
    assert all(r["detected"] == r["lang"] for r in result["rows"])


# ---- whole-corpus answers and index -------------------------------------------------------------

def _verbatim(q) -> bool:
    return open(q.source, encoding="utf-8").read()[q.start : q.end] == q.text


def test_a_translated_speech_says_the_language_it_was_spoken_in(corpus_engine):
    """Europarl's English is often the Parliament's translation: the citation says of which language,
    and a question naming the speaker by it ("the Finnish MEP") is answered from that speech."""
    a = corpus_engine.ask("What did the Finnish MEP say about milk quotas?")
    assert a.found
    # the learnt ranker puts the debate's Hungarian speakers first; the Finnish MEP is among the three
    i = next(i for i, q in enumerate(a.quotes) if q.speaker == "Kyösti Virrankoski")
    q = a.quotes[i]
    assert q.spoken_language == "fi" and _verbatim(q)
    assert q.speaker_role == "MEP (ALDE)" and "— Kyösti Virrankoski, MEP (ALDE) · Milk quotas (debate)" in a.answer
    assert "spoken in Finnish; quoted from the record's translation into English" in a.answer
    assert a.to_json()["quotes"][i]["spoken_language"] == "fi"
    sv = corpus_engine.ask("Vad sa Virrankoski om mjölkkvoter?")
    assert sv.found and sv.quotes[0].speaker == "Kyösti Virrankoski"
    assert "talat på finska; citerat ur protokollets översättning till engelska" in sv.answer
    # a speech given in the text's own language carries no such note
    en = corpus_engine.ask("What did Lavrov say about a truce?")
    assert all(x.spoken_language is None for x in en.quotes) and "spoken in" not in en.answer


def test_a_german_question_naming_a_russian_speaker_finds_their_english_words(corpus_engine):
    """"Sacharowa" is the German spelling of Zakharova: her English posts answer, said to be English."""
    a = corpus_engine.ask("Was sagte Sacharowa über die Sanktionen?")
    assert a.language == "de" and a.found
    q = a.quotes[0]
    assert q.speaker == "Maria Zakharova" and q.language == "en" and _verbatim(q)
    assert "Original auf Englisch" in a.answer
    b = corpus_engine.ask("Was sagte Lawrow über den Waffenstillstand?")
    assert b.found and b.quotes[0].speaker == "Sergey Lavrov" and all(_verbatim(x) for x in b.quotes)
    # no German version of the seed statement: its original (English, first in the file) is quoted,
    # the Swedish translation offered beside it
    seed = [x for x in b.quotes if "seed" in x.source]
    assert seed and all(x.language == "en" and [v.language for v in x.versions] == ["sv"] for x in seed)


def test_every_passage_and_sentence_is_an_exact_slice_of_its_file(corpus_index):
    gen = open_current(corpus_index)
    try:
        files = {}
        rows = gen.db.execute(
            'SELECT p.start, p."end", d.id, d.kind, f.source FROM passages p JOIN documents d ON d.id = p.doc_id '
            "JOIN files f ON f.id = d.file_id"
        ).fetchall()
        assert len(rows) > 3000
        for start, end, doc_id, kind, source in rows:
            text = gen.document_text(doc_id)[start:end]
            assert text and text == text.strip()
            if kind != "subtitle" and source.endswith(".txt"):
                if source not in files:
                    files[source] = open(source, encoding="utf-8").read()
                assert files[source][start:end] == text, (source, start, end)
            assert "<P>" not in text and "<SPEAKER" not in text and "🎙" not in text
        sents = gen.db.execute('SELECT s.start, s."end", s.doc_id, f.source FROM sentences s '
                               "JOIN documents d ON d.id = s.doc_id JOIN files f ON f.id = d.file_id").fetchall()
        for start, end, doc_id, source in sents:
            assert files[source][start:end] == gen.document_text(doc_id)[start:end]
        # every corpus file was indexed, none skipped
        n_files = sum(1 for p in gen.db.execute("SELECT source FROM files"))
        on_disk = sum(1 for root, _, names in os.walk(os.path.dirname(rows[0][4]) + "/..") for n in names
                      if n.endswith(".txt"))
        assert n_files >= on_disk
        assert gen.vectors.ntotal == len(rows)
    finally:
        gen.close()
