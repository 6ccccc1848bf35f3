"""Quotes are slices: pick whole sentences from a passage, build the citation, verify before showing."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from index.store import Generation

from .answer_types import Quote

log = logging.getLogger(__name__)

MAX_QUOTE_SENTENCES = 3
SHORT_SENTENCE = 90  # characters: a sentence this short gets its neighbour for context
MAX_QUOTE_CHARS = 600


@dataclass
class SentenceRow:
    id: int
    passage_id: int
    doc_id: int
    start: int
    end: int
    paragraph: int
    speaker: str | None
    time: float | None
    norm: str


def sentence_rows(gen: Generation, where: str, args: tuple) -> list[SentenceRow]:
    rows = gen.db.execute(
        f'SELECT id, passage_id, doc_id, start, "end", paragraph, speaker, time, norm FROM sentences WHERE {where} '
        "ORDER BY doc_id, start",
        args,
    ).fetchall()
    return [SentenceRow(*r) for r in rows]


def passage_sentences(gen: Generation, passage_id: int) -> list[SentenceRow]:
    return sentence_rows(gen, "passage_id = ?", (passage_id,))


def paragraph_sentences(gen: Generation, doc_id: int, paragraph: int) -> list[SentenceRow]:
    return sentence_rows(gen, "doc_id = ? AND paragraph = ?", (doc_id, paragraph))


def extend(gen: Generation, best: SentenceRow, scores: dict[int, float] | None = None) -> list[SentenceRow]:
    """The best sentence with up to two neighbours of the same paragraph (one speaker, contiguous):
    a neighbour joins when the quote is short or when it also answers (scores)."""
    para = paragraph_sentences(gen, best.doc_id, best.paragraph)
    idx = next(i for i, s in enumerate(para) if s.id == best.id)
    chosen = [best]
    lo, hi = idx, idx
    top = (scores or {}).get(best.id, 0.0)
    while len(chosen) < MAX_QUOTE_SENTENCES:
        length = chosen[-1].end - chosen[0].start
        nxt = para[hi + 1] if hi + 1 < len(para) else None
        prv = para[lo - 1] if lo > 0 else None
        good = lambda s: s is not None and top > 0 and (scores or {}).get(s.id, 0.0) >= 0.6 * top  # noqa: E731
        if good(nxt) and (nxt.end - chosen[0].start) <= MAX_QUOTE_CHARS:
            hi += 1
            chosen.append(nxt)
        elif good(prv) and (chosen[-1].end - prv.start) <= MAX_QUOTE_CHARS:
            lo -= 1
            chosen.insert(0, prv)
        elif length < SHORT_SENTENCE and nxt is not None and (nxt.end - chosen[0].start) <= MAX_QUOTE_CHARS:
            hi += 1
            chosen.append(nxt)
        else:
            break
    return chosen


def doc_row(gen: Generation, doc_id: int):
    return gen.db.execute(
        'SELECT d.id, d.title, d.speaker, d.date, d.language, d.url, d.kind, d.start, d."end", f.source '
        "FROM documents d JOIN files f ON f.id = d.file_id WHERE d.id = ?",
        (doc_id,),
    ).fetchone()


def format_time(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def make_quote(gen: Generation, sents: list[SentenceRow], score: float) -> Quote | None:
    """Build a verified quote over contiguous sentences of one paragraph; None (and a log line) if it fails."""
    if not sents:
        return None
    doc = doc_row(gen, sents[0].doc_id)
    start, end = sents[0].start, sents[-1].end
    text = gen.doc_text(doc["id"])[start:end]
    first = sents[0]
    location = format_time(first.time) if first.time is not None else f"¶ {first.paragraph}"
    quote = Quote(
        text=text,
        language=doc["language"],
        source=doc["source"],
        title=doc["title"],
        speaker=first.speaker or doc["speaker"],
        date=doc["date"],
        url=doc["url"],
        location=location,
        start=start,
        end=end,
        score=score,
        document_id=doc["id"],
    )
    if not verify(gen, quote, sents):
        return None
    return quote


def verify(gen: Generation, quote: Quote, sents: list[SentenceRow]) -> bool:
    """A quote is shown only if it is exactly the stored source text between its offsets, lies inside
    its document, covers whole stored sentences of one paragraph and one speaker, and is not empty."""
    doc = doc_row(gen, quote.document_id)
    problems = []
    if doc is None:
        problems.append("document missing")
    else:
        if gen.doc_text(doc["id"])[quote.start : quote.end] != quote.text:
            problems.append("text is not the slice at its offsets")
        if not (doc["start"] <= quote.start < quote.end <= doc["end"]):
            problems.append("offsets outside the document")
        if quote.source != doc["source"]:
            problems.append("source differs from the stored file")
    if not quote.text.strip():
        problems.append("empty")
    if sents and (sents[0].start != quote.start or sents[-1].end != quote.end):
        problems.append("does not cover whole sentences")
    if len({s.paragraph for s in sents}) > 1 or len({s.speaker for s in sents}) > 1:
        problems.append("crosses a paragraph or a speaker")
    if problems:
        log.warning("dropped quote %r from %s: %s", quote.text[:80], quote.source, "; ".join(problems))
        return False
    return True


def versions_of(gen: Generation, sents: list[SentenceRow]) -> dict[int, list[SentenceRow]]:
    """The aligned sentences of each other-language version document, by document id."""
    if not sents:
        return {}
    ids = [s.id for s in sents]
    marks = ",".join("?" * len(ids))
    rows = sentence_rows(
        gen, f"id IN (SELECT sent_b FROM sentence_versions WHERE sent_a IN ({marks}))", tuple(ids)
    )
    by_doc: dict[int, list[SentenceRow]] = {}
    for r in rows:
        by_doc.setdefault(r.doc_id, []).append(r)
    out = {}
    for doc_id, rs in by_doc.items():
        # keep the contiguous run of one paragraph around the first aligned sentence
        para = paragraph_sentences(gen, doc_id, rs[0].paragraph)
        wanted = {r.id for r in rs if r.paragraph == rs[0].paragraph}
        idx = [i for i, s in enumerate(para) if s.id in wanted]
        out[doc_id] = para[min(idx) : max(idx) + 1]
    return out
