"""Search one index generation through the store interface: dense, full-text, and their fusion."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .store import PassageFilter, StoreReader
from .textnorm import stems

RRF_K = 60
FTS_COMMON = 10_000  # passages: a stem in more is left out of the full-text query (searched_terms)


def rrf(rank: int, weight: float = 1.0) -> float:
    """Reciprocal-rank fusion score of a 0-based rank in one list."""
    return weight / (RRF_K + rank + 1)


@dataclass
class Hit:
    passage_id: int
    score: float  # fused score (higher is better)
    dense: float | None = None  # cosine with the question, when the passage was in the dense list
    speaker_named: bool = False  # the passage's speaker is one the question names
    dense_rank: int | None = None  # 0-based rank in each list it came from
    fts_rank: int | None = None
    speaker_rank: int | None = None


def dense_search(store: StoreReader, query_vec: np.ndarray, k: int, language: str | None = None,
                 other_language_bonus: float = 0.0, speakers: Iterable[str] | None = None,
                 where: PassageFilter | None = None) -> list[tuple[int, float]]:
    """The k passages nearest the question (cosine). With a bonus, passages in a language other than
    `language` gain it before the cut (the model's same-language lean; see bot.answer), from a four
    times deeper search. With `speakers`, only their passages; with `where`, only those it admits."""
    fetch = k * (4 if language and other_language_bonus else 1)
    if where is None:
        out = store.search_vectors(query_vec, fetch, speakers=speakers)
    else:
        out = store.search_vectors(query_vec, fetch, speakers=speakers, where=where)
    if language and other_language_bonus:
        langs = store.passage_languages(i for i, _ in out)
        out = [(i, s + (other_language_bonus if langs.get(i) != language else 0.0)) for i, s in out]
        out.sort(key=lambda t: -t[1])
    return out[:k]


def fts_search(store: StoreReader, question: str, language: str | None, k: int,
               where: PassageFilter | None = None) -> list[tuple[int, float]]:
    """BM25 over stems, in documents of the question's language (stems of one language do not
    match another's; the dense side finds those); with `where`, among the passages it admits."""
    terms = searched_terms(store, stems(question, language))
    if where is None:
        return store.search_passage_terms(terms, language, k)
    return store.search_passage_terms(terms, language, k, where=where)


def searched_terms(store: StoreReader, terms: list[str]) -> list[str]:
    """The stems full-text search looks for: all but those in more than FTS_COMMON passages, whose
    BM25 weight is slight while scoring every passage that holds them grows with the index (synthetic
    1M passages, 80 dev questions: p50 480 ms with every stem, 64 ms past 20,000, 31 ms past 10,000,
    16 ms past 5,000). Below FTS_COMMON passages in all, nothing is left out."""
    if store.passage_count() <= FTS_COMMON:
        return terms
    df = store.term_document_frequency(terms)
    return [t for t in terms if df.get(t, 0) <= FTS_COMMON]


def hybrid_search(
    store: StoreReader,
    query_vec: np.ndarray,
    question: str,
    language: str | None,
    k: int = 50,
    fts_weight: float = 1.0,
    other_language_bonus: float = 0.0,
    where: PassageFilter | None = None,
) -> list[Hit]:
    """Reciprocal-rank fusion of the dense and full-text lists (dense cosine kept for calibration);
    with `where`, both searches run over the passages it admits only."""
    dense = dense_search(store, query_vec, k, language, other_language_bonus, where=where)
    fts = fts_search(store, question, language, k, where=where)
    hits: dict[int, Hit] = {}
    for rank, (pid, cos) in enumerate(dense):
        hits[pid] = Hit(pid, rrf(rank), dense=cos, dense_rank=rank)
    for rank, (pid, _) in enumerate(fts):
        h = hits.setdefault(pid, Hit(pid, 0.0))
        h.score += rrf(rank, fts_weight)
        h.fts_rank = rank
    return sorted(hits.values(), key=lambda h: -h.score)


def idf(store: StoreReader, terms: Iterable[str]) -> dict[str, float]:
    """Inverse document frequency of stems over the generation's passages."""
    total = store.passage_count() or 1
    return {t: math.log(1 + (total - df + 0.5) / (df + 0.5))
            for t, df in store.term_document_frequency(terms).items()}
