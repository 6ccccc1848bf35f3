"""The reference backend: generations of (SQLite store + FAISS vectors) in a folder, switched atomically.

    INDEX/
      CURRENT              name of the live generation (replaced in one step)
      writer.lock          held by the one indexer allowed to write
      gen-<stamp>/         store.sqlite, vectors.faiss, readers.lock

vectors.faiss is exact (FAISS flat) while the generation is small, approximate (IVF-SQ8, memory-mapped
when read) from ONRECORD_ANN_THRESHOLD passages on: see ann.py; the meta table's `vector_index` says
which (absent: flat).

A writer builds a new generation beside the live one (starting from a copy of it), then points
CURRENT at it. Readers open the generation CURRENT names and hold a shared lock on its
`readers.lock` while they use it, so old generations are removed only once unused.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Iterable

import faiss
import numpy as np
from filelock import FileLock, Timeout

from ..errors import IndexLocked, IndexMissing
from . import ann
from .ann import AnnConfig
from .interface import (
    DocumentRecord,
    FileRecord,
    IndexIdentity,
    NewPassage,
    PassageFilter,
    PassageRecord,
    SentenceRecord,
    FILTER_CACHE,
    TERM_CACHE,
)

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    source TEXT UNIQUE NOT NULL,     -- path as indexed (absolute)
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    duplicate_of TEXT,               -- same content already indexed under this source
    indexed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    title TEXT, speaker TEXT, date TEXT, language TEXT, url TEXT,
    kind TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    text TEXT NOT NULL               -- the text all offsets of this document index
);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY,          -- also the FAISS id
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    speaker TEXT, paragraph INTEGER NOT NULL, time REAL, context TEXT,
    spoken_language TEXT,            -- ISO 639-1, when the words were spoken in another language
    role TEXT                        -- what the record calls the speaker (office, party, group)
);
CREATE TABLE IF NOT EXISTS sentences (
    id INTEGER PRIMARY KEY,
    passage_id INTEGER NOT NULL REFERENCES passages(id) ON DELETE CASCADE,
    doc_id INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    paragraph INTEGER NOT NULL, speaker TEXT, time REAL,
    norm TEXT NOT NULL               -- normalised text for exact and fuzzy quote lookup
);
CREATE TABLE IF NOT EXISTS sentence_vectors (  -- sentences embedded at index time (float16)
    id INTEGER PRIMARY KEY,          -- the sentence's id
    vec BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS word_vectors (  -- capitalised words and pairs of the passages (names), embedded
    word TEXT PRIMARY KEY,                 -- at index time (float16): what a question's missing name is
    vec BLOB NOT NULL                      -- compared with; kept when their files go (a word's vector is the model's)
);
CREATE TABLE IF NOT EXISTS versions (  -- documents that are the same statement in other languages
    doc_a INTEGER NOT NULL, doc_b INTEGER NOT NULL, method TEXT NOT NULL, score REAL,
    PRIMARY KEY (doc_a, doc_b)
);
CREATE TABLE IF NOT EXISTS sentence_versions (
    sent_a INTEGER NOT NULL, sent_b INTEGER NOT NULL, score REAL,
    PRIMARY KEY (sent_a, sent_b)
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id);
CREATE INDEX IF NOT EXISTS passages_speaker ON passages(speaker);
CREATE INDEX IF NOT EXISTS sentences_passage ON sentences(passage_id);
CREATE INDEX IF NOT EXISTS sentences_doc ON sentences(doc_id, start);
CREATE INDEX IF NOT EXISTS documents_file ON documents(file_id);
CREATE INDEX IF NOT EXISTS documents_filter ON documents(file_id, language, date, title);  -- filter_sql's
CREATE INDEX IF NOT EXISTS files_sha ON files(sha256);
CREATE INDEX IF NOT EXISTS files_duplicate ON files(duplicate_of);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    stems, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_vocab USING fts5vocab(passages_fts, 'row');
CREATE VIRTUAL TABLE IF NOT EXISTS sentences_fts USING fts5(
    norm, tokenize = 'unicode61 remove_diacritics 2'
);
"""

_DOC = 'SELECT d.id, f.source, d.ordinal, d.title, d.speaker, d.date, d.language, d.url, d.kind, d.start, d."end" ' \
       "FROM documents d JOIN files f ON f.id = d.file_id"
_PASSAGE = 'SELECT id, doc_id, start, "end", speaker, paragraph, time, context, spoken_language, role FROM passages'
_SENTENCE = 'SELECT id, passage_id, doc_id, start, "end", paragraph, speaker, time, norm FROM sentences'
_MAX_VARS = 900  # ids per IN (...) list


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        con = sqlite3.connect(path, check_same_thread=False)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA foreign_keys = ON")
    return con


def fts_query(terms: Iterable[str]) -> str | None:
    """An FTS5 OR-query over distinct terms, each quoted (no FTS syntax can leak in)."""
    seen: list[str] = []
    for t in terms:
        t = t.replace('"', "")
        if len(t) > 1 and t not in seen:
            seen.append(t)
    if not seen:
        return None
    return " OR ".join(f'"{t}"' for t in seen[:64])


