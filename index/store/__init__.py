"""Where the index lives. `interface.py` says what a store offers; `sqlite.py` is the reference backend
(SQLite + FTS5 + FAISS in a folder); `feedback.py` keeps users' 👍/👎. Nothing outside this package
writes SQL."""
from __future__ import annotations

from pathlib import Path

from .interface import (
    DocumentRecord,
    FileRecord,
    IndexBackend,
    IndexIdentity,
    NewPassage,
    NewSentence,
    PassageFilter,
    PassageRecord,
    SentenceRecord,
    StoreReader,
    StoreWriter,
)
from .sqlite import SqliteBackend, current_name, open_current

__all__ = [
    "DocumentRecord", "FileRecord", "IndexBackend", "IndexIdentity", "NewPassage", "NewSentence",
    "PassageFilter", "PassageRecord", "SentenceRecord", "StoreReader", "StoreWriter", "SqliteBackend", "current_name",
    "all_documents", "open_backend", "open_current",
]


def all_documents(reader: StoreReader, page: int = 500):
    """Every document of a reader's generation, by id, read a page at a time."""
    after = 0
    while docs := reader.documents(limit=page, after=after):
        yield from docs
        after = docs[-1].id


def open_backend(index_dir: Path | str) -> IndexBackend:
    """The backend an index location names: a folder (SQLite + FAISS, the default), or a
    `postgresql://` URL (PostgreSQL + pgvector, index/store/postgres.py; ONRECORD_STORE)."""
    location = str(index_dir)
    for scheme in ("postgresql:", "postgres:"):
        if location.startswith(scheme):
            from .postgres import PostgresBackend  # psycopg is an optional dependency (extra `postgres`)

            if location.startswith(scheme + "//"):
                return PostgresBackend(location)
            # a URL that went through Path lost a slash (and an empty host: pass such URLs as strings)
            return PostgresBackend("postgresql://" + location[len(scheme):].lstrip("/"))
    return SqliteBackend(Path(index_dir))
