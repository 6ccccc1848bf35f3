"""Helpers shared by the format parsers: lines with offsets, trimming spans, segment building."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from collections import Counter
from typing import Callable, Iterator

from ..document import Segment

# Characters trimmed from both ends of a segment besides whitespace: BOM, zero-width characters.
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060\u00ad\u200e\u200f"
BULLETS = "•◦‣▪▫■□●○◆◇►▶▸▹➤➔→⁃∙·"
_DASH_BULLETS = "-–—*+"
_WORD = re.compile(r"[^\W_]")
URL_RE = re.compile(r"https?://[^\s<>\"'()\[\]]+[^\s<>\"'()\[\].,;:!?]")


@dataclass
class Line:
    start: int  # offset of the first character
    end: int  # offset of the line break (or end of range)
    text: str

    @property
    def stripped(self) -> str:
        return self.text.strip(" \t\u00a0" + _INVISIBLE)

    @property
    def blank(self) -> bool:
        return not self.text.strip(" \t\u00a0\x0b\x0c" + _INVISIBLE)


def lines(text: str, start: int = 0, end: int | None = None) -> list[Line]:
    """The lines of text[start:end] with their offsets (line breaks excluded)."""
    end = len(text) if end is None else end
    out: list[Line] = []
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        stop = end if nl < 0 else nl
        out.append(Line(pos, stop, text[pos:stop]))
        if nl < 0:
            break
        pos = nl + 1
    return out


def is_space(ch: str) -> bool:
    return ch.isspace() or ch in _INVISIBLE


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) so that it neither starts nor ends with whitespace or invisible chars."""
    while start < end and is_space(text[start]):
        start += 1
    while end > start and is_space(text[end - 1]):
        end -= 1
    return start, end


def is_decoration(ch: str) -> bool:
    """Emoji, pictographs, flags, variation selectors, bullets: what decorates a line's start."""
    if ch in BULLETS:
        return True
    cat = unicodedata.category(ch)
    return cat in ("So", "Sk", "Cf", "Mn", "Co", "Cs") or ch in "\u20e3"


def skip_decoration(text: str, start: int, end: int) -> int:
    """Offset after leading whitespace, emoji, bullets ('•', '▪️', '🇷🇺', '- ', '* ')."""
    pos = start
    while pos < end:
        ch = text[pos]
        if is_space(ch) or is_decoration(ch):
            pos += 1
            continue
        if ch in _DASH_BULLETS and pos + 1 < end and text[pos + 1] in " \t\u00a0":
            pos += 2
            continue
        break
    return pos


def has_words(s: str) -> bool:
    return bool(_WORD.search(s))


def collapse(s: str) -> str:
    return " ".join(s.split())


def short_title(s: str, limit: int = 300) -> str:
    s = collapse(s)
    if len(s) <= limit:
        return s
    return s[:limit].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"


class SegmentList:
    """Collects segments of a document, trimmed and in order; drops empty ones."""

    def __init__(self, text: str):
        self.text = text
        self.items: list[Segment] = []

    def add(
        self,
        start: int,
        end: int,
        speaker: str | None = None,
        context: str | None = None,
        time: float | None = None,
        end_time: float | None = None,
        strip_decoration: bool = True,
        spoken_language: str | None = None,
    ) -> Segment | None:
        if strip_decoration:
            start = skip_decoration(self.text, start, end)
        start, end = trim(self.text, start, end)
        if end <= start or not has_words(self.text[start:end]):
            return None
        seg = Segment(start=start, end=end, speaker=speaker, time=time, end_time=end_time, context=context,
                      spoken_language=spoken_language)
        self.items.append(seg)
        return seg


def main_speaker(segments: list[Segment], is_chair: Callable[[str], bool]) -> str | None:
    """Whoever says most (in characters) in a record of many speakers, the chair left out."""
    by_chars: Counter[str] = Counter()
    for s in segments:
        if s.speaker and not is_chair(s.speaker):
            by_chars[s.speaker] += s.end - s.start
    return by_chars.most_common(1)[0][0] if by_chars else None


def iter_blocks(ls: list[Line]) -> Iterator[list[Line]]:
    """Runs of consecutive non-blank lines."""
    block: list[Line] = []
    for ln in ls:
        if ln.blank:
            if block:
                yield block
            block = []
        else:
            block.append(ln)
    if block:
        yield block


def starts_with_marker(line: Line) -> bool:
    """A line opened by an emoji or bullet starts its own paragraph."""
    s = line.text.lstrip(" \t\u00a0" + _INVISIBLE)
    if not s:
        return False
    if is_decoration(s[0]):
        return True
    return s[0] in _DASH_BULLETS and len(s) > 1 and s[1] in " \t"


def wrapped(prev: Line, nxt: Line, width: int = 100) -> bool:
    """Is `nxt` the continuation of `prev` in hard-wrapped prose (lines cut at a fixed width)?"""
    p = prev.text.rstrip()
    if not p or len(p) > width or len(p) < 25:
        return False
    if starts_with_marker(nxt):
        return False
    return True


def hard_wrapped(ls: list[Line], width: int = 100) -> bool:
    """Is this text hard-wrapped prose (most lines cut below `width`), so that consecutive lines
    form one paragraph? Otherwise every line is a paragraph of its own."""
    lens = sorted(len(ln.text.rstrip()) for ln in ls if not ln.blank)
    if len(lens) < 8:
        return False
    p90 = lens[int(len(lens) * 0.9)]
    median = lens[len(lens) // 2]
    return p90 <= width and median >= 30


def first_url(s: str) -> str | None:
    m = URL_RE.search(s)
    return m.group(0) if m else None
