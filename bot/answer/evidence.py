"""What the record shows about the question's words: how much of the question a passage holds, what
the passages say about their speakers, which words are too common to single out a topic."""
from __future__ import annotations

from typing import Iterable

from index.language import language_name
from index.search import idf
from index.store import StoreReader
from index.textnorm import stems


def lexical_coverage(store: StoreReader, question: str, lang: str, passage_id: int) -> float:
    """Share of the question's information (idf-weighted stems) found in the passage."""
    return lexical_coverages(store, question, lang, [passage_id])[0]


def lexical_coverages(store: StoreReader, question: str, lang: str, passage_ids: list[int]) -> list[float]:
    """lexical_coverage of each passage, the question's stems and their weights worked out once."""
    q_terms = [t for t in dict.fromkeys(stems(question, lang)) if len(t) > 1]
    if not q_terms:
        return [0.0] * len(passage_ids)
    weights = idf(store, q_terms)
    total = sum(weights.values()) or 1.0
    out = []
    for pid in passage_ids:
        have = store.passage_terms(pid)
        out.append(sum(w for t, w in weights.items() if t in have) / total if have else 0.0)
    return out


def passages_text(store: StoreReader, passage_ids: Iterable[int], languages: list[str]) -> str:
    """The passages' words with what the record says about them: speaker and role, title, context,
    and the language they were spoken in ("the Finnish MEP" names a speech given in Finnish)."""
    parts: list[str] = []
    for pid in passage_ids:
        p = store.passage(pid)
        if p is None:
            continue
        doc = store.document(p.doc_id)
        title = doc.title if doc else None
        parts += [store.document_text(p.doc_id)[p.start : p.end], p.speaker or "", p.context or "", title or "",
                  p.role or ""]
        if p.spoken_language:
            parts += [n for n in (language_name(p.spoken_language, lang) for lang in languages) if n]
    return "\n".join(parts)


def common_word(store: StoreReader, word: str, lang: str, share: float) -> bool:
    """A capitalised word found in many passages (a German noun such as "Folgen", a frequent speaker)
    does not single out a topic: only rarer names decide whether the record answers."""
    terms = stems(word, lang)
    if not terms:
        return False
    df = store.term_document_frequency([terms[0]]).get(terms[0], 0)
    total = store.passage_count() or 1
    return df > 0 and df / total >= share