def filter_sql(where: PassageFilter) -> tuple[str, list]:
    """`where` as SQL conditions over passages p alone: what a filter asks of a passage's document
    (date, language, source, a title naming the speaker) is one subquery over documents, which the
    `documents_filter` index answers without reading the documents' rows (each holds its text: a scan
    of them read the archive), so a filter costs about the passages it admits, not the archive's size."""
    conds: list[str] = []
    args: list = []
    if where.speakers is not None:
        names = sorted(set(where.speakers))
        cond = f"p.speaker IN ({','.join('?' * len(names))})" if names else "0"
        args += names
        if where.titled:  # unattributed passages of documents titled with the speaker's name
            words = sorted(set(where.titled))
            # "+": found through their documents (passages_doc), not among every unattributed passage
            cond = (f"({cond} OR (+p.speaker IS NULL AND p.doc_id IN (SELECT id FROM documents WHERE "
                    f"{' OR '.join(['instr(title, ?) > 0'] * len(words))})))")
            args += words
        conds.append(cond)
    docs: list[str] = []
    # a partial date ("2024", "2024-02") counts as its first day; no date: no match
    if where.date_from is not None:
        docs.append("substr(d.date || '-01-01', 1, 10) >= ?")
        args.append(where.date_from)
    if where.date_to is not None:
        docs.append("substr(d.date || '-01-01', 1, 10) <= ?")
        args.append(where.date_to)
    if where.languages is not None:
        langs = sorted(set(where.languages))
        docs.append(f"d.language IN ({','.join('?' * len(langs))})" if langs else "0")
        args += langs
    if where.sources is not None:
        needles = where.source_needles()
        docs.append("d.file_id IN (SELECT fl.id FROM files fl WHERE "
                    + " OR ".join(["instr('/' || fl.source || '/', ?) > 0"] * len(needles)) + ")"
                    if needles else "0")
        args += needles
    if docs:
        conds.append(f"p.doc_id IN (SELECT d.id FROM documents d WHERE {' AND '.join(docs)})")
    return " AND ".join(conds) or "1", args




def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), _MAX_VARS):
        yield ids[i : i + _MAX_VARS]


FTS_OVERFETCH = 8  # full-text matches read per passage wanted in one language (_terms_in_language)
RECORD_CACHE = 50_000  # records a reader remembers (passages, documents, terms) before starting afresh
_NOT_READ = object()


