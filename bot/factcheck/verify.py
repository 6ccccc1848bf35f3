"""Check a quote reference (refs.py) against the index and the transcript file as they are now.

- intact: the words stand at their offsets, in the index and in the file;
- moved: the file changed, the words are still there at another place (new offsets given);
- gone: the words are nowhere in the document any more; what stands at their place now is shown.

The index is searched by the reference's source, then (a file renamed) by the text hash over every
document; the words are looked for over runs of whole stored sentences of the same length (a quote is
whole sentences). The file is read again as the indexer reads it (index/ingest) and searched at every
word start. When the file and the index disagree, the file decides (it is the record as it is now) and
the result says the index is behind.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bot.answer.quotes import make_quote
from bot.answer.types import Quote
from index.errors import OnRecordError
from index.store import DocumentRecord, StoreReader, all_documents

from .refs import QuoteRef, text_digest

MAX_RUN = 12  # sentences in a run looked at when the words moved


@dataclass
class Place:
    """Where the words stand (or stood) in one place: the index or the file."""

    found: bool
    start: int | None = None
    end: int | None = None
    moved: bool = False
    checked: bool = True  # False: this place could not be read (file missing, document not indexed)

    def to_json(self) -> dict:
        return {"checked": self.checked, "found": self.found, "moved": self.moved, "start": self.start,
                "end": self.end}


@dataclass
class VerifyResult:
    ref: str
    status: str  # intact, moved, gone
    source: str | None
    index: Place
    file: Place
    quote: Quote | None = None  # the words as the index holds them now (a verified slice), when there
    now: str | None = None  # gone: what stands at the old place now
    now_quote: Quote | None = None  # gone: the sentences at the old place in the index now, as a quote
    notes: list[str] = field(default_factory=list)  # message keys: "index_behind", "file_unreadable"
    has_versions: bool = False  # the statement exists in other languages too (`onrecord versions REF`)

    def to_json(self) -> dict:
        d = {"ref": self.ref, "status": self.status, "source": self.source, "index": self.index.to_json(),
             "file": self.file.to_json(), "notes": self.notes, "has_versions": self.has_versions}
        if self.quote is not None:
            d["quote"] = self.quote.to_json()
        if self.now is not None:
            d["now"] = self.now
        if self.now_quote is not None:
            d["now_quote"] = self.now_quote.to_json()
        return d


def _find_in_index(store: StoreReader, ref: QuoteRef) -> tuple[DocumentRecord | None, int | None, list]:
    """(document, start of the words now, the sentences they cover) in the index; the document of the
    reference's source (or with its text hash) even when the words are gone."""
    docs = list(all_documents(store))
    mine = [d for d in docs if ref.source and d.source == ref.source]
    if not mine:  # renamed or moved file: the same text elsewhere
        mine = [d for d in docs if text_digest(store.document_text(d.id)) == ref.text_hash]
    for d in mine:
        text = store.document_text(d.id)
        if d.start <= ref.start and ref.end <= d.end and ref.matches(text, ref.start):
            sents = store.sentences_of_document(d.id, ref.start, ref.end, contained=True)
            return d, ref.start, sents
    for d in mine:  # moved: a run of whole sentences of the same length and hash
        text = store.document_text(d.id)
        sents = store.sentences_of_document(d.id)
        for i, first in enumerate(sents):
            for j in range(i, min(len(sents), i + MAX_RUN)):
                length = sents[j].end - first.start
                if length > ref.length:
                    break
                if length == ref.length and ref.matches(text, first.start):
                    return d, first.start, sents[i : j + 1]
    return (mine[0] if mine else None), None, []


def _file_texts(path: str) -> list[str]:
    from index.ingest import parse_file

    docs = parse_file(Path(path), sidecars=True)
    return list(dict.fromkeys(d.text for d in docs))


def _find_in_file(texts: list[str], ref: QuoteRef) -> tuple[int | None, str | None]:
    """(start of the words, the text they were found in) in the file as it is now."""
    for text in texts:
        if ref.matches(text, ref.start):
            return ref.start, text
    for text in texts:
        for i in range(0, len(text) - ref.length + 1):
            if (i == 0 or not text[i - 1].isalnum()) and not text[i].isspace() and ref.matches(text, i):
                return i, text
    return None, (texts[0] if texts else None)


def _snap(text: str, start: int, end: int, reach: int = 200) -> str:
    """What stands at [start, end) now, widened to whole lines (at most `reach` characters more)."""
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    lo = text.rfind("\n", max(0, start - reach), start) + 1 if start else 0
    hi = text.find("\n", end, end + reach)
    return text[lo : hi if hi != -1 else min(len(text), end + reach)].strip()


def verify(engine, value: str) -> VerifyResult:
    """The reference `value` checked now (raises refs.BadRef for something that is not one)."""
    ref = QuoteRef.parse(value)
    with engine.live.reader() as store:
        doc, at, sents = _find_in_index(store, ref)
        index = Place(found=at is not None, start=at, end=None if at is None else at + ref.length,
                      moved=at is not None and at != ref.start, checked=doc is not None)
        source = doc.source if doc is not None else ref.source
        has_versions = doc is not None and bool(store.versions(doc.id))
        quote = make_quote(store, sents, 1.0) if sents else None
        now_quote = None
        if at is None and doc is not None:
            around = [s for s in store.sentences_of_document(doc.id, ref.start, ref.end)
                      if s.start < ref.end and ref.start < s.end]
            if around:  # the sentences at the old place, as one quote where they join, else the first
                now_quote = make_quote(store, around, 0.0) or make_quote(store, around[:1], 0.0)
    notes: list[str] = []
    file = Place(found=False, checked=False)
    file_text = None
    # Only a file the index knows is read: a reference is user input (a Slack button value, an MCP
    # argument), and its source hint must never make the bot open and show another file.
    if doc is not None and source and os.path.isfile(source):
        try:
            texts = _file_texts(source)
        except (OnRecordError, OSError, ValueError):
            texts = []
            notes.append("file_unreadable")
        if texts:
            fat, file_text = _find_in_file(texts, ref)
            file = Place(found=fat is not None, start=fat, end=None if fat is None else fat + ref.length,
                         moved=fat is not None and fat != ref.start)
    elif doc is not None and source:
        notes.append("file_missing")
    place = file if file.checked else index
    status = "gone" if not place.found else ("moved" if place.moved else "intact")
    if file.checked and (file.found != index.found or file.start != index.start):
        notes.append("index_behind")
    result = VerifyResult(str(ref), status, source, index, file, quote=quote, notes=notes,
                          has_versions=has_versions)
    if status == "gone":
        if file_text is not None:
            result.now = _snap(file_text, ref.start, ref.end)
        elif now_quote is not None:
            result.now = now_quote.text
        result.now_quote = now_quote
        result.quote = None
    elif file.checked and not index.found:
        result.quote = None  # the words are in the file but not (yet) in the index: nothing verified to show
    return result
