"""Exact-quote lookup: a remembered fragment, possibly misspelled, to the exact sentence(s) on record
with their versions in other languages."""
from __future__ import annotations

from rapidfuzz import fuzz

from index.search import dense_search
from index.store import SentenceRecord, StoreReader
from index.textnorm import normalize

from .types import Quote
from .quotes import make_quote, statement_group, versions_of


def fragment_score(target: str, sentence_norm: str) -> float:
    """How well a remembered fragment matches a sentence (0-100): tolerant of typos, a swapped word,
    and of the fragment being only part of the sentence."""
    if not sentence_norm:
        return 0.0
    if target in sentence_norm:
        return 100.0
    # the share of the fragment a sentence can account for: a sentence shorter than the fragment
    # cannot hold all of it (the fragment may run on into the next sentence)
    coverage = min(1.0, len(sentence_norm) / len(target))
    if len(target) <= len(sentence_norm):
        partial = fuzz.partial_ratio(target, sentence_norm)
    else:
        partial = fuzz.ratio(target, sentence_norm)
    tokens = fuzz.token_set_ratio(target, sentence_norm)
    return max(partial, tokens * (0.7 + 0.3 * coverage))


def candidates(store: StoreReader, target: str, qvec) -> list[tuple[SentenceRecord, SentenceRecord | None]]:
    """Sentences (with their successor) that may hold the fragment: exact phrase, shared words, dense."""
    ids = store.search_sentence_phrase(target, 20) + store.search_sentence_terms(target.split(), 200)
    rows: dict[int, SentenceRecord] = {s.id: s for s in store.sentences(ids)}
    for pid, _ in dense_search(store, qvec, 10):
        for s in store.sentences_of_passage(pid):
            rows.setdefault(s.id, s)
    return [(s, store.next_sentence(s)) for s in rows.values()]


def lookup(store: StoreReader, target: str, qvec, lang: str, min_score: float, want: int) -> list[Quote]:
    """Up to `want` quotes, best match first; a statement found in several languages is quoted once
    (in the fragment's language where it matched), the others listed as its versions."""
    scored = []
    for s, nxt in candidates(store, target, qvec):
        score = fragment_score(target, s.norm)
        if nxt is not None:
            joint = fragment_score(target, s.norm + " " + nxt.norm)
            if joint > score + 2:
                scored.append((joint, [s, nxt]))
                continue
        scored.append((score, [s]))
    scored.sort(key=lambda x: -x[0])
    quotes: list[Quote] = []
    seen_text: set[str] = set()
    seen_docs: set[int] = set()
    for score, sents in scored:
        if score < min_score or len(quotes) >= want:
            break
        group = statement_group(store, sents[0].doc_id)
        quote = make_quote(store, sents, score / 100.0)
        if quote is None:
            continue
        key = normalize(quote.text)
        if key in seen_text or (group & seen_docs and quote.language != lang):
            continue
        quote.versions = [v for v in (make_quote(store, vs, score / 100.0)
                                      for vs in versions_of(store, sents).values()) if v]
        quotes.append(quote)
        seen_text.add(key)
        seen_docs |= group
    return quotes

