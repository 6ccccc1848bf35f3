"""The index on disk: generations of (SQLite store + FAISS vectors), switched atomically.

    INDEX/
      CURRENT              name of the live generation (replaced in one step)
      writer.lock          held by the one indexer allowed to write
      gen-<stamp>/         store.sqlite, vectors.faiss, readers.lock

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
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from filelock import FileLock, Timeout

from .errors import IndexLocked, IndexMissing, ModelMismatch

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
CREATE TABLE IF NOT EXISTS versions (  -- documents that are the same statement in other languages
    doc_a INTEGER NOT NULL, doc_b INTEGER NOT NULL, method TEXT NOT NULL, score REAL,
    PRIMARY KEY (doc_a, doc_b)
);
CREATE TABLE IF NOT EXISTS sentence_versions (
    sent_a INTEGER NOT NULL, sent_b INTEGER NOT NULL, score REAL,
    PRIMARY KEY (sent_a, sent_b)
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id);
CREATE INDEX IF NOT EXISTS sentences_passage ON sentences(passage_id);
CREATE INDEX IF NOT EXISTS sentences_doc ON sentences(doc_id);
CREATE INDEX IF NOT EXISTS documents_file ON documents(file_id);
CREATE INDEX IF NOT EXISTS files_sha ON files(sha256);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    stems, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_vocab USING fts5vocab(passages_fts, 'row');
CREATE VIRTUAL TABLE IF NOT EXISTS sentences_fts USING fts5(
    norm, tokenize = 'unicode61 remove_diacritics 2'
);
"""


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        con = sqlite3.connect(path, check_same_thread=False)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA foreign_keys = ON")
    return con


@dataclass
class IndexIdentity:
    """What must match for vectors to be comparable: the model and the chunking."""

    model: str
    dimension: int
    chunker: str

    def check(self, other: "IndexIdentity", index_dir: Path) -> None:
        if self != other:
            raise ModelMismatch(
                f"the index at {index_dir} was built with model {other.model!r} (dimension {other.dimension}, "
                f"chunker {other.chunker}), not {self.model!r} (dimension {self.dimension}, chunker {self.chunker}). "
                f"Rebuild it: delete {index_dir} (or pass another --index) and run `onrecord index` again, "
                "or set ONRECORD_MODEL back to the model that built it."
            )


class Generation:
    """One complete, immutable-once-published index: SQLite store plus FAISS vectors."""

    def __init__(self, path: Path, readonly: bool = True):
        self.path = path
        self.name = path.name
        self.readonly = readonly
        self._reader_lock = None
        if readonly:  # lock first, so the writer cannot remove it between our checks and our reads
            self._reader_lock = open(path / "readers.lock", "a+")
            fcntl.flock(self._reader_lock, fcntl.LOCK_SH)
        try:
            self.db = connect(path / "store.sqlite", readonly=readonly)
            vec = path / "vectors.faiss"
            self.vectors = faiss.read_index(str(vec)) if vec.exists() else None
        except BaseException:
            self.close()
            raise

    def doc_text(self, doc_id: int) -> str:
        """The text a document's offsets index (cached: documents can be whole sittings)."""
        cache = self.__dict__.setdefault("_texts", {})
        if doc_id not in cache:
            if len(cache) > 512:
                cache.clear()
            row = self.db.execute("SELECT text FROM documents WHERE id = ?", (doc_id,)).fetchone()
            cache[doc_id] = row[0] if row else ""
        return cache[doc_id]

    def passage_count(self) -> int:
        """Passages in this generation (it never changes once published, so counted once)."""
        if "_passages" not in self.__dict__:
            self._passages = self.db.execute("SELECT count(*) FROM passages").fetchone()[0]
        return self._passages

    def passage_languages(self) -> dict[int, str]:
        """Each passage's document language (read once per generation)."""
        if "_passage_lang" not in self.__dict__:
            self._passage_lang = dict(self.db.execute(
                "SELECT p.id, d.language FROM passages p JOIN documents d ON d.id = p.doc_id").fetchall())
        return self._passage_lang

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def identity(self) -> IndexIdentity | None:
        model = self.meta("model")
        if model is None:
            return None
        return IndexIdentity(model, int(self.meta("dimension") or 0), self.meta("chunker") or "")

    def counts(self) -> dict:
        q = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "files": q("SELECT count(*) FROM files"),
            "documents": q("SELECT count(*) FROM documents"),
            "passages": q("SELECT count(*) FROM passages"),
        }

    def close(self) -> None:
        try:
            if getattr(self, "db", None) is not None:
                self.db.close()
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


def open_current(index_dir: Path) -> Generation:
    """Open the live generation for reading; raises IndexMissing with how to build one."""
    index_dir = Path(index_dir)
    for _ in range(5):  # CURRENT may move on between reading it and opening the generation
        name = _current_name(index_dir)
        if name is None:
            break
        path = index_dir / name
        if (path / "store.sqlite").exists():
            try:
                return Generation(path, readonly=True)
            except (sqlite3.OperationalError, FileNotFoundError):
                time.sleep(0.05)
                continue
    raise IndexMissing(
        f"no index at {index_dir}. Build one with `onrecord index PATH --index {index_dir}` "
        "(PATH: a transcripts file or folder)."
    )


def current_name(index_dir: Path) -> str | None:
    return _current_name(Path(index_dir))


class Writer:
    """The single writer of an index folder: builds the next generation and publishes it."""

    def __init__(self, index_dir: Path, identity: IndexIdentity, wait: float = 0):
        self.index_dir = Path(index_dir)
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
                old_identity = Generation(self.index_dir / base, readonly=False)
                try:
                    found = old_identity.identity()
                    if found is not None:
                        identity.check(found, self.index_dir)
                    vectors = old_identity.vectors
                finally:
                    old_identity.close()
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

    # -- changes ---------------------------------------------------------------------------
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
            self.db.executemany(
                "DELETE FROM sentence_versions WHERE sent_a = ? OR sent_b = ?", [(s, s) for s in sids])
        if docs:
            self.db.executemany("DELETE FROM versions WHERE doc_a = ? OR doc_b = ?", [(d, d) for d in docs])
            self.db.executemany("DELETE FROM sentences WHERE doc_id = ?", [(d,) for d in docs])
        self.db.execute("DELETE FROM files WHERE id = ?", (file_id,))
        self.db.execute("UPDATE files SET duplicate_of = NULL WHERE duplicate_of = ?", (source,))
        return len(docs)

    def add_vectors(self, ids: list[int], vectors: np.ndarray) -> None:
        if ids:
            self.vectors.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    # -- publish ---------------------------------------------------------------------------
    def commit(self) -> str:
        """Publish the new generation: after this, new readers see it; returns its name."""
        self.db.commit()
        self.db.execute("PRAGMA optimize")
        self.db.close()
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
