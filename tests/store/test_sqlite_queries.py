"""The SQLite store's queries read what they need, not the archive: a document's row holds its whole
text, so a filter that scanned the documents table read every transcript (400-1,100 ms a question at
1M passages, scripts/bench scale); a speaker filter that looked at every unattributed passage read a
quarter of them; full-text search in one language joined every match with its document (60 of 90 ms
a question at 1M). Checked on SQLite's own query plans and answers over a real small index."""
from __future__ import annotations

import pytest

from index.store import PassageFilter, open_current
from index.store.sqlite import filter_sql

FILTERS = {
    "speaker named in titles": PassageFilter(speakers=("Sergey Lavrov",), titled=("Lavrov",)),
    "source": PassageFilter(sources=("seed",)),
    "dates and language": PassageFilter(date_from="2024-01-01", date_to="2025-12-31", languages=("en", "sv")),
    "everything": PassageFilter(speakers=("Sergey Lavrov",), titled=("Lavrov",), sources=("seed",),
                                date_from="2024", languages=("sv",)),
}


@pytest.fixture(scope="module")
def reader(small_index):
    gen = open_current(small_index)
    yield gen
    gen.close()


def _plan(db, sql: str, args) -> list[str]:
    return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, args)]


@pytest.mark.parametrize("name", list(FILTERS))
def test_a_filter_reads_documents_through_their_index_only(reader, name):
    cond, args = filter_sql(FILTERS[name])
    for sql in (f"SELECT group_concat(p.id) FROM passages p WHERE {cond}",
                f"SELECT count(DISTINCT p.doc_id) FROM passages p WHERE {cond}"):
        plan = _plan(reader.db, sql, args)
        documents = [step for step in plan if "documents" in step or " d " in f"{step} "]
        assert documents, plan  # every one of these filters asks something of the documents
        assert all("COVERING INDEX documents_filter" in step or "PRIMARY KEY" in step for step in documents), plan


def test_a_speaker_filter_finds_unattributed_passages_through_their_documents(reader):
    cond, args = filter_sql(FILTERS["speaker named in titles"])
    plan = _plan(reader.db, f"SELECT group_concat(p.id) FROM passages p WHERE {cond}", args)
    assert not any(step.startswith("SCAN p") for step in plan), plan
    assert any("INDEX passages_speaker" in step for step in plan), plan
    assert any("INDEX passages_doc" in step for step in plan), plan


def test_the_filters_admit_what_they_say(reader):
    """The same passages as a plain reading of each filter over the joined rows."""
    rows = reader.db.execute(
        "SELECT p.id, p.speaker, d.title, d.date, d.language, f.source FROM passages p "
        "JOIN documents d ON d.id = p.doc_id JOIN files f ON f.id = d.file_id").fetchall()

    def admitted(w: PassageFilter, row) -> bool:
        _, speaker, title, day, language, source = row
        if w.speakers is not None and not (speaker in w.speakers or (
                speaker is None and any(word in (title or "") for word in w.titled or ()))):
            return False
        first = (day + "-01-01")[:10] if day else None
        if w.date_from is not None and (first is None or first < w.date_from):
            return False
        if w.date_to is not None and (first is None or first > w.date_to):
            return False
        if w.languages is not None and language not in w.languages:
            return False
        return w.sources is None or any(n in "/" + source + "/" for n in w.source_needles())

    for name, w in FILTERS.items():
        cond, args = filter_sql(w)
        got = {r[0] for r in reader.db.execute(f"SELECT p.id FROM passages p WHERE {cond}", args)}
        want = {r[0] for r in rows if admitted(w, r)}
        assert got == want, name
        assert 0 < len(got) < len(rows), name  # each filter admits some passages of the small index, not all


QUESTIONS = [("What did Lavrov say about a ceasefire?", "en"), ("Vad sa Lavrov om vapenvila?", "sv"),
             ("Was sagte die Ministerin über Forschung und Bildung?", "de"), ("Что сказала Захарова о санкциях?", "ru"),
             ("ceasefire Lavrov Zakharova sanctions minister", "sv")]


@pytest.mark.parametrize("overfetch", [1, 8])
def test_full_text_in_one_language_equals_joining_every_match_with_its_language(reader, monkeypatch, overfetch):
    """The best matches of every language kept by the passages' languages, or, where too few are left,
    every match joined with its document's language: the same passages in the same order as the join."""
    import index.store.sqlite as sqlite_store
    from index.textnorm import stems

    monkeypatch.setattr(sqlite_store, "FTS_OVERFETCH", overfetch)
    found = 0
    for question, lang in QUESTIONS:
        for k in (1, 3, 20):
            terms = stems(question, lang)
            want = reader.db.execute(
                "SELECT f.rowid FROM passages_fts f JOIN passages p ON p.id = f.rowid JOIN documents d "
                "ON d.id = p.doc_id WHERE passages_fts MATCH ? AND d.language = ? ORDER BY bm25(passages_fts), "
                "f.rowid LIMIT ?", (sqlite_store.fts_query(terms), lang, k)).fetchall()
            got = reader.search_passage_terms(terms, lang, k)
            assert [i for i, _ in got] == [r[0] for r in want], (question, lang, k)
            found += len(got)
    assert found > 0
