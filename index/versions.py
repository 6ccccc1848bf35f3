"""Link versions of one statement in different languages, and align their sentences.

Candidates are documents of the same file (an English statement followed by its Swedish version)
and files of the same name in sibling folders (`1tv-news-ru/X.txt` and `1tv-news-en-mt/X.txt`).
Sentences of linked documents are aligned by embedding similarity: a pair is kept when each is the
other's best match above a threshold, so a quote can be offered in the language asked and its
counterparts listed.
"""
from __future__ import annotations

import os

import numpy as np

from .embedder import Embedder

ALIGN_MIN_COSINE = 0.80


def _candidates(db, doc_id: int) -> list[tuple[int, str]]:
    row = db.execute(
        "SELECT d.id, d.language, d.file_id, f.source FROM documents d JOIN files f ON f.id = d.file_id WHERE d.id = ?",
        (doc_id,),
    ).fetchone()
    if row is None or not row["language"]:
        return []
    found = [
        (r["id"], "same file")
        for r in db.execute(
            "SELECT id FROM documents WHERE file_id = ? AND id != ? AND language IS NOT NULL AND language != ?",
            (row["file_id"], doc_id, row["language"]),
        )
    ]
    source = row["source"]
    name, parent = os.path.basename(source), os.path.dirname(os.path.dirname(source))
    for r in db.execute(
        "SELECT d.id, f.source FROM documents d JOIN files f ON f.id = d.file_id "
        "WHERE f.source LIKE ? AND f.id != ? AND d.language IS NOT NULL AND d.language != ?",
        (f"%{os.sep}{name}", row["file_id"], row["language"]),
    ):
        if os.path.basename(r["source"]) == name and os.path.dirname(os.path.dirname(r["source"])) == parent:
            found.append((r["id"], "same name"))
    return found


def _sentences(db, doc_id: int) -> tuple[list[int], list[str]]:
    rows = db.execute(
        'SELECT s.id, s.start, s."end", d.text FROM sentences s JOIN documents d ON d.id = s.doc_id '
        "WHERE s.doc_id = ? ORDER BY s.start",
        (doc_id,),
    ).fetchall()
    return [r[0] for r in rows], [r[3][r[1] : r[2]] for r in rows]


def align(a: np.ndarray, b: np.ndarray, min_cosine: float = ALIGN_MIN_COSINE) -> list[tuple[int, int, float]]:
    """Mutual best matches above `min_cosine` between two sets of normalised vectors."""
    if len(a) == 0 or len(b) == 0:
        return []
    sim = a @ b.T
    best_b = sim.argmax(axis=1)
    best_a = sim.argmax(axis=0)
    return [(i, int(j), float(sim[i, j])) for i, j in enumerate(best_b) if best_a[j] == i and sim[i, j] >= min_cosine]


def link_versions(writer, embedder: Embedder, doc_ids: list[int]) -> int:
    """Link each new document to its other-language versions; returns the number of links made."""
    db = writer.db
    made = 0
    cache: dict[int, tuple[list[int], np.ndarray]] = {}

    def sents(doc_id: int):
        if doc_id not in cache:
            ids, texts = _sentences(db, doc_id)
            cache[doc_id] = (ids, embedder.embed_passages(texts))
        return cache[doc_id]

    for doc_id in doc_ids:
        for other, method in _candidates(db, doc_id):
            exists = db.execute("SELECT 1 FROM versions WHERE doc_a = ? AND doc_b = ?", (doc_id, other)).fetchone()
            if exists:
                continue
            ids_a, vec_a = sents(doc_id)
            ids_b, vec_b = sents(other)
            pairs = align(vec_a, vec_b)
            score = len(pairs) / max(1, min(len(ids_a), len(ids_b)))
            for a, b in ((doc_id, other), (other, doc_id)):
                db.execute("INSERT OR REPLACE INTO versions VALUES (?, ?, ?, ?)", (a, b, method, score))
            for i, j, cos in pairs:
                db.execute("INSERT OR REPLACE INTO sentence_versions VALUES (?, ?, ?)", (ids_a[i], ids_b[j], cos))
                db.execute("INSERT OR REPLACE INTO sentence_versions VALUES (?, ?, ?)", (ids_b[j], ids_a[i], cos))
            made += 1
    return made
