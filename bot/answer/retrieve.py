"""Candidate passages for a question: dense and full-text search fused, and, when the question names
a speaker (in any spelling: Sacharowa, Захарова, Zakharova), that speaker's passages nearest the
question fused in as a third list."""
from __future__ import annotations

from index.search import Hit, dense_search, hybrid_search, rrf
from index.settings import AnswerSettings
from index.store import PassageFilter, StoreReader
from index.textnorm import words

from .asked import Asked
from .names import phonetic


class SpeakerNames:
    """Speakers of a generation by the sound of their surname (built once per generation)."""

    def __init__(self):
        self._keys: dict[str, list[tuple[str, str]]] = {}

    def _index(self, store: StoreReader) -> list[tuple[str, str]]:
        if store.name not in self._keys:
            keys = []
            for name in store.speakers():
                parts = [w for w in words(name) if len(w) >= 4]
                if parts:  # by sound, so Sacharowa, Захарова and Zakharova are one speaker
                    keys.append((phonetic(parts[-1]), name))
            self._keys = {store.name: keys}
        return self._keys[store.name]

    def named_in(self, store: StoreReader, question: str) -> set[str]:
        qwords = {phonetic(w) for w in words(question)}
        return {name for surname, name in self._index(store) if surname in qwords}


def retrieve(store: StoreReader, q: Asked, tuning: AnswerSettings, speakers: SpeakerNames,
             where: PassageFilter | None = None) -> list[Hit]:
    """Candidates, best fused score first. Passages of a speaker the question names are marked
    (`Hit.speaker_named`) for the ranking stage. With `where` (bot/answer/filters.py), every list is
    searched among the passages it admits only."""
    hits = hybrid_search(store, q.vector, q.text, q.lang, k=tuning.candidates, fts_weight=tuning.fts_weight,
                         other_language_bonus=tuning.other_language_bonus, where=where)
    named = speakers.named_in(store, q.text)
    if not named or not hits:
        return hits
    by_id = {h.passage_id: h for h in hits}
    nearest = dense_search(store, q.vector, tuning.speaker_passages, q.lang, tuning.other_language_bonus,
                           speakers=named, where=where)
    for rank, (pid, cos) in enumerate(nearest):
        h = by_id.get(pid)
        if h is None:
            h = by_id[pid] = Hit(pid, 0.0, dense=cos)
            hits.append(h)
        h.score += rrf(rank)
        h.speaker_rank = rank
    records = store.passages(h.passage_id for h in hits)
    for h in hits:
        rec = records.get(h.passage_id)
        h.speaker_named = bool(rec and rec.speaker in named)
    return hits
