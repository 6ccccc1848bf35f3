"""The checks that keep a model's prose honest: every quote in it is a slice of a passage it was given.

The model answers with prose that refers to passages as [n] and puts placeholders {Q1}, {Q2}... where
it wants a quote; each placeholder names a passage and a sentence span, and On Record inserts that
slice itself. Whatever else the model put between quotation marks is checked against the passages:

- an exact slice (whole words) of the passage it is attributed to stays, as On Record's slice;
- close to a real span of that passage (a word changed, punctuation differs): replaced by the real slice;
- a slice (or near slice) of another passage than the one it is attributed to: its sentence is dropped;
- found nowhere: its sentence is dropped;
- a prose sentence that quotes one passage's speaker while naming another passage's speaker, and not
  the quoted one: dropped;
- a quotation mark opened and never closed: its sentence is dropped.

Quotations are read outermost first, so a typed sentence that itself quotes someone (“… the EU’s
“party of war” …”) is checked whole; apostrophes are not quotation marks.

Every change is counted. An answer that cites nothing, cites passages it was not given, or has
nothing left after the checks is refused (the caller falls back to the extractive answer).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace

from rapidfuzz import fuzz

from index.chunk import split_sentences
from index.errors import ProseRefused
from index.textnorm import normalize, words

from ..answer.types import Quote
from ..answer.names import phonetic
from .schema import ProseOut

# A quoted text this close (rapidfuzz 0-100) to a real span of the passage is that span, mistyped.
NEAR_SLICE = 88.0
MAX_WINDOW = 3  # sentences a replacement slice may span
MIN_NAME_KEY = 4

MARKER = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
PLACEHOLDER = re.compile(r"\{\s*[Qq]\s*(\d+)\s*\}")
# Quotation marks of the languages On Record answers in, and what closes each: English “…” and ‘…’,
# German „…“ and »…«, French/Russian «…», Swedish ”…” and »…», ‹…›, corner brackets, straight quotes.
_CLOSERS = {"“": "”", "„": "“”", "«": "»", "»": "«»", "”": "”", "‚": "‘’", "‘": "’", "‹": "›", "「": "」", "『": "』",
            '"': '"', "'": "'"}
OPEN, CLOSE = "“", "”"


@dataclass
class Passage:
    """A numbered candidate passage: a verified quote, cut into numbered sentences."""

    n: int
    quote: Quote
    sentences: list[tuple[int, int]]  # offsets into quote.text
    translatable: bool  # not in the question's language, and no version in it

    @classmethod
    def of(cls, n: int, quote: Quote, lang: str) -> "Passage":
        spans = split_sentences(quote.text, 0, len(quote.text), quote.language) or [(0, len(quote.text))]
        translatable = quote.language != lang and not any(v.language == lang for v in quote.versions)
        return cls(n, quote, spans, translatable)

    def slice(self, start: int, end: int) -> Quote:
        """The passage's text[start:end] as a quote with its own offsets in the source. The passage is a
        verified slice source[q.start:q.end], so this is source[q.start + start : q.start + end]."""
        q = self.quote
        if not (0 <= start < end <= len(q.text)):
            raise ValueError(f"span {start}:{end} outside passage {self.n}")
        return replace(q, text=q.text[start:end], start=q.start + start, end=q.start + end, versions=[])

    def sentence_span(self, first: int, last: int) -> tuple[int, int] | None:
        if not (1 <= first <= last <= len(self.sentences)):
            return None
        return self.sentences[first - 1][0], self.sentences[last - 1][1]

    def find_exact(self, text: str) -> tuple[int, int] | None:
        """Where `text` occurs in the passage as whole words."""
        body = self.quote.text
        pos = body.find(text)
        while pos >= 0:
            end = pos + len(text)
            if (pos == 0 or not body[pos - 1].isalnum()) and (end == len(body) or not body[end].isalnum()):
                return pos, end
            pos = body.find(text, pos + 1)
        return None

    def find_near(self, text: str) -> tuple[float, tuple[int, int]] | None:
        """The run of 1-3 sentences the text most likely mistypes, and how close it is."""
        target = normalize(text)
        if len(target) < 8:
            return None
        best: tuple[float, tuple[int, int]] | None = None
        for i in range(len(self.sentences)):
            for j in range(i, min(i + MAX_WINDOW, len(self.sentences))):
                s, e = self.sentences[i][0], self.sentences[j][1]
                window = normalize(self.quote.text[s:e])
                if not window:
                    continue
                score = fuzz.ratio(target, window) if len(target) >= len(window) else fuzz.partial_ratio(target, window)
                key = (score, -(e - s))  # the shortest run that holds it
                if best is None or key > best[0]:
                    best = (key, (s, e))
        return (best[0][0], best[1]) if best and best[0][0] >= NEAR_SLICE else None


@dataclass
class Inserted:
    """A quote in the prose: passage number, the slice (a Quote with source offsets), and a labelled
    model translation when the passage is not in the question's language."""

    n: int
    quote: Quote
    translation: str | None = None

    def to_json(self) -> dict:
        d = {"passage": self.n, **self.quote.to_json()}
        if self.translation:
            d["model_translation"] = self.translation
        return d


