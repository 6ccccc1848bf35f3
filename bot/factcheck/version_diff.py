"""Where the language versions of one statement differ: aligned sentences side by side, sentences
present in one version and missing in the other, and figures or names that differ.

Figures: every number written with digits, thousands separators removed ("25 000", "25,000",
"25.000" are one figure) and a decimal comma read as a point ("1,5" = "1.5"). Names: capitalised
words that do not open a sentence or line, compared across scripts and spellings through the engine's
phonetic key (bot/answer/names.py) and loosely (see `_close`); a name counts as differing only when
each side has one the other lacks (a name replaced by another), since translations often say "the
minister" for a name. Acronyms are left out (UN/FN/ООН are one organisation), and German (every noun
capitalised). Numbers written as words are not compared.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from bot.answer.names import phonetic
from index.store import DocumentRecord, SentenceRecord, StoreReader

_SPACED = r"\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?!\d)"
_NUMBER = re.compile(rf"{_SPACED}|\d+(?:[.,]\d+)*")
_GROUPED = re.compile(r"\d{1,3}(?:[.,]\d{3})+")
_TOKEN = re.compile(r"\w[\w-]*")


def numbers(text: str) -> list[str]:
    """The figures of `text`, normalised (see the module's note), in order."""
    out = []
    for m in _NUMBER.finditer(text):
        raw = m.group()
        if re.search(r"[ \u00a0\u202f]", raw) or _GROUPED.fullmatch(raw):
            out.append(re.sub(r"[ \u00a0\u202f.,]", "", raw))  # 25 000 / 25,000 / 25.000: thousands
        else:
            out.append(raw.replace(",", "."))  # 1,5 = 1.5
    return out


# Capitalised in English and German, lower case in Swedish and Russian: calendar words, not names.
_CALENDAR = set("""january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday januar februar märz juni juli oktober dezember
montag dienstag mittwoch donnerstag freitag samstag sonntag""".split())


def _skeleton(key: str) -> str:
    return key[:1] + re.sub(r"[aeiou]", "", key[1:])


def _close(key: str, other: str) -> bool:
    """Is `key` (a name's phonetic key) another spelling or inflection of word `other` (its key)? The same
    first letter and first three consonants (Russia ~ Ryssland, West ~ väst), or one inside the other
    (Club ~ Diskussionsklubbs, Kiev ~ Kievregimen)."""
    if key == other or (len(key) >= 4 and len(other) >= 4 and (key in other or other in key)):
        return True
    if len(key) >= 5 and len(other) >= 5 and fuzz.ratio(key, other) >= 70:  # Gorbachev ~ Gorbatjov
        return True
    a, b = _skeleton(key), _skeleton(other)
    n = min(4, len(a), len(b))
    return n >= 2 and a[:n] == b[:n]


def keys_of(text: str) -> set[str]:
    """The phonetic keys of a text's words (a version document's vocabulary, for `differ`)."""
    return {phonetic(x) for w in _TOKEN.findall(text) for x in {w, *w.split("-")} if x}


def _names(text: str, other: str, lang: str | None, known: set[str] | None = None) -> list[str]:
    """Names of `text` that `other` does not spell in any form (see `_close`). With `known` (the other
    version's whole vocabulary), only names that version spells the same way somewhere: their absence
    from `other` then means something (a translation that says "Ryssland" for "Russia" is no difference)."""
    if lang == "de":  # German capitalises every noun: its capitals say nothing about names
        return []
    keys = keys_of(other)
    out = []
    for m in _TOKEN.finditer(text):
        n = m.group()
        if not n[0].isupper() or n.isupper() or len(n) < 3 or any(c.isdigit() for c in n) \
                or n.lower() in _CALENDAR:
            continue
        before = text[: m.start()].rstrip(" \t\"'«“„(")
        if not before or before[-1] in ".!?:;\n•–—-":  # a sentence's or a line's first word
            continue
        parts = [x for x in n.split("-") if len(x) >= 3 and x[0].isupper()] or [n]
        missing = [x for x in parts if not any(_close(phonetic(x), w) for w in keys)]
        if not missing:
            continue
        if known is not None and not all(phonetic(x) in known for x in missing):
            continue
        out.append(n)
    return list(dict.fromkeys(out))


@dataclass
class Difference:
    """How one text differs from its version in another language."""

    numbers_here: list[str] = field(default_factory=list)  # figures in this text, not in the other
    numbers_there: list[str] = field(default_factory=list)
    names_here: list[str] = field(default_factory=list)  # a name here replaced by another there
    names_there: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.numbers_here or self.numbers_there or self.names_here or self.names_there)

    def to_json(self) -> dict:
        d = {}
        if self.numbers_here or self.numbers_there:
            d["numbers"] = {"here": self.numbers_here, "there": self.numbers_there}
        if self.names_here or self.names_there:
            d["names"] = {"here": self.names_here, "there": self.names_there}
        return d


