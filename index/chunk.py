"""Cut documents into sentences and retrieval-sized passages, keeping exact character offsets.

Sentences come from `sentencex` (language-aware rules for ~300 languages); their spans are found
in the segment text so that `document.text[start:end]` is always the sentence. A passage is a run
of whole sentences of one speaker, a few sentences long; it never crosses a change of speaker.

No sentence is longer than MAX_SENTENCE_CHARS: a longer one (a line without punctuation, a list
run together) is cut at word boundaries (at any character only inside a word that long), each piece
still an exact slice. So no passage is longer than max(target_chars, MAX_SENTENCE_CHARS).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import sentencex

from .document import Document, Segment

CHUNKER_VERSION = "sentencex-6"
# The longest sentence kept whole (the real corpus's longest is 858 characters); quotes are sentences.
MAX_SENTENCE_CHARS = 1000

# What may stand between two sentences of one passage or one quote: line breaks and bullets only
# (never a question put to the speaker, an interjection, a title or markup).
JOINABLE_GAP = re.compile(r"[\s•·*–—-]*")


def joinable(text: str, end: int, start: int) -> bool:
    return JOINABLE_GAP.fullmatch(text[end:start]) is not None


@dataclass
class Sentence:
    start: int
    end: int
    paragraph: int  # 1-based number of the segment (paragraph) in its document
    speaker: str | None
    time: float | None


@dataclass
class Passage:
    start: int
    end: int
    speaker: str | None
    paragraph: int
    time: float | None
    sentences: list[Sentence]
    context: str | None  # embedded with the passage, never quoted
    spoken_language: str | None = None  # see Segment.spoken_language
    role: str | None = None  # what the record calls the speaker (office, party, group): embedded, never quoted

    def embed_text(self, doc: Document) -> str:
        """What the model sees: who, which statement and which question, then the exact words."""
        head = []
        if self.speaker:
            head.append(f"{self.speaker}, {self.role}:" if self.role else f"{self.speaker}:")
        if doc.title:
            head.append(doc.title.strip())
        if self.context and self.context.strip() != (doc.title or "").strip():
            head.append(self.context.strip())
        body = doc.text[self.start : self.end]
        return (" ".join(head) + "\n" + body) if head else body


def split_sentences(text: str, start: int, end: int, language: str | None) -> list[tuple[int, int]]:
    """Spans of the sentences in text[start:end], trimmed of surrounding whitespace."""
    chunk = text[start:end]
    spans: list[tuple[int, int]] = []
    pos = 0
    try:
        pieces = list(sentencex.segment(language or "en", chunk))
    except Exception:  # noqa: BLE001 - an unknown language code falls back to English rules
        pieces = list(sentencex.segment("en", chunk))
    for piece in pieces:
        stripped = piece.strip()
        if not stripped:
            continue
        found = chunk.find(stripped, pos)
        if found < 0:  # the segmenter normalised something: fall back to the raw piece position
            found = chunk.find(piece, pos)
            if found < 0:
                continue
            stripped = piece
        spans.append((start + found, start + found + len(stripped)))
        pos = found + len(stripped)
    # A "sentence" starting in lower case continues the previous one ("Russia Calling! investment forum").
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and text[s].islower() and "\n" not in text[merged[-1][1] : s]:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    # Lines inside one paragraph (e.g. bullet lists) are sentence boundaries as well.
    out: list[tuple[int, int]] = []
    for s, e in merged:
        cursor = s
        while True:
            nl = text.find("\n", cursor, e)
            if nl < 0:
                break
            piece_end = nl
            while piece_end > cursor and text[piece_end - 1].isspace():
                piece_end -= 1
            if piece_end > cursor:
                out.append((cursor, piece_end))
            cursor = nl + 1
            while cursor < e and text[cursor].isspace():
                cursor += 1
        if cursor < e:
            out.append((cursor, e))
    if any(e - s > MAX_SENTENCE_CHARS for s, e in out):
        out = [piece for s, e in out for piece in cap_span(text, s, e, MAX_SENTENCE_CHARS)]
    return out


def cap_span(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """[start, end) cut into spans of at most `limit` characters, at the last whitespace in the second
    half of each window (inside a word only when it has none), trimmed of whitespace."""
    pieces: list[tuple[int, int]] = []
    while end - start > limit:
        cut = start + limit
        low = start + limit // 2
        while cut > low and not text[cut].isspace():
            cut -= 1
        if cut > low:
            rest = cut + 1
        else:  # no space in reach: cut inside the word, never before a combining mark
            cut = start + limit
            while cut > start + 1 and unicodedata.combining(text[cut]):
                cut -= 1
            rest = cut
        piece_end = cut
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        if piece_end > start:
            pieces.append((start, piece_end))
        start = rest
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        pieces.append((start, end))
    return pieces


def sentences_of(doc: Document) -> list[Sentence]:
    result = []
    for number, seg in enumerate(doc.segments, start=1):
        for s, e in split_sentences(doc.text, seg.start, seg.end, doc.language):
            result.append(Sentence(s, e, number, seg.speaker, seg.time))
    return result


def speaker_role(doc: Document, speaker: str | None) -> str | None:
    """What the record says a speaker is: "Parl. Staatssekretär bei der Bundesministerin für Bildung
    und Forschung", "rapporteur, ALDE" (ingest's `roles` and `affiliations`, or the document's `role`)."""
    if not speaker:
        return None
    parts = [(doc.extra.get("roles") or {}).get(speaker), (doc.extra.get("affiliations") or {}).get(speaker)]
    if not any(parts) and speaker == doc.speaker:
        parts = [doc.extra.get("role")]
    parts = [p.strip() for p in parts if isinstance(p, str) and p.strip()]
    return ", ".join(dict.fromkeys(parts)) or None


def chunk_document(doc: Document, target_chars: int = 700) -> list[Passage]:
    """Group sentences into passages of about `target_chars`, never across speakers and never over
    text that is not the speaker's own words."""
    passages: list[Passage] = []
    seg_of_para = {i: seg for i, seg in enumerate(doc.segments, start=1)}
    current: list[Sentence] = []

    def flush() -> None:
        if not current:
            return
        first = current[0]
        seg: Segment = seg_of_para[first.paragraph]
        passages.append(
            Passage(
                start=first.start,
                end=current[-1].end,
                speaker=first.speaker,
                paragraph=first.paragraph,
                time=first.time,
                sentences=list(current),
                context=seg.context,
                spoken_language=seg.spoken_language,
                role=speaker_role(doc, first.speaker),
            )
        )
        current.clear()

    for sent in sentences_of(doc):
        if current:
            same_speaker = sent.speaker == current[0].speaker
            size = sent.end - current[0].start
            new_context = sent.paragraph != current[-1].paragraph and (
                seg_of_para[sent.paragraph].context
                or seg_of_para[sent.paragraph].spoken_language != seg_of_para[current[-1].paragraph].spoken_language)
            gap_ok = joinable(doc.text, current[-1].end, sent.start)
            if not same_speaker or size > target_chars or new_context or not gap_ok:
                flush()
        current.append(sent)
    flush()
    return passages
