"""Search one index generation: dense (FAISS), full-text (SQLite FTS5) and their fusion."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .store import Generation
from .textnorm import stems

RRF_K = 60


@dataclass
class Hit:
    passage_id: int
    score: float  # fused score (higher is better)
    dense: float | None = None  # cosine with the question, when the passage was in the dense list


def dense_search(gen: Generation, query_vec: np.ndarray, k: int, language: str | None = None,
                 other_language_bonus: float = 0.0) -> list[tuple[int, float]]:
    """The k passages nearest the question (cosine). With a bonus, passages in a language other than
    `language` gain it before the cut (the model's same-language lean; see bot.engine), from a
    four times deeper search."""
    if gen.vectors is None or gen.vectors.ntotal == 0:
        return []
    fetch = min(k * (4 if language and other_language_bonus else 1), gen.vectors.ntotal)
    scores, ids = gen.vectors.search(np.asarray(query_vec, dtype=np.float32).reshape(1, -1), fetch)
    out = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
    if language and other_language_bonus:
        langs = gen.passage_languages()
        out = [(i, s + (other_language_bonus if langs.get(i) != language else 0.0)) for i, s in out]
        out.sort(key=lambda t: -t[1])
    return out[:k]


def fts_query(terms: list[str]) -> str | None:
    """An FTS5 OR-query over distinct terms, each quoted (no FTS syntax can leak in)."""
    seen = []
    for t in terms:
        if len(t) > 1 and t not in seen:
            seen.append(t)
    if not seen:
        return None
    return " OR ".join('"' + t.replace('"', "") + '"' for t in seen[:64])


def fts_search(gen: Generation, question: str, language: str | None, k: int) -> list[tuple[int, float]]:
    """BM25 over stems, in documents of the question's language (stems of one language do not
    match another's; the dense side finds those)."""
    query = fts_query(stems(question, language))
    if not query:
        return []
    if language:
        rows = gen.db.execute(
            "SELECT f.rowid, bm25(passages_fts) AS s FROM passages_fts f JOIN passages p ON p.id = f.rowid "
            "JOIN documents d ON d.id = p.doc_id WHERE passages_fts MATCH ? AND d.language = ? ORDER BY s LIMIT ?",
            (query, language, k),
        ).fetchall()
    else:
        rows = gen.db.execute(
            "SELECT rowid, bm25(passages_fts) AS s FROM passages_fts WHERE passages_fts MATCH ? ORDER BY s LIMIT ?",
            (query, k),
        ).fetchall()
    return [(int(r[0]), -float(r[1])) for r in rows]


def hybrid_search(
    gen: Generation,
    query_vec: np.ndarray,
    question: str,
    language: str | None,
    k: int = 50,
    fts_weight: float = 1.0,
    other_language_bonus: float = 0.0,
) -> list[Hit]:
    """Reciprocal-rank fusion of the dense and full-text lists (dense cosine kept for calibration)."""
    dense = dense_search(gen, query_vec, k, language, other_language_bonus)
    fts = fts_search(gen, question, language, k)
    hits: dict[int, Hit] = {}
    for rank, (pid, cos) in enumerate(dense):
        hits[pid] = Hit(pid, 1.0 / (RRF_K + rank + 1), dense=cos)
    for rank, (pid, _) in enumerate(fts):
        h = hits.setdefault(pid, Hit(pid, 0.0))
        h.score += fts_weight / (RRF_K + rank + 1)
    return sorted(hits.values(), key=lambda h: -h.score)


def idf(gen: Generation, terms: list[str]) -> dict[str, float]:
    """Inverse document frequency of stems over passages (from the FTS5 vocabulary)."""
    total = gen.passage_count() or 1
    out = {}
    for t in set(terms):
        row = gen.db.execute("SELECT doc FROM passages_vocab WHERE term = ?", (t,)).fetchone()
        df = row[0] if row else 0
        out[t] = math.log(1 + (total - df + 0.5) / (df + 0.5))
    return out
