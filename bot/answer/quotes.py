"""Quotes are slices: pick whole sentences of a passage, build the citation, verify before showing.

Nothing here writes text: a quote is `document_text[start:end]` over whole stored sentences, and
`verify` checks it again before it leaves.
"""
from __future__ import annotations

import logging

from index.chunk import joinable
from index.store import SentenceRecord, StoreReader

from .types import Quote
from ..factcheck.refs import make_ref

log = logging.getLogger(__name__)


def sentence_text(store: StoreReader, s: SentenceRecord) -> str:
    return store.document_text(s.doc_id)[s.start : s.end]


def joinable_run(store: StoreReader, best: SentenceRecord, reach: int = 2) -> list[SentenceRecord]:
    """`best` and up to `reach` sentences on each side that may share a quote with it: the same
    speaker's words with nothing but line breaks or bullets between (no question, no interjection,
    no markup, no other speaker)."""
    rows = store.sentences_of_document(best.doc_id, best.start - 3000, best.end + 3000)
    text = store.document_text(best.doc_id)
    idx = next(i for i, r in enumerate(rows) if r.id == best.id)

    def ok(a: SentenceRecord, b: SentenceRecord) -> bool:
        return a.speaker == b.speaker and joinable(text, a.end, b.start)

    lo = idx
    while lo > 0 and idx - lo < reach and ok(rows[lo - 1], rows[lo]):
        lo -= 1
    hi = idx
    while hi + 1 < len(rows) and hi - idx < reach and ok(rows[hi], rows[hi + 1]):
        hi += 1
    return rows[lo : hi + 1]


def extend(best: SentenceRecord, run: list[SentenceRecord], scores: dict[int, float],
           max_sentences: int, max_chars: int) -> list[SentenceRecord]:
    """The best sentence and up to `max_sentences - 1` neighbours from its joinable run, the
    better-scoring side first, while the quote stays under `max_chars`: context a reader needs."""
    idx = next(i for i, s in enumerate(run) if s.id == best.id)
    lo = hi = idx
    while hi - lo + 1 < max_sentences:
        options = []
        if lo > 0 and run[hi].end - run[lo - 1].start <= max_chars:
            options.append((scores.get(run[lo - 1].id, -1.0), "prev"))
        if hi + 1 < len(run) and run[hi + 1].end - run[lo].start <= max_chars:
            options.append((scores.get(run[hi + 1].id, -1.0), "next"))
        if not options:
            break
        if max(options)[1] == "prev":
            lo -= 1
        else:
            hi += 1
    return run[lo : hi + 1]


def format_time(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def make_quote(store: StoreReader, sents: list[SentenceRecord], score: float) -> Quote | None:
    """Build a verified quote over contiguous sentences of one paragraph; None (and a log line) if it fails."""
    if not sents:
        return None
    doc = store.document(sents[0].doc_id)
    if doc is None:
        return None
    start, end = sents[0].start, sents[-1].end
    first = sents[0]
    location = format_time(first.time) if first.time is not None else f"¶ {first.paragraph}"
    passage = store.passage(first.passage_id)
    spoken = passage.spoken_language if passage and passage.spoken_language != doc.language else None
    quote = Quote(
        text=store.document_text(doc.id)[start:end],
        language=doc.language,
        source=doc.source,
        title=doc.title,
        speaker=first.speaker or doc.speaker,
        date=doc.date,
        url=doc.url,
        location=location,
        start=start,
        end=end,
        score=score,
        document_id=doc.id,
        spoken_language=spoken,
        speaker_role=passage.role if passage else None,  # the passage speaker's, who is the quote's
    )
    if not verify(store, quote, sents):
        return None
    quote.ref = str(make_ref(store.document_text(doc.id), start, end, doc.source))
    return quote


def verify(store: StoreReader, quote: Quote, sents: list[SentenceRecord]) -> bool:
    """A quote is shown only if it is exactly the stored source text between its offsets, lies inside
    its document, covers whole stored sentences of one speaker with nothing but line breaks or bullets
    between them, and is not empty."""
    doc = store.document(quote.document_id)
    problems = []
    if doc is None:
        problems.append("document missing")
    else:
        if store.document_text(doc.id)[quote.start : quote.end] != quote.text:
            problems.append("text is not the slice at its offsets")
        if not (doc.start <= quote.start < quote.end <= doc.end):
            problems.append("offsets outside the document")
        if quote.source != doc.source:
            problems.append("source differs from the stored file")
    if not quote.text.strip():
        problems.append("empty")
    if sents and (sents[0].start != quote.start or sents[-1].end != quote.end):
        problems.append("does not cover whole sentences")
    if len({s.speaker for s in sents}) > 1:
        problems.append("crosses a change of speaker")
    if doc is not None and any(
        not joinable(store.document_text(doc.id), a.end, b.start) for a, b in zip(sents, sents[1:])
    ):
        problems.append("joins sentences across other text")
    if problems:
        log.warning("dropped quote %r from %s: %s", quote.text[:80], quote.source, "; ".join(problems))
        return False
    return True


def versions_of(store: StoreReader, sents: list[SentenceRecord]) -> dict[int, list[SentenceRecord]]:
    """The aligned sentences of each other-language version document, by document id."""
    if not sents:
        return {}
    by_doc: dict[int, list[SentenceRecord]] = {}
    for r in store.aligned_sentences(s.id for s in sents):
        by_doc.setdefault(r.doc_id, []).append(r)
    out = {}
    for doc_id, rs in by_doc.items():
        # the version's sentences from the first aligned one to the last, as far as they join
        # (one speaker, nothing but line breaks or bullets between): a version is a slice too
        span = store.sentences_of_document(doc_id, rs[0].start, rs[-1].end, contained=True)
        text = store.document_text(doc_id)
        run = [span[0]]
        for a, b in zip(span, span[1:]):
            if a.speaker != b.speaker or not joinable(text, a.end, b.start):
                break
            run.append(b)
        out[doc_id] = run
    return out


def statement_group(store: StoreReader, doc_id: int) -> set[int]:
    """A document with its versions in other languages: one statement."""
    return {doc_id, *store.versions(doc_id)}
