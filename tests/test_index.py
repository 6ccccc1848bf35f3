"""The index on real transcripts: exact offsets, incremental updates, atomic generations, bad input."""
from __future__ import annotations

import os
import shutil
import sqlite3

import numpy as np
import pytest

from index.errors import IndexLocked, IndexMissing, ModelMismatch
from index.indexer import run_index
from index.store import IndexIdentity, open_current
from index.store.sqlite import Writer


class CountingEmbedder:
    """The real embedder, counting what it is asked to embed."""

    def __init__(self, inner):
        self.inner, self.name, self.dimension = inner, inner.name, inner.dimension
        self.passages = 0
        self.texts: list[str] = []

    def embed_passages(self, texts):
        self.passages += len(texts)
        self.texts += texts
        return self.inner.embed_passages(texts)

    def embed_queries(self, texts):
        return self.inner.embed_queries(texts)


def _copy(corpus, tmp_path, rels):
    root = tmp_path / "transcripts"
    for rel in rels:
        src = corpus / rel
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    return root


def test_seed_is_two_linked_documents_with_aligned_sentences(small_index):
    gen = open_current(small_index)
    try:
        docs = gen.db.execute(
            "SELECT d.id, d.language, d.date, d.speaker, d.title FROM documents d JOIN files f ON f.id = d.file_id "
            "WHERE f.source LIKE '%seed%' ORDER BY d.ordinal").fetchall()
        assert [d["language"] for d in docs] == ["en", "sv"]
        assert all(d["date"] == "2024-12-25" for d in docs)
        assert all("Lavrov" in (d["speaker"] or "") for d in docs)
        link = gen.db.execute("SELECT * FROM versions WHERE doc_a = ? AND doc_b = ?", (docs[0]["id"], docs[1]["id"])).fetchone()
        assert link is not None
        en = gen.document_text(docs[0]["id"])
        row = gen.db.execute(
            'SELECT a.start, a."end", b.start, b."end" FROM sentence_versions v JOIN sentences a ON a.id = v.sent_a '
            "JOIN sentences b ON b.id = v.sent_b WHERE a.doc_id = ? AND b.doc_id = ?",
            (docs[0]["id"], docs[1]["id"])).fetchall()
        assert len(row) >= 10
        pairs = {en[r[0]:r[1]]: en[r[2]:r[3]] for r in row}
        key = next(k for k in pairs if k.startswith("We are not interested in escalating"))
        assert pairs[key].startswith("Vi är inte intresserade av att eskalera")
        # the ru/en news pair of the same name is linked too
        n = gen.db.execute("SELECT count(*) FROM versions WHERE method = 'same name'").fetchone()[0]
        assert n == 2
    finally:
        gen.close()


def test_second_run_embeds_nothing_and_an_edit_reembeds_only_that_file(corpus, tmp_path, embedder, settings_for):
    root = _copy(corpus, tmp_path, ["seed/000_7014e17accf97c28.txt", "mfa-telegram-en/2025-12-19_msg27755.txt",
                                    "europarl-en/ep-2007-03-13-ch002-00.txt"])
    settings = settings_for(tmp_path / "idx")
    counting = CountingEmbedder(embedder)
    first = run_index([root], settings, embedder=counting)
    assert first.added == 3 and first.passages > 10
    embedded_first = counting.passages
    gen_name = first.generation

    counting.passages = 0
    again = run_index([root], settings, embedder=counting)
    assert (again.unchanged, again.added, again.updated, counting.passages) == (3, 0, 0, 0)
    assert again.generation is None  # nothing to publish
    assert open_current(settings.index_dir).name == gen_name

    post = root / "mfa-telegram-en/2025-12-19_msg27755.txt"
    post.write_text(post.read_text(encoding="utf-8") + "\nAn added closing paragraph about the weather.\n",
                    encoding="utf-8")
    updated = run_index([root], settings, embedder=counting)
    gen = open_current(settings.index_dir)
    try:
        post_passages = gen.db.execute(
            "SELECT count(*) FROM passages p JOIN documents d ON d.id = p.doc_id JOIN files f ON f.id = d.file_id "
            "WHERE f.source = ?", (str(post),)).fetchone()[0]
        post_sentences = gen.db.execute(
            "SELECT count(*) FROM sentences s JOIN documents d ON d.id = s.doc_id JOIN files f ON f.id = d.file_id "
            "WHERE f.source = ?", (str(post),)).fetchone()[0]
        assert updated.updated == 1 and updated.unchanged == 2
        assert updated.passages == post_passages and updated.sentences == post_sentences
        # only that file's passages and sentences (version alignment reads the stored sentence vectors)
        assert counting.passages == post_passages + post_sentences
        assert gen.vectors.ntotal == gen.db.execute("SELECT count(*) FROM passages").fetchone()[0]
        assert counting.passages < embedded_first
    finally:
        gen.close()


