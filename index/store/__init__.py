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
    PassageRecord,
    SentenceRecord,
    StoreReader,
    StoreWriter,
)
from .sqlite import SqliteBackend, current_name, open_current

__all__ = [
    "DocumentRecord", "FileRecord", "IndexBackend", "IndexIdentity", "NewPassage", "NewSentence",
    "PassageRecord", "SentenceRecord", "StoreReader", "StoreWriter", "SqliteBackend", "current_name",
    "open_backend", "open_current",
]


def open_backend(index_dir: Path) -> IndexBackend:
    """The backend an index location names (today a folder: SQLite + FAISS)."""
    return SqliteBackend(Path(index_dir))
