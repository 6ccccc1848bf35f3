"""Quotes are slices: pick whole sentences from a passage, build the citation, verify before showing."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from index.chunk import joinable
from index.store import Generation

from .answer_types import Quote

log = logging.getLogger(__name__)

MAX_QUOTE_SENTENCES = 3
MAX_QUOTE_CHARS = 650  # 1-3 sentences up to this length; 500 measured worse on scripts/eval


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




def joinable_run(gen: Generation, best: SentenceRow, reach: int = 2) -> list[SentenceRow]:
    """`best` and up to `reach` sentences on each side that may share a quote with it: the same
    speaker's words with nothing but line breaks or bullets between (no question, no interjection,
    no markup, no other speaker)."""
    rows = sentence_rows(gen, 'doc_id = ? AND "end" > ? AND start < ?',
                         (best.doc_id, best.start - 3000, best.end + 3000))
    text = gen.doc_text(best.doc_id)
    idx = next(i for i, r in enumerate(rows) if r.id == best.id)

    def ok(a: SentenceRow, b: SentenceRow) -> bool:
        return a.speaker == b.speaker and joinable(text, a.end, b.start)

    lo = idx
    while lo > 0 and idx - lo < reach and ok(rows[lo - 1], rows[lo]):
        lo -= 1
    hi = idx
    while hi + 1 < len(rows) and hi - idx < reach and ok(rows[hi], rows[hi + 1]):
        hi += 1
    return rows[lo : hi + 1]


def extend(best: SentenceRow, run: list[SentenceRow], scores: dict[int, float]) -> list[SentenceRow]:
    """The best sentence and up to two neighbours from its joinable run, the better-scoring side
    first, while the quote stays under MAX_QUOTE_CHARS: context a reader needs around the answer."""
    idx = next(i for i, s in enumerate(run) if s.id == best.id)
    lo = hi = idx
    while hi - lo + 1 < MAX_QUOTE_SENTENCES:
        options = []
        if lo > 0 and run[hi].end - run[lo - 1].start <= MAX_QUOTE_CHARS:
            options.append((scores.get(run[lo - 1].id, -1.0), "prev"))
        if hi + 1 < len(run) and run[hi + 1].end - run[lo].start <= MAX_QUOTE_CHARS:
            options.append((scores.get(run[hi + 1].id, -1.0), "next"))
        if not options:
            break
        if max(options)[1] == "prev":
            lo -= 1
        else:
            hi += 1
    return run[lo : hi + 1]


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
    row = gen.db.execute("SELECT spoken_language, role FROM passages WHERE id = ?", (first.passage_id,)).fetchone()
    spoken = row[0] if row and row[0] != doc["language"] else None
    role = row[1] if row else None  # the passage speaker's, who is the quote's
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
        spoken_language=spoken,
        speaker_role=role,
    )
    if not verify(gen, quote, sents):
        return None
    return quote


def verify(gen: Generation, quote: Quote, sents: list[SentenceRow]) -> bool:
    """A quote is shown only if it is exactly the stored source text between its offsets, lies inside
    its document, covers whole stored sentences of one speaker with nothing but line breaks or bullets
    between them, and is not empty."""
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
    if len({s.speaker for s in sents}) > 1:
        problems.append("crosses a change of speaker")
    if doc is not None and any(
        not joinable(gen.doc_text(doc["id"]), a.end, b.start) for a, b in zip(sents, sents[1:])
    ):
        problems.append("joins sentences across other text")
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
        # the version's sentences from the first aligned one to the last, as far as they join
        # (one speaker, nothing but line breaks or bullets between): a version is a slice too
        span = sentence_rows(gen, 'doc_id = ? AND start >= ? AND "end" <= ?', (doc_id, rs[0].start, rs[-1].end))
        text = gen.doc_text(doc_id)
        run = [span[0]]
        for a, b in zip(span, span[1:]):
            if a.speaker != b.speaker or not joinable(text, a.end, b.start):
                break
            run.append(b)
        out[doc_id] = run
    return out