def test_the_passages_names_are_embedded_once_and_an_index_written_without_them_gets_them(
        corpus, tmp_path, embedder, settings_for):
    """Capitalised words and pairs are embedded with their passages (the names check reads them), each
    word once; an index written before that gets them at its next run, with nothing else to do."""
    root = _copy(corpus, tmp_path, ["seed/000_7014e17accf97c28.txt", "europarl-en/ep-2007-03-13-ch002-00.txt"])
    settings = settings_for(tmp_path / "idx")

    def stored() -> set[str]:
        gen = open_current(settings.index_dir)
        try:
            return {w for (w,) in gen.db.execute("SELECT word FROM word_vectors")}
        finally:
            gen.close()

    first = run_index([root], settings, embedder=embedder)
    words = stored()
    assert first.words == len(words) > 100
    assert {"Sergey Lavrov", "Lavrov", "Lavrovs", "Russian Federation", "President Putin", "Commission"} <= words
    assert not {w for w in words if len(w) < 3 or not w[0].isupper()}

    gen = open_current(settings.index_dir)  # as an index written before: the live generation holds none
    path = settings.index_dir / gen.name / "store.sqlite"
    gen.close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE word_vectors")
    counting = CountingEmbedder(embedder)
    again = run_index([root], settings, embedder=counting)
    assert (again.unchanged, again.passages, again.sentences) == (2, 0, 0)
    assert again.generation is not None and again.words == counting.passages == len(stored())
    assert {"Sergey Lavrov", "Lavrovs", "Russian Federation", "Commission"} <= stored()

    counting.passages = 0
    third = run_index([root], settings, embedder=counting)
    assert (third.words, counting.passages, third.generation) == (0, 0, None)


