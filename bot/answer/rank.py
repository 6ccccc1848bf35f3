"""The ranking stage: candidates in; ordered candidates and whether the record answers out.

One replaceable stage (`Ranker`): `RuleRanker` is today's hand-set ordering, measured with
scripts/eval; a learnt ranker implements the same protocol over the same inputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from index.search import Hit
from index.settings import AnswerSettings
from index.store import StoreReader

from .asked import Asked
from .evidence import lexical_coverage, lexical_coverages, passages_text
from .features import names_absent
from .names import entities, missing_entities
from .vectors import QuestionVectors


@dataclass
class Ranking:
    hits: list[Hit]  # the candidates worth quoting, best first
    answerable: bool  # something on record answers the question


@runtime_checkable
class Ranker(Protocol):
    def rank(self, store: StoreReader, q: Asked, hits: list[Hit]) -> Ranking: ...


class RuleRanker:
    """Speakers the question names first, then passages carrying the question's names; answerable
    when the best passage is close enough (or holds the question's words) and every name the
    question turns on is in the passages found (by spelling, sound, or the model)."""

    def __init__(self, tuning: AnswerSettings, vectors: QuestionVectors, languages: list[str]):
        self.tuning, self.vectors, self.languages = tuning, vectors, languages

    def rank(self, store: StoreReader, q: Asked, hits: list[Hit]) -> Ranking:
        if any(h.speaker_named for h in hits):
            for h in hits:
                if h.speaker_named:
                    h.score += self.tuning.speaker_bonus
            hits = sorted(hits, key=lambda h: -h.score)
        hits = self._prefer_named(store, q, hits)
        return Ranking(self._worth_quoting(store, q, hits), bool(hits) and self._answerable(store, q, hits))

    def _worth_quoting(self, store: StoreReader, q: Asked, hits: list[Hit]) -> list[Hit]:
        """The first candidates that are close to the best one's cosine or hold most of the question's
        words: a loosely related passage is not shown."""
        t = self.tuning
        head = hits[: t.candidates]
        best_dense = max((h.dense for h in hits if h.dense is not None), default=0.0)
        close = [h.dense is not None and h.dense >= best_dense - t.dense_margin for h in head]
        far = [h.passage_id for h, c in zip(head, close) if not c]
        covered = dict(zip(far, lexical_coverages(store, q.text, q.lang, far))) if far else {}
        return [h for h, c in zip(head, close) if c or covered[h.passage_id] >= t.min_lexical]

    def _prefer_named(self, store: StoreReader, q: Asked, hits: list[Hit]) -> list[Hit]:
        """Among the first candidates, a passage that lacks names of the question which others carry
        ranks lower (a question about the CSTO wants the passage that names it)."""
        if not self.tuning.names_check or not entities(q.text, q.lang):
            return hits
        head = hits[: self.tuning.rerank_named]
        missing = [len(missing_entities(q.text, passages_text(store, [h.passage_id], self.languages), q.lang))
                   for h in head]
        if min(missing, default=0) == max(missing, default=0):
            return hits
        for h, m in zip(head, missing):
            h.score -= m * self.tuning.named_penalty
        return sorted(head, key=lambda h: -h.score) + hits[self.tuning.rerank_named :]

    def _answerable(self, store: StoreReader, q: Asked, hits: list[Hit]) -> bool:
        t = self.tuning
        best_dense = max((h.dense for h in hits if h.dense is not None), default=0.0)
        if best_dense < t.min_dense and lexical_coverage(store, q.text, q.lang, hits[0].passage_id) < t.min_lexical:
            return False
        if not t.names_check:
            return True
        ids = [h.passage_id for h in hits[: t.entity_passages]]
        return not names_absent(store, q, ids, t, self.vectors, self.languages)
