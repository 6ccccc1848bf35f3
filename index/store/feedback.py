"""👍/👎 feedback on answers, kept with the question and the quotes shown, in a small SQLite file."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    user TEXT,
    channel TEXT,
    vote INTEGER NOT NULL,          -- +1 or -1
    question TEXT NOT NULL,
    language TEXT,
    quotes TEXT NOT NULL            -- JSON list: text, source, start, end, ...
);
"""


class FeedbackStore:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)

    def add(self, *, vote: int, question: str, quotes: list[dict], user: str | None = None,
            channel: str | None = None, language: str | None = None) -> int:
        vote = 1 if vote > 0 else -1
        with self._lock, self._db:
            cur = self._db.execute(
                "INSERT INTO feedback(at, user, channel, vote, question, language, quotes) VALUES (?,?,?,?,?,?,?)",
                (time.time(), user, channel, vote, question, language, json.dumps(quotes, ensure_ascii=False)),
            )
            return int(cur.lastrowid)

    def all(self) -> list[dict]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, at, user, channel, vote, question, language, quotes FROM feedback ORDER BY id"
            ).fetchall()
        keys = ("id", "at", "user", "channel", "vote", "question", "language", "quotes")
        out = [dict(zip(keys, r)) for r in rows]
        for r in out:
            r["quotes"] = json.loads(r["quotes"])
        return out

    def close(self) -> None:
        with self._lock:
            self._db.close()