def differ(here: str, there: str, lang_here: str | None, lang_there: str | None,
           known_there: set[str] | None = None) -> Difference:
    """Figures and names that differ between a text and its other-language version. `known_there`: the
    other version's vocabulary (keys_of its document), which makes the names' test stricter."""
    a, b = numbers(here), numbers(there)
    d = Difference(numbers_here=[n for n in dict.fromkeys(a) if n not in b],
                   numbers_there=[n for n in dict.fromkeys(b) if n not in a])
    names_a, names_b = _names(here, there, lang_here, known_there), _names(there, here, lang_there)
    if names_a and names_b:  # replaced, not merely left out
        d.names_here, d.names_there = names_a, names_b
    return d


def quote_differences(quote) -> list[dict]:
    """For a Quote with versions: one entry per version whose figures differ (the note a quote carries),
    with that version's language and reference. Names are left to `onrecord versions`, where they are
    shown in their sentences: a translated name ("Hamngatan", "Harbour Street") is no difference, and a
    one-line note cannot tell the two apart."""
    out = []
    for v in quote.versions:
        d = differ(quote.text, v.text, quote.language, v.language)
        d.names_here, d.names_there = [], []
        if d:
            out.append({"language": v.language, **d.to_json(), "ref": v.ref})
    return out


@dataclass
class Row:
    """One line of the side-by-side view: a sentence here, its aligned sentence there, or one of them alone."""

    here: SentenceRecord | None
    there: SentenceRecord | None
    here_text: str | None
    there_text: str | None
    difference: Difference
    in_quote: bool = False

    @property
    def status(self) -> str:
        if self.here is None:
            return "only_there"
        if self.there is None:
            return "only_here"
        return "differs" if self.difference else "aligned"

    def to_json(self) -> dict:
        d = {"status": self.status, "here": self.here_text, "there": self.there_text}
        for name, s in (("here_span", self.here), ("there_span", self.there)):
            if s is not None:
                d[name] = [s.start, s.end]
        if self.in_quote:
            d["in_quote"] = True
        d.update(self.difference.to_json())
        return d


@dataclass
class Comparison:
    """A statement's document and one of its versions, aligned sentence by sentence."""

    document: DocumentRecord
    other: DocumentRecord
    rows: list[Row]

    def counts(self) -> dict[str, int]:
        out = {"aligned": 0, "differs": 0, "only_here": 0, "only_there": 0}
        for r in self.rows:
            out[r.status] += 1
        return out

    def to_json(self) -> dict:
        return {"language": self.document.language, "other_language": self.other.language,
                "source": self.document.source, "other_source": self.other.source,
                "title": self.document.title, "other_title": self.other.title,
                "counts": self.counts(), "rows": [r.to_json() for r in self.rows]}


def compare(store: StoreReader, doc_id: int, quote_span: tuple[int, int] | None = None) -> list[Comparison]:
    """The document `doc_id` against each of its other-language versions (the store's links and its
    sentence alignment), in the document's order; sentences left unaligned on either side are rows of
    their own, placed after the last aligned sentence before them."""
    doc = store.document(doc_id)
    if doc is None:
        return []
    text_a = store.document_text(doc_id)
    sents_a = store.sentences_of_document(doc_id)
    out = []
    for other_id in store.versions(doc_id):
        other = store.document(other_id)
        if other is None:
            continue
        text_b = store.document_text(other_id)
        sents_b = store.sentences_of_document(other_id)
        known_b = keys_of(text_b[other.start : other.end])
        index_b = {s.id: i for i, s in enumerate(sents_b)}
        pair: dict[int, int] = {}
        for s in sents_a:
            for b in store.aligned_sentences([s.id]):
                if b.doc_id == other_id and b.id in index_b and index_b[b.id] not in pair.values():
                    pair[s.id] = index_b[b.id]
                    break
        taken = set(pair.values())
        rows: list[Row] = []
        j = 0

        def row(a: SentenceRecord | None, b: SentenceRecord | None) -> Row:
            ta = text_a[a.start : a.end] if a else None
            tb = text_b[b.start : b.end] if b else None
            diff = differ(ta, tb, doc.language, other.language, known_b) if ta and tb else Difference()
            inside = bool(a and quote_span and a.start < quote_span[1] and quote_span[0] < a.end)
            return Row(a, b, ta, tb, diff, inside)

        for s in sents_a:
            k = pair.get(s.id)
            if k is None:
                rows.append(row(s, None))
                continue
            while j < k:
                if j not in taken:
                    rows.append(row(None, sents_b[j]))
                j += 1
            rows.append(row(s, sents_b[k]))
            j = max(j, k + 1)
        rows.extend(row(None, sents_b[i]) for i in range(j, len(sents_b)) if i not in taken)
        out.append(Comparison(doc, other, rows))
    return out


def compare_ref(engine, value: str) -> tuple[list[Comparison], str | None]:
    """The statement a quote reference points into, against each of its versions, as the index holds
    it now (the quote's sentences marked); and the quote's language. Raises refs.BadRef."""
    from .refs import QuoteRef
    from .verify import _find_in_index

    ref = QuoteRef.parse(value)
    with engine.live.reader() as store:
        doc, at, _ = _find_in_index(store, ref)
        if doc is None:
            return [], None
        span = (at, at + ref.length) if at is not None else (ref.start, ref.end)
        return compare(store, doc.id, span), doc.language