class _Records:
    """Reads shared by the reader and the writer (both hold `self.db`)."""

    db: sqlite3.Connection

    def document(self, doc_id: int) -> DocumentRecord | None:
        row = self.db.execute(f"{_DOC} WHERE d.id = ?", (doc_id,)).fetchone()
        return DocumentRecord(*row) if row else None

    def counts(self) -> dict[str, int]:
        row = self.db.execute(
            "SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM documents), (SELECT count(*) FROM passages)"
        ).fetchone()
        return {"files": row[0], "documents": row[1], "passages": row[2]}

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def sentence_vectors(self, ids: Iterable[int]) -> dict[int, np.ndarray]:
        """Vectors of these sentences stored at index time (a generation written before they were
        stored has none)."""
        return self._vectors("sentence_vectors", "id", ids)

    def word_vectors(self, words: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors of these words stored at index time (none in a generation written before they were)."""
        return self._vectors("word_vectors", "word", words)

    def _vectors(self, table: str, key: str, keys: Iterable) -> dict:
        """float16 vectors of `table` by `key`, as float32 arrays; keys without one are absent."""
        if not self._has_table(table):
            return {}
        out: dict = {}
        for chunk in _chunks(list(dict.fromkeys(keys))):
            for k, blob in self.db.execute(
                    f"SELECT {key}, vec FROM {table} WHERE {key} IN ({','.join('?' * len(chunk))})", chunk):
                out[k] = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
        return out

    def _has_table(self, name: str) -> bool:
        tables = self.__dict__.setdefault("_tables", {})
        if name not in tables:
            tables[name] = self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None
        return tables[name]


class Generation(_Records):
    """One published generation, read-only: implements index.store.interface.StoreReader."""

    def __init__(self, path: Path, readonly: bool = True, ann_config: AnnConfig | None = None):
        self.path = path
        self.name = path.name
        self._reader_lock = None
        self._texts: dict[int, str] = {}
        self._languages: dict[int, str | None] | None = None
        self._passage_total: int | None = None
        self._term_df: dict[str, int] = {}
        self._id_sets: dict[tuple, np.ndarray] = {}  # filter query -> admitted passage ids
        self._records: dict[tuple[str, int], object] = {}  # (kind, id) -> record: a generation never changes
        self._readonly = readonly
        self._speaker_list: list[str] | None = None
        if readonly:  # lock first, so the writer cannot remove it between our checks and our reads
            self._reader_lock = open(path / "readers.lock", "a+")
            fcntl.flock(self._reader_lock, fcntl.LOCK_SH)
        try:
            self.db = connect(path / "store.sqlite", readonly=readonly)
            vec = path / "vectors.faiss"
            self.approximate = self._meta("vector_index") not in (None, ann.FLAT)
            if self.approximate:  # a writer (readonly=False) changes it: in memory, not mapped
                self.ann = ann_config or AnnConfig.from_settings()
                self.vectors = ann.read(str(vec), readonly and self.ann.mmap) if vec.exists() else None
            else:
                self.vectors = faiss.read_index(str(vec)) if vec.exists() else None
        except BaseException:
            self.close()
            raise

    # -- what the generation is ---------------------------------------------------------------
    def identity(self) -> IndexIdentity | None:
        model = self._meta("model")
        if model is None:
            return None
        return IndexIdentity(model, int(self._meta("dimension") or 0), self._meta("chunker") or "")

    def passage_count(self) -> int:
        """Passages in this generation (it never changes once published, so counted once)."""
        if self._passage_total is None:
            self._passage_total = self.db.execute("SELECT count(*) FROM passages").fetchone()[0]
        return self._passage_total

    # -- records --------------------------------------------------------------------------------
    def document(self, doc_id: int) -> DocumentRecord | None:
        return self._remembered("document", doc_id, super().document)

    def document_text(self, doc_id: int) -> str:
        """The text a document's offsets index (cached: documents can be whole sittings)."""
        if doc_id not in self._texts:
            if len(self._texts) > 512:
                self._texts.clear()
            row = self.db.execute("SELECT text FROM documents WHERE id = ?", (doc_id,)).fetchone()
            self._texts[doc_id] = row[0] if row else ""
        return self._texts[doc_id]

    def documents(self, limit: int = 100, after: int = 0) -> list[DocumentRecord]:
        rows = self.db.execute(f"{_DOC} WHERE d.id > ? ORDER BY d.id LIMIT ?", (after, limit)).fetchall()
        return [DocumentRecord(*r) for r in rows]

    def passage(self, passage_id: int) -> PassageRecord | None:
        return self._remembered("passage", passage_id, self._read_passage)

    def _read_passage(self, passage_id: int) -> PassageRecord | None:
        row = self.db.execute(f"{_PASSAGE} WHERE id = ?", (passage_id,)).fetchone()
        return PassageRecord(*row) if row else None

    def passages(self, ids: Iterable[int]) -> dict[int, PassageRecord]:
        out: dict[int, PassageRecord] = {}
        todo = []
        for i in dict.fromkeys(ids):
            known = self._records.get(("passage", i), _NOT_READ)
            if known is _NOT_READ:
                todo.append(i)
            elif known is not None:
                out[i] = known
        if len(self._records) + len(todo) >= RECORD_CACHE:
            self._records.clear()
        for part in _chunks(todo):
            marks = ",".join("?" * len(part))
            for row in self.db.execute(f"{_PASSAGE} WHERE id IN ({marks})", part):
                out[row[0]] = self._records[("passage", row[0])] = PassageRecord(*row)
        return out

    def passage_terms(self, passage_id: int) -> frozenset[str]:
        return self._remembered("terms", passage_id, self._read_terms)

    def _read_terms(self, passage_id: int) -> frozenset[str]:
        row = self.db.execute("SELECT stems FROM passages_fts WHERE rowid = ?", (passage_id,)).fetchone()
        return frozenset(row[0].split()) if row else frozenset()

    def _remembered(self, kind: str, key: int, read):
        """A record of this generation, read once: a question reads each candidate's passage, document
        and terms several times (names check, words covered, quotes), and candidates recur."""
        found = self._records.get((kind, key), _NOT_READ)
        if found is _NOT_READ:
            if len(self._records) >= RECORD_CACHE:
                self._records.clear()
            found = self._records[(kind, key)] = read(key)
        return found

    def _language_map(self) -> dict[int, str | None]:
        if self._languages is None:  # read once per generation
            self._languages = dict(self.db.execute(
                "SELECT p.id, d.language FROM passages p JOIN documents d ON d.id = p.doc_id").fetchall())
        return self._languages

    def passage_language(self, passage_id: int) -> str | None:
        return self._language_map().get(passage_id)

    def passage_languages(self, ids: Iterable[int]) -> dict[int, str | None]:
        langs = self._language_map()
        return {i: langs.get(i) for i in ids}

    def speakers(self) -> list[str]:
        """Every speaker of the generation (read once per reader: a scan of the passages, 80 ms at 1M)."""
        if self._speaker_list is None or not self._readonly:
            self._speaker_list = [r[0] for r in self.db.execute(
                "SELECT DISTINCT speaker FROM passages WHERE speaker IS NOT NULL")]
        return list(self._speaker_list)

    def sources(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT source FROM files ORDER BY source")]

    def count_documents(self, where: PassageFilter) -> int:
        cond, args = filter_sql(where)
        return self.db.execute(f"SELECT count(DISTINCT p.doc_id) FROM passages p WHERE {cond}", args).fetchone()[0]

    def sentences_of_passage(self, passage_id: int) -> list[SentenceRecord]:
        rows = self.db.execute(f"{_SENTENCE} WHERE passage_id = ? ORDER BY start", (passage_id,)).fetchall()
        return [SentenceRecord(*r) for r in rows]

    def sentences_of_passages(self, ids: Iterable[int]) -> dict[int, list[SentenceRecord]]:
        """Each passage's sentences in order (every id asked for is a key), read in one query per 900 ids."""
        ids = list(dict.fromkeys(int(i) for i in ids))
        out: dict[int, list[SentenceRecord]] = {i: [] for i in ids}
        for n in range(0, len(ids), _MAX_VARS):
            part = ids[n : n + _MAX_VARS]
            q = f"{_SENTENCE} WHERE passage_id IN ({','.join('?' * len(part))}) ORDER BY passage_id, start"
            for r in self.db.execute(q, part).fetchall():
                out[r[1]].append(SentenceRecord(*r))
        return out

    def sentences_of_document(self, doc_id: int, start: int = 0, end: int | None = None,
                              contained: bool = False) -> list[SentenceRecord]:
        """The document's sentences overlapping [start, end) (or lying inside it), in order."""
        end = end if end is not None else 2**62
        cond = 'start >= ? AND "end" <= ?' if contained else '"end" > ? AND start < ?'
        rows = self.db.execute(f"{_SENTENCE} WHERE doc_id = ? AND {cond} ORDER BY start",
                               (doc_id, start, end)).fetchall()
        return [SentenceRecord(*r) for r in rows]

    def sentences(self, ids: Iterable[int]) -> list[SentenceRecord]:
        out: list[SentenceRecord] = []
        for part in _chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(part))
            out += [SentenceRecord(*r) for r in self.db.execute(f"{_SENTENCE} WHERE id IN ({marks})", part)]
        return sorted(out, key=lambda s: (s.doc_id, s.start))

    def next_sentence(self, sentence: SentenceRecord) -> SentenceRecord | None:
        row = self.db.execute(f"{_SENTENCE} WHERE doc_id = ? AND paragraph = ? AND start > ? ORDER BY start LIMIT 1",
                              (sentence.doc_id, sentence.paragraph, sentence.start)).fetchone()
        return SentenceRecord(*row) if row else None

    def aligned_sentences(self, sentence_ids: Iterable[int]) -> list[SentenceRecord]:
        ids = list(sentence_ids)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"{_SENTENCE} WHERE id IN (SELECT sent_b FROM sentence_versions WHERE sent_a IN ({marks})) "
            "ORDER BY doc_id, start", ids).fetchall()
        return [SentenceRecord(*r) for r in rows]

    def versions(self, doc_id: int) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT doc_b FROM versions WHERE doc_a = ?", (doc_id,))]

    def earlier_in_file(self, doc_id: int, others: Iterable[int]) -> int | None:
        """Of `others`, the document that comes first in `doc_id`'s own file, if it comes before it."""
        others = list(others)
        if not others:
            return None
        marks = ",".join("?" * len(others))
        row = self.db.execute(
            f"SELECT o.id FROM documents o JOIN documents d ON d.id = ? WHERE o.id IN ({marks}) "
            "AND o.file_id = d.file_id AND o.ordinal < d.ordinal ORDER BY o.ordinal LIMIT 1",
            (doc_id, *others)).fetchone()
        return row[0] if row else None

    # -- search -----------------------------------------------------------------------------------
    def term_document_frequency(self, terms: Iterable[str]) -> dict[str, int]:
        """Passages holding each stem (remembered: a published generation never changes, and one
        question asks for the same stems once per candidate)."""
        out = {}
        for t in set(terms):
            if t not in self._term_df:
                if len(self._term_df) >= TERM_CACHE:
                    self._term_df.clear()
                row = self.db.execute("SELECT doc FROM passages_vocab WHERE term = ?", (t,)).fetchone()
                self._term_df[t] = row[0] if row else 0
            out[t] = self._term_df[t]
        return out

    def search_vectors(self, query: np.ndarray, k: int, speakers: Iterable[str] | None = None,
                       where: PassageFilter | None = None) -> list[tuple[int, float]]:
        """The k passages nearest `query`; with `speakers` (and/or `where`), only the passages they admit
        (a filtered search inside FAISS, not a scan of reconstructed vectors)."""
        if self.vectors is None or self.vectors.ntotal == 0 or k <= 0:
            return []
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)
        params = None
        if speakers is not None:
            names = sorted(set(speakers))
            if not names:
                return []
            ids = self._passages_of_speakers(tuple(names))
            if len(ids) == 0:
                return []
            k = min(k, len(ids))
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(ids))
        if where is not None and not where.empty:
            admitted = self._passages_admitted(where)
            if params is not None:  # both: the passages of those speakers the filter admits
                admitted = np.intersect1d(admitted, ids)
            if len(admitted) == 0:
                return []
            k = min(k, len(admitted))
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(admitted))
        k = min(k, self.vectors.ntotal)
        if self.approximate:  # the same filter, through the approximate index (or exactly over a few)
            # sorted and unique already (_ids; intersect1d)
            chosen = None if params is None else (admitted if where is not None and not where.empty else ids)
            return ann.search(self.vectors, q, k, chosen, self.ann)
        scores, found = self.vectors.search(q, k, params=params) if params else self.vectors.search(q, k)
        return [(int(i), float(s)) for i, s in zip(found[0], scores[0]) if i >= 0]

    def _passages_of_speakers(self, names: tuple[str, ...]) -> np.ndarray:
        """Ids of the speakers' passages (a speaker named often holds a large share of an archive,
        100k ids at 1M passages)."""
        marks = ",".join("?" * len(names))
        return self._ids(f"SELECT group_concat(id) FROM passages WHERE speaker IN ({marks})", names)

    def _passages_admitted(self, where: PassageFilter) -> np.ndarray:
        """Ids of the passages a filter admits (a collection can be a tenth of an archive)."""
        cond, args = filter_sql(where)
        return self._ids(f"SELECT group_concat(p.id) FROM passages p WHERE {cond}", args)

    def _ids(self, sql: str, args) -> np.ndarray:
        """Sorted ids from a query returning one group_concat: one string from SQLite, parsed by numpy
        (no Python object per passage); the last FILTER_CACHE answers remembered, read-only."""
        key = (sql, tuple(args))
        ids = self._id_sets.get(key)
        if ids is None:
            joined = self.db.execute(sql, list(args)).fetchone()[0]
            ids = np.sort(np.fromstring(joined, dtype=np.int64, sep=",")) if joined else np.zeros(0, np.int64)
            ids.flags.writeable = False  # shared by the questions that ask the same filter
            if len(self._id_sets) >= FILTER_CACHE:
                self._id_sets.pop(next(iter(self._id_sets)))
            self._id_sets[key] = ids
        return ids

    def search_passage_terms(self, terms: list[str], language: str | None, k: int,
                             where: PassageFilter | None = None) -> list[tuple[int, float]]:
        """BM25 over the passages' stems, in documents of `language` when given, among the passages
        `where` admits when given."""
        query = fts_query(terms)
        if not query:
            return []
        if where is not None and not where.empty:
            cond, args = filter_sql(where)
            lang = "AND d.language = ? " if language else ""
            rows = self.db.execute(
                "SELECT f.rowid, bm25(passages_fts) AS s FROM passages_fts f JOIN passages p ON p.id = f.rowid "
                f"JOIN documents d ON d.id = p.doc_id WHERE passages_fts MATCH ? {lang}AND {cond} ORDER BY s, f.rowid LIMIT ?",
                (query, *([language] if language else []), *args, k)).fetchall()
        elif language:
            rows = self._terms_in_language(query, language, k)
        else:
            rows = self.db.execute(
                "SELECT rowid, bm25(passages_fts) AS s FROM passages_fts WHERE passages_fts MATCH ? "
                "ORDER BY s, rowid LIMIT ?", (query, k)).fetchall()
        return [(int(r[0]), -float(r[1])) for r in rows]

    def _terms_in_language(self, query: str, language: str, k: int) -> list[tuple]:
        """The k best passages of `language` for an FTS query: the best FTS_OVERFETCH * k of every
        language, kept by the passages' languages (held in memory); only when fewer than k are left
        (a language with few passages among the matches), every match joined with its document's
        language. The same passages in the same order either way (ties by id): joining first read every
        matching passage's document row (60 of 90 ms a question at 1M passages)."""
        rows = self.db.execute(
            "SELECT rowid, bm25(passages_fts) AS s FROM passages_fts WHERE passages_fts MATCH ? "
            "ORDER BY s, rowid LIMIT ?", (query, FTS_OVERFETCH * k)).fetchall()
        langs = self._language_map()
        kept = [r for r in rows if langs.get(r[0]) == language][:k]
        if len(kept) == k or len(rows) < FTS_OVERFETCH * k:  # k found, or every match seen
            return kept
        return self.db.execute(
            "SELECT f.rowid, bm25(passages_fts) AS s FROM passages_fts f JOIN passages p ON p.id = f.rowid "
            "JOIN documents d ON d.id = p.doc_id WHERE passages_fts MATCH ? AND d.language = ? "
            "ORDER BY s, f.rowid LIMIT ?", (query, language, k)).fetchall()

    def search_sentence_phrase(self, phrase: str, k: int) -> list[int]:
        phrase = phrase.replace('"', "").strip()
        if not phrase:
            return []
        return [r[0] for r in self.db.execute(
            "SELECT rowid FROM sentences_fts WHERE sentences_fts MATCH ? LIMIT ?", (f'"{phrase}"', k))]

    def search_sentence_terms(self, terms: list[str], k: int) -> list[int]:
        query = fts_query(terms)
        if not query:
            return []
        return [r[0] for r in self.db.execute(
            "SELECT rowid FROM sentences_fts WHERE sentences_fts MATCH ? ORDER BY bm25(sentences_fts) LIMIT ?",
            (query, k))]

    def close(self) -> None:
        try:
            if getattr(self, "db", None) is not None:
                self.db.close()
                self.db = None
        finally:
            if self._reader_lock is not None:
                fcntl.flock(self._reader_lock, fcntl.LOCK_UN)
                self._reader_lock.close()
                self._reader_lock = None