def test_sentence_vectors_stored_at_index_time_or_added_later_give_the_same_answers_embedding_no_sentence(
        corpus, tmp_path, embedder, settings_for):
    """Every sentence's vector is stored when it is indexed; an index built without them gains them at
    its next run (nothing else re-embedded); with them, a question embeds only itself and its words,
    and the answers are the ones the engine gives embedding sentences when first quoted."""
    from bot.answer import Engine

    root = _copy(corpus, tmp_path, ["seed/000_7014e17accf97c28.txt", "mfa-telegram-en/2025-12-19_msg27755.txt",
                                    "bundestag-de/speeches-19-146/ID1914605500.txt"])
    lazy = settings_for(tmp_path / "lazy").model_copy(update={"sentence_vectors": False})
    counting = CountingEmbedder(embedder)
    built = run_index([root], lazy, embedder=counting)
    passages_only = counting.passages - built.words  # the passages, the seed's sentences for version alignment
    gen = open_current(lazy.index_dir)
    try:
        n_sentences = gen.db.execute("SELECT count(*) FROM sentences").fetchone()[0]
        assert built.sentences == 0 and gen.sentence_vectors(range(1, n_sentences + 1)) == {}
    finally:
        gen.close()
    assert passages_only < built.passages + n_sentences

    stored = settings_for(tmp_path / "stored")
    shutil.copytree(lazy.index_dir, stored.index_dir, ignore=shutil.ignore_patterns("writer.lock"))
    counting.passages = 0
    later = run_index([root], stored, embedder=counting)  # nothing changed but the missing vectors
    assert (later.unchanged, later.passages, later.sentences, counting.passages) == (3, 0, n_sentences, n_sentences)
    assert built.words > 0 and later.words == 0  # the names' vectors were stored the first time
    assert later.generation is not None
    gen = open_current(stored.index_dir)
    try:
        rows = gen.db.execute('SELECT s.id, s.doc_id, s.start, s."end" FROM sentences s ORDER BY s.id').fetchall()
        vecs = gen.sentence_vectors([r[0] for r in rows])
        assert sorted(vecs) == [r[0] for r in rows]
        some = rows[:: max(1, len(rows) // 8)]
        fresh = embedder.embed_passages([gen.document_text(r[1])[r[2]:r[3]] for r in some])
        assert max(float(np.abs(vecs[r[0]] - v).max()) for r, v in zip(some, fresh)) < 2e-3
    finally:
        gen.close()
    counting.passages = 0
    again = run_index([root], stored, embedder=counting)
    assert (again.sentences, counting.passages, again.generation) == (0, 0, None)

    questions = ["What did Lavrov say about escalation?", "Was sagte Ziemiak über die Verantwortung der Union?",
                 "Vad sa Lavrov om förhandlingar?", "What did Zakharova say about Russia's frozen sovereign assets?"]
    gen = open_current(stored.index_dir)
    try:
        sentences = {gen.document_text(r[1])[r[2]:r[3]] for r in rows}
    finally:
        gen.close()
    answers, embedded = {}, {}
    for name, settings in (("lazy", lazy), ("stored", stored)):
        counting.texts = []
        eng = Engine.open(settings=settings, embedder=counting)
        try:
            answers[name] = [[(q.text, q.source, q.start) for q in eng.ask(x).quotes] for x in questions]
        finally:
            eng.close()
        embedded[name] = set(counting.texts) & sentences
    assert answers["lazy"] == answers["stored"] and all(answers["stored"])
    assert len(embedded["lazy"]) > 10 and embedded["stored"] == set()


def test_prune_duplicates_and_failed_parse_keeps_previous(corpus, tmp_path, embedder, settings_for):
    root = _copy(corpus, tmp_path, ["mfa-telegram-en/2026-01-12_msg27978.txt", "mfa-telegram-en/2026-01-26_msg28118.txt"])
    settings = settings_for(tmp_path / "idx")
    run_index([root], settings, embedder=embedder)
    a = root / "mfa-telegram-en/2026-01-12_msg27978.txt"
    b = root / "mfa-telegram-en/2026-01-26_msg28118.txt"
    shutil.copy(a, root / "copy-of-a.txt")
    dup = run_index([root], settings, embedder=embedder)
    assert dup.duplicates == 1 and dup.passages == 0
    b.write_bytes(b"\x00\x01\x02 binary now \xff\xfe" * 50)  # a file that now fails to parse
    kept = run_index([root], settings, embedder=embedder)
    assert str(b) in kept.kept_previous
    gen = open_current(settings.index_dir)
    try:
        assert gen.db.execute("SELECT count(*) FROM files WHERE source = ?", (str(b),)).fetchone()[0] == 1
        assert gen.db.execute(
            "SELECT count(*) FROM documents d JOIN files f ON f.id = d.file_id WHERE f.source = ?", (str(b),)
        ).fetchone()[0] >= 1
    finally:
        gen.close()
    a.unlink()
    pruned = run_index([root], settings, embedder=embedder, prune=True)
    assert pruned.removed == 1
    gen = open_current(settings.index_dir)
    try:
        sources = {r[0] for r in gen.db.execute("SELECT source FROM files")}
        assert str(a) not in sources
        assert gen.vectors.ntotal == gen.db.execute("SELECT count(*) FROM passages").fetchone()[0]
    finally:
        gen.close()


def test_bad_files_are_skipped_with_reasons_and_nothing_is_lost(corpus, tmp_path, embedder, settings_for):
    root = _copy(corpus, tmp_path, ["mfa-telegram-en/2026-01-12_msg27978.txt"])
    settings = settings_for(tmp_path / "idx")
    first = run_index([root], settings, embedder=embedder)
    (root / "empty.txt").write_bytes(b"")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 20)
    (root / "bad.srt").write_text("1\nthis is not a time line\nhello\n", encoding="utf-8")
    huge = root / "huge.txt"
    with open(huge, "wb") as fh:
        fh.truncate(200 * 2**20)  # sparse: 200 MB without writing them
    (root / "loop").mkdir()
    os.symlink(root / "loop", root / "loop" / "again")
    os.symlink(root / "nowhere.txt", root / "dangling.txt")
    vanishing = root / "zz-vanishes.txt"
    vanishing.write_text("💬 Somebody: This file disappears before it is read.\n", encoding="utf-8")

    def on_file(source):
        if source.endswith("zy-trigger.txt"):
            vanishing.unlink()

    (root / "zy-trigger.txt").write_text("💬 Somebody: A short statement that is fine.\n", encoding="utf-8")
    summary = run_index([root], settings, embedder=embedder, on_file=on_file)
    reasons = {os.path.basename(s): r for s, r in summary.skipped}
    assert {"empty.txt", "binary.txt", "bad.srt", "huge.txt", "dangling.txt", "zz-vanishes.txt"} <= set(reasons)
    assert "too large" in reasons["huge.txt"]
    assert "vanished" in reasons["zz-vanishes.txt"]
    assert all(r for r in reasons.values())
    assert summary.total_documents >= first.total_documents + 1
    gen = open_current(settings.index_dir)
    try:
        assert gen.db.execute("SELECT count(*) FROM files WHERE source LIKE '%msg27978%'").fetchone()[0] == 1
    finally:
        gen.close()


def test_strict_cli_exit_and_summary_line(corpus, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from bot.cli import app

    root = tmp_path / "t"
    root.mkdir()
    (root / "empty.txt").write_text("", encoding="utf-8")
    shutil.copy(corpus / "mfa-telegram-en/2026-01-12_msg27978.txt", root / "a.txt")
    monkeypatch.setenv("ONRECORD_INDEX", str(tmp_path / "idx"))
    result = CliRunner().invoke(app, ["index", str(root), "--strict"])
    assert result.exit_code == 1, result.output
    assert "1 added" in result.output and "1 skipped" in result.output
    assert "empty.txt" in result.output


def test_model_mismatch_and_one_writer(small_index, tmp_path):
    gen = open_current(small_index)
    ident = gen.identity()
    gen.close()
    copy = tmp_path / "idx"
    shutil.copytree(small_index, copy, ignore=shutil.ignore_patterns("writer.lock"))
    with pytest.raises(ModelMismatch, match="Rebuild"):
        Writer(copy, IndexIdentity("another-model", 768, ident.chunker))
    w = Writer(copy, ident)
    with pytest.raises(IndexLocked):
        Writer(copy, ident, wait=0.1)
    w.abort()
    assert not list(copy.glob("gen-*.tmp"))
    with pytest.raises(IndexMissing, match="onrecord index"):
        open_current(tmp_path / "nothing-here")


def test_an_aborted_write_leaves_the_live_generation_serving(index_copy):
    gen = open_current(index_copy)
    ident, before, name = gen.identity(), gen.counts(), gen.name
    w = Writer(index_copy, ident)
    w.remove_file(gen.db.execute("SELECT source FROM files LIMIT 1").fetchone()[0])
    w.add_vectors([10**9], np.ones((1, ident.dimension), dtype=np.float32))
    w.abort()  # as if it died here
    gen.close()
    again = open_current(index_copy)
    try:
        assert again.name == name and again.counts() == before
    finally:
        again.close()


def test_index_cli_on_missing_index_says_how_to_build(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from bot.cli import app

    monkeypatch.setenv("ONRECORD_INDEX", str(tmp_path / "none"))
    result = CliRunner().invoke(app, ["ask", "What did Lavrov say?"])
    assert result.exit_code == 2
    assert "onrecord index" in result.output
    assert not isinstance(result.exception, sqlite3.Error)