@dataclass
class Checked:
    text: str  # prose with the slices inserted, citations as [n]
    cited: list[int]  # passage numbers, in order of first citation
    inserted: list[Inserted] = field(default_factory=list)
    own: str = ""  # the model's own words (no slices, no translations)
    counts: Counter = field(default_factory=Counter)


def _markers(text: str) -> list[int]:
    return [int(x) for m in MARKER.finditer(text) for x in re.split(r"\s*[,;]\s*", m.group(1))]


class Unbalanced(ValueError):
    """A quotation mark opened and never closed: what follows it cannot be told from the model's own words."""


def _quoted_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, inner text) of each outermost quotation in `text`, nested quotations inside
    (“… the EU’s “party of war” …”). Apostrophes (EU’s, don't) are not quotation marks."""
    spans: list[tuple[int, int, str]] = []
    stack: list[tuple[str, int]] = []
    for i, c in enumerate(text):
        before = text[i - 1] if i else " "
        after = text[i + 1] if i + 1 < len(text) else " "
        if c in "'’‘" and before.isalnum() and after.isalnum():
            continue  # an apostrophe inside a word
        if stack and c in _CLOSERS[stack[-1][0]] and not (c == "'" and after.isalnum()):
            opener, start = stack.pop()
            if not stack:
                spans.append((start, i + 1, text[start + 1 : i]))
            continue
        if c in _CLOSERS and not (c in "'’" and (before.isalnum() or not after.strip())):
            if c in "'‘‚" and after.isspace():
                continue
            stack.append((c, i))
    if stack:
        raise Unbalanced(text[stack[0][1] :][:80])
    return spans


def _name_keys(name: str | None) -> set[str]:
    return {phonetic(w) for w in words(name or "") if len(w) >= MIN_NAME_KEY}


def _names(sentence: str, keys: set[str]) -> bool:
    """Does the sentence name someone with one of these keys (any script, any case ending)?"""
    have = {phonetic(w) for w in words(sentence) if len(w) >= MIN_NAME_KEY}
    return any(h.startswith(k) or k.startswith(h) for h in have for k in keys if min(len(h), len(k)) >= MIN_NAME_KEY)


def render_quote(ins: Inserted, label: str) -> str:
    text = f"{OPEN}{ins.quote.text}{CLOSE} [{ins.n}]"
    if ins.translation:
        text += f" ({label}: {ins.translation})"
    return text


def check(out: ProseOut, passages: list[Passage], lang: str, translation_label: str) -> Checked:
    """Apply every check to the model's answer; raise ProseRefused when it cannot be used."""
    counts: Counter = Counter()
    given = {p.n: p for p in passages}
    prose = (out.prose or "").strip()
    refs = {i: r for i, r in enumerate(out.quotes, start=1)}

    used_refs = [int(m.group(1)) for m in PLACEHOLDER.finditer(prose)]
    cited_numbers = _markers(prose) + [refs[i].passage for i in used_refs if i in refs]
    not_given = sorted({n for n in cited_numbers if n not in given} | {r.passage for r in out.quotes if r.passage not in given})
    if not_given:
        counts["cites_passage_not_given"] += len(not_given)
        raise ProseRefused(f"cites passages it was not given: {not_given}", counts)
    if not prose or not cited_numbers:
        counts["cites_nothing"] += 1
        raise ProseRefused("cites nothing", counts)

    speaker_keys = {p.n: _name_keys(p.quote.speaker) for p in passages}
    kept: list[_Sentence] = []
    spans = _prose_sentences(prose, lang)
    bounds = [0] + [s for s, _ in spans[1:]] + [len(prose)]
    for i in range(len(spans)):  # each sentence with the gap after it
        sentence = _check_sentence(prose[bounds[i] : bounds[i + 1]], given, refs, speaker_keys, translation_label, counts)
        if sentence is not None:
            kept.append(sentence)
    text = "".join(s.text for s in kept).strip()
    cited = list(dict.fromkeys(n for s in kept for n in s.cited))
    if not text or not cited:
        counts["nothing_left"] += 1
        raise ProseRefused("nothing citable left after the checks", counts)
    unused = set(refs) - set(used_refs)
    if unused:
        counts["quote_not_placed"] += len(unused)
    return Checked(text=text, cited=cited, inserted=[i for s in kept for i in s.inserted],
                   own=" ".join(s.own for s in kept), counts=counts)


def _prose_sentences(prose: str, lang: str) -> list[tuple[int, int]]:
    """Sentence spans of the prose. A placeholder stands for a quote that ends its sentence more often
    than not, and citations sit between sentences: the splitter sees "xxx." and spaces in their place."""
    masked = PLACEHOLDER.sub(lambda m: "x" * (len(m.group(0)) - 1) + ".", prose)
    masked = MARKER.sub(lambda m: " " * len(m.group(0)), masked)
    return split_sentences(masked, 0, len(masked), lang) or [(0, len(prose))]


@dataclass
class _Sentence:
    text: str  # as shown: the model's words, slices inserted
    own: str  # the model's words only
    cited: list[int]
    inserted: list[Inserted]


def _check_sentence(piece: str, given: dict[int, Passage], refs: dict, speaker_keys: dict[int, set[str]],
                    label: str, counts: Counter) -> _Sentence | None:
    """One prose sentence with its quotes checked and inserted, or None when it must go.

    The sentence is cut into the model's own words and quotes; citations, placeholders and names are
    read from the model's own words only, never from inserted slices (a transcript may hold "[2]")."""
    parts: list[tuple[str, str | Inserted]] = []  # ("own", text) or ("quote", Inserted)
    pos = 0
    try:
        quotations = _quoted_spans(piece)
    except Unbalanced:
        counts["unbalanced_quotation_mark"] += 1
        return None
    for s, e, inner in quotations:
        parts.append(("own", piece[pos:s]))
        pos = e
        if PLACEHOLDER.fullmatch(inner.strip()):  # a placeholder in quotation marks is a placeholder
            parts.append(("own", inner.strip()))
            continue
        following = MARKER.search(piece, e)  # the citation after the quotation, else the sentence's
        attributed = _markers(following.group(0)) if following else _markers(piece)
        outcome = _typed_quote(inner.strip(), attributed, given)
        if outcome is None:
            counts["invented_quote"] += 1
            return None
        kind, n, span = outcome
        if kind == "misattributed":
            counts["misattributed_quote"] += 1
            return None
        counts["typed_quote_exact" if kind == "exact" else "typed_quote_replaced"] += 1
        parts.append(("quote", Inserted(n, given[n].slice(*span))))
        pos = _skip_marker(piece, pos, n)
    parts.append(("own", piece[pos:]))

    pieces: list[tuple[str, str | Inserted]] = []
    for kind, value in parts:
        if kind == "quote":
            pieces.append((kind, value))
            continue
        pos = 0
        for m in PLACEHOLDER.finditer(value):
            pieces.append(("own", value[pos : m.start()]))
            pos = m.end()
            ref = refs.get(int(m.group(1)))
            p = given.get(ref.passage) if ref else None
            span = p.sentence_span(ref.first_sentence, ref.last_sentence) if p else None
            if span is None:
                counts["bad_quote_reference"] += 1
                return None
            translation = (ref.translation or "").strip() or None
            if translation and not p.translatable:
                counts["translation_dropped"] += 1
                translation = None
            counts["quote_inserted"] += 1
            pieces.append(("quote", Inserted(p.n, p.slice(*span), translation)))
            pos = _skip_marker(value, pos, p.n)
        pieces.append(("own", value[pos:]))

    own = "".join(v for k, v in pieces if k == "own")
    inserted = [v for k, v in pieces if k == "quote"]
    for ins in inserted:  # who is named beside a quote must be whoever said it
        mine = speaker_keys.get(ins.n) or set()
        others = {key for keys in speaker_keys.values() for key in keys} - mine
        if others and _names(own, others) and not (mine and _names(own, mine)):
            counts["quote_given_to_another_speaker"] += 1
            return None
    text = "".join(v if k == "own" else render_quote(v, label) for k, v in pieces)
    cited = []
    for k, v in pieces:
        cited += _markers(v) if k == "own" else [v.n]
    return _Sentence(text, own, cited, inserted)


def _skip_marker(text: str, pos: int, n: int) -> int:
    """Past a citation [n] right after a quote: render_quote writes it."""
    rest = text[pos:]
    m = MARKER.match(rest.lstrip())
    if m and n in _markers(m.group(0)):
        return pos + len(rest) - len(rest.lstrip()) + m.end()
    return pos


def _typed_quote(typed: str, attributed: list[int], given: dict[int, Passage]):
    """('exact'|'near', n, span) for a typed quotation of the passage it is attributed to (any cited
    passage when none is named beside it), ('misattributed', n, span) when it is another passage's,
    None when it is nobody's words."""
    targets = [given[n] for n in attributed if n in given] or list(given.values())
    others = [p for p in given.values() if p not in targets]
    for p in targets:
        span = p.find_exact(typed)
        if span:
            return "exact", p.n, span
    for p in others:
        if p.find_exact(typed):
            return "misattributed", p.n, (0, 0)
    near = [(hit[0], p.n, hit[1]) for p in targets if (hit := p.find_near(typed))]
    far = [(hit[0], p.n) for p in others if (hit := p.find_near(typed))]
    if near and (not far or max(near)[0] >= max(far)[0]):
        score, n, span = max(near)
        return "near", n, span
    if far:
        return "misattributed", max(far)[1], (0, 0)
    return None