def _current_name(index_dir: Path) -> str | None:
    try:
        name = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def open_current(index_dir: Path, ann_config: AnnConfig | None = None) -> Generation:
    """Open the live generation for reading; raises IndexMissing with how to build one."""
    index_dir = Path(index_dir)
    for _ in range(5):  # CURRENT may move on between reading it and opening the generation
        name = _current_name(index_dir)
        if name is None:
            break
        path = index_dir / name
        if (path / "store.sqlite").exists():
            try:
                return Generation(path, readonly=True, ann_config=ann_config)
            except (sqlite3.OperationalError, FileNotFoundError):
                time.sleep(0.05)
                continue
    raise IndexMissing(
        f"no index at {index_dir}. Build one with `onrecord index PATH --index {index_dir}` "
        "(PATH: a transcripts file or folder)."
    )


def current_name(index_dir: Path) -> str | None:
    return _current_name(Path(index_dir))


class Writer(_Records):
    """The single writer of an index folder: implements index.store.interface.StoreWriter."""

    def __init__(self, index_dir: Path, identity: IndexIdentity, wait: float = 0,
                 ann_config: AnnConfig | None = None):
        self.index_dir = Path(index_dir)
        self.ann = ann_config or AnnConfig.from_settings()
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self.lock = FileLock(str(self.index_dir / "writer.lock"))
        try:
            self.lock.acquire(timeout=wait)
        except Timeout as exc:
            raise IndexLocked(
                f"another indexer is writing to {self.index_dir}; wait for it to finish (or pass --wait)."
            ) from exc
        try:
            self._remove_unused()
            base = _current_name(self.index_dir)
            self.path = self.index_dir / f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}.tmp"
            self.path.mkdir()
            if base and (self.index_dir / base / "store.sqlite").exists():
                src = connect(self.index_dir / base / "store.sqlite", readonly=True)
                dst = connect(self.path / "store.sqlite")
                src.backup(dst)
                src.close()
                dst.close()
                old = Generation(self.index_dir / base, readonly=False, ann_config=self.ann)
                try:
                    found = old.identity()
                    if found is not None:
                        identity.check(found, str(self.index_dir))
                    vectors = old.vectors
                finally:
                    old.close()
            else:
                vectors = None
            self.db = connect(self.path / "store.sqlite")
            self.db.execute("PRAGMA journal_mode = OFF")  # the generation itself is the journal
            self.db.execute("PRAGMA synchronous = OFF")
            self.db.executescript(SCHEMA)
            for key, value in (
                ("schema", str(SCHEMA_VERSION)),
                ("model", identity.model),
                ("dimension", str(identity.dimension)),
                ("chunker", identity.chunker),
            ):
                self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
            self.vectors = vectors or faiss.IndexIDMap2(faiss.IndexFlatIP(identity.dimension))
            self.identity = identity
        except BaseException:
            self.abort()
            raise

    # -- files ------------------------------------------------------------------------------------
    def files(self) -> dict[str, FileRecord]:
        return {r[0]: FileRecord(*r) for r in self.db.execute(
            "SELECT source, sha256, size, mtime, duplicate_of FROM files")}

    def duplicates_of(self, source: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT source FROM files WHERE duplicate_of = ?", (source,))]

    def add_file(self, record: FileRecord) -> int:
        return self.db.execute(
            "INSERT INTO files (source, sha256, size, mtime, duplicate_of, indexed_at) VALUES (?,?,?,?,?,?)",
            (record.source, record.sha256, record.size, record.mtime, record.duplicate_of, time.time()),
        ).lastrowid

    def forget_file(self, source: str) -> None:
        self.db.execute("DELETE FROM files WHERE source = ?", (source,))

    def remove_file(self, source: str) -> int:
        """Drop a file's documents, passages and vectors; returns the number of documents removed."""
        row = self.db.execute("SELECT id FROM files WHERE source = ?", (source,)).fetchone()
        if row is None:
            return 0
        file_id = row[0]
        pids = [r[0] for r in self.db.execute(
            "SELECT p.id FROM passages p JOIN documents d ON d.id = p.doc_id WHERE d.file_id = ?", (file_id,))]
        sids = [r[0] for r in self.db.execute(
            "SELECT s.id FROM sentences s JOIN documents d ON d.id = s.doc_id WHERE d.file_id = ?", (file_id,))]
        docs = [r[0] for r in self.db.execute("SELECT id FROM documents WHERE file_id = ?", (file_id,))]
        if pids:
            self.vectors.remove_ids(np.asarray(pids, dtype=np.int64))
            self.db.executemany("DELETE FROM passages_fts WHERE rowid = ?", [(p,) for p in pids])
        if sids:
            self.db.executemany("DELETE FROM sentences_fts WHERE rowid = ?", [(s,) for s in sids])
            self.db.executemany("DELETE FROM sentence_vectors WHERE id = ?", [(s,) for s in sids])
            self.db.executemany(
                "DELETE FROM sentence_versions WHERE sent_a = ? OR sent_b = ?", [(s, s) for s in sids])
        if docs:
            self.db.executemany("DELETE FROM versions WHERE doc_a = ? OR doc_b = ?", [(d, d) for d in docs])
            self.db.executemany("DELETE FROM sentences WHERE doc_id = ?", [(d,) for d in docs])
        self.db.execute("DELETE FROM files WHERE id = ?", (file_id,))
        self.db.execute("UPDATE files SET duplicate_of = NULL WHERE duplicate_of = ?", (source,))
        return len(docs)

    # -- documents, passages, sentences ------------------------------------------------------------
    def add_document(self, file_id: int, ordinal: int, text: str, start: int, end: int, title: str | None,
                     speaker: str | None, date: str | None, language: str | None, url: str | None,
                     kind: str) -> int:
        return self.db.execute(
            'INSERT INTO documents (file_id, ordinal, title, speaker, date, language, url, kind, start, "end", text) '
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (file_id, ordinal, title, speaker, date, language, url, kind, start, end, text),
        ).lastrowid

    def add_passages(self, doc_id: int, passages: list[NewPassage]) -> list[int]:
        ids = []
        for p in passages:
            pid = self.db.execute(
                'INSERT INTO passages (doc_id, start, "end", speaker, paragraph, time, context, spoken_language, role) '
                "VALUES (?,?,?,?,?,?,?,?,?)",
                (doc_id, p.start, p.end, p.speaker, p.paragraph, p.time, p.context, p.spoken_language, p.role),
            ).lastrowid
            self.db.execute("INSERT INTO passages_fts (rowid, stems) VALUES (?, ?)", (pid, p.terms))
            for s in p.sentences:
                sid = self.db.execute(
                    'INSERT INTO sentences (passage_id, doc_id, start, "end", paragraph, speaker, time, norm) '
                    "VALUES (?,?,?,?,?,?,?,?)",
                    (pid, doc_id, s.start, s.end, s.paragraph, s.speaker, s.time, s.norm),
                ).lastrowid
                self.db.execute("INSERT INTO sentences_fts (rowid, norm) VALUES (?, ?)", (sid, s.norm))
            ids.append(pid)
        return ids

    def add_vectors(self, ids: list[int], vectors: np.ndarray) -> None:
        if ids:
            self.vectors.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def vector_count(self) -> int:
        return int(self.vectors.ntotal)

    def add_sentence_vectors(self, ids: list[int], vectors: np.ndarray) -> None:
        vecs = np.asarray(vectors, dtype=np.float16)
        self.db.executemany("INSERT OR REPLACE INTO sentence_vectors (id, vec) VALUES (?, ?)",
                            [(int(i), v.tobytes()) for i, v in zip(ids, vecs)])

    def add_word_vectors(self, words: list[str], vectors: np.ndarray) -> None:
        vecs = np.asarray(vectors, dtype=np.float16)
        self.db.executemany("INSERT OR REPLACE INTO word_vectors (word, vec) VALUES (?, ?)",
                            [(w, v.tobytes()) for w, v in zip(words, vecs)])

    def word_vector_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM word_vectors").fetchone()[0]

    def documents_with_text(self, limit: int, after: int = 0) -> list[tuple[DocumentRecord, str]]:
        out = []
        for row in self.db.execute(f"{_DOC} WHERE d.id > ? ORDER BY d.id LIMIT ?", (after, limit)).fetchall():
            d = DocumentRecord(*row)
            text = self.db.execute("SELECT text FROM documents WHERE id = ?", (d.id,)).fetchone()[0]
            out.append((d, text[d.start : d.end]))
        return out

    def sentences_without_vectors(self, limit: int, after: int = 0) -> list[tuple[int, str]]:
        rows = self.db.execute(
            'SELECT s.id, s.doc_id, s.start, s."end" FROM sentences s WHERE s.id > ? AND NOT EXISTS '
            "(SELECT 1 FROM sentence_vectors v WHERE v.id = s.id) ORDER BY s.id LIMIT ?", (after, limit)).fetchall()
        texts: dict[int, str] = {}
        out = []
        for sid, doc_id, start, end in rows:
            if doc_id not in texts:
                texts[doc_id] = self.db.execute("SELECT text FROM documents WHERE id = ?", (doc_id,)).fetchone()[0]
            out.append((sid, texts[doc_id][start:end]))
        return out

    # -- versions of one statement -----------------------------------------------------------------
    def documents_of_file(self, source: str) -> list[DocumentRecord]:
        return [DocumentRecord(*r) for r in self.db.execute(f"{_DOC} WHERE f.source = ? ORDER BY d.ordinal",
                                                            (source,))]

    def documents_named(self, file_name: str) -> list[DocumentRecord]:
        """Documents of files whose base name is `file_name` (in any folder)."""
        pattern = "%" + file_name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self.db.execute(f"{_DOC} WHERE f.source LIKE ? ESCAPE '\\'", (pattern,)).fetchall()
        return [DocumentRecord(*r) for r in rows if os.path.basename(r[1]) == file_name]

    def document_sentences(self, doc_id: int) -> list[tuple[int, str]]:
        rows = self.db.execute(
            'SELECT s.id, s.start, s."end", d.text FROM sentences s JOIN documents d ON d.id = s.doc_id '
            "WHERE s.doc_id = ? ORDER BY s.start", (doc_id,)).fetchall()
        return [(r[0], r[3][r[1]:r[2]]) for r in rows]

    def has_version(self, doc_a: int, doc_b: int) -> bool:
        return self.db.execute("SELECT 1 FROM versions WHERE doc_a = ? AND doc_b = ?", (doc_a, doc_b)).fetchone() \
            is not None

    def link_versions(self, doc_a: int, doc_b: int, method: str, score: float,
                      sentence_pairs: list[tuple[int, int, float]]) -> None:
        for a, b in ((doc_a, doc_b), (doc_b, doc_a)):
            self.db.execute("INSERT OR REPLACE INTO versions VALUES (?, ?, ?, ?)", (a, b, method, score))
        for sa, sb, cos in sentence_pairs:
            self.db.execute("INSERT OR REPLACE INTO sentence_versions VALUES (?, ?, ?)", (sa, sb, cos))
            self.db.execute("INSERT OR REPLACE INTO sentence_versions VALUES (?, ?, ?)", (sb, sa, cos))

    # -- publish ------------------------------------------------------------------------------------
    def commit(self) -> str:
        """Publish the new generation: after this, new readers see it; returns its name."""
        self.vectors = ann.settle(self.vectors, self.ann)  # flat while small, approximate past the threshold
        if ann.is_approximate(self.vectors):
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('vector_index', ?)", (ann.describe(self.vectors),))
        else:
            self.db.execute("DELETE FROM meta WHERE key = 'vector_index'")
        self.db.commit()
        self.db.execute("PRAGMA optimize")
        self.db.close()
        self.db = None
        faiss.write_index(self.vectors, str(self.path / "vectors.faiss"))
        final = self.path.with_suffix("")
        for f in (self.path / "store.sqlite", self.path / "vectors.faiss"):
            fd = os.open(f, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        os.rename(self.path, final)
        tmp = self.index_dir / f"CURRENT.{uuid.uuid4().hex[:6]}.tmp"
        tmp.write_text(final.name + "\n", encoding="utf-8")
        fd = os.open(tmp, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        os.replace(tmp, self.index_dir / "CURRENT")
        dfd = os.open(self.index_dir, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
        self._remove_unused()
        self.lock.release()
        return final.name

    def abort(self) -> None:
        try:
            if getattr(self, "db", None) is not None:
                self.db.close()
                self.db = None
        except sqlite3.Error:
            pass
        if getattr(self, "path", None) is not None and self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
        if self.lock.is_locked:
            self.lock.release()

    def _remove_unused(self) -> None:
        """Delete generations that are not live and not held by a reader, and leftovers of killed runs."""
        live = _current_name(self.index_dir)
        for path in self.index_dir.glob("gen-*"):
            if path.name == live or path == getattr(self, "path", None):
                continue
            lock_path = path / "readers.lock"
            if path.suffix != ".tmp" and lock_path.exists():
                with open(lock_path, "a+") as fh:
                    try:
                        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # a reader still answers from it
                    shutil.rmtree(path, ignore_errors=True)
            else:
                shutil.rmtree(path, ignore_errors=True)
        for tmp in self.index_dir.glob("CURRENT.*.tmp"):
            tmp.unlink(missing_ok=True)


class SqliteBackend:
    """An index folder: implements index.store.interface.IndexBackend."""

    def __init__(self, index_dir: Path, ann_config: AnnConfig | None = None):
        self.index_dir = Path(index_dir)
        self.location = str(self.index_dir)
        self.ann = ann_config

    def current(self) -> str | None:
        return _current_name(self.index_dir)

    def open_reader(self) -> Generation:
        return open_current(self.index_dir, self.ann)

    def open_writer(self, identity: IndexIdentity, wait: float = 0) -> Writer:
        return Writer(self.index_dir, identity, wait=wait, ann_config=self.ann)

