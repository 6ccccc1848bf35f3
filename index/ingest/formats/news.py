"""Short TV news items (1tv-news-ru/, 1tv-news-en-mt/).

    Выпуск новостей в 15:00 от 13.01.2026      ← bulletin header: metadata
    Задержан житель Мариуполя, …               ← item title (when there are 4 lines): metadata
    Он собирал для них информацию …            ← the text: segments
    Сегодня, 15:04                             ← time stamp: metadata

Files holding only the text (one line) are read as plain text.
"""
from __future__ import annotations

import re
from pathlib import Path

from ...document import Document
from . import TEXT_SUFFIXES, Format
from ..common import SegmentList, collapse, lines, short_title
from ..dates import filename_date, parse_date

HEADER = re.compile(
    r"^\s*(?:Выпуск\s+(?:новостей|программы)\b.*\bот\s+\d|News\s+release\s+at\s+\d{1,2}:\d{2}\s+from\s+\d"
    r"|Release\s+of\s+the\s+program\b.*\bfrom\s+\d)",
    re.IGNORECASE,
)
STAMP = re.compile(
    r"^\s*(?:Сегодня|Вчера|Today|Yesterday|\d{1,2}\s+[^\W\d_]+(?:\s+\d{4})?)\s*,\s*\d{1,2}:\d{2}\.?\s*$",
    re.IGNORECASE,
)


def looks_like(text: str) -> bool:
    ls = [ln for ln in lines(text) if not ln.blank]
    if len(ls) < 2:
        return False
    return bool(HEADER.match(ls[0].text)) or bool(STAMP.match(ls[-1].text))


def parse_news(text: str, source: str, path: Path, body_start: int = 0) -> list[Document]:
    ls = [ln for ln in lines(text, body_start) if not ln.blank]
    extra: dict = {}
    if ls and HEADER.match(ls[0].text):
        extra["bulletin"] = collapse(ls[0].text)
        ls = ls[1:]
    if ls and STAMP.match(ls[-1].text):
        extra["stamp"] = collapse(ls[-1].text)
        ls = ls[:-1]
    title = None
    if len(ls) >= 2:
        title = collapse(ls[0].text)
        ls = ls[1:]
    elif extra.get("bulletin"):
        title = extra["bulletin"]
    segs = SegmentList(text)
    for ln in ls:
        segs.add(ln.start, ln.end)
    if title is None and segs.items:
        title = short_title(text[segs.items[0].start : segs.items[0].end], 120)
    date = filename_date(path.name) or parse_date(extra.get("bulletin"))
    return [
        Document(source=source, text=text, start=body_start, end=len(text), segments=segs.items, title=title, date=date, kind="text", extra=extra)
    ]


FORMAT = Format(
    name="tv-news",
    suffixes=TEXT_SUFFIXES,
    parse=parse_news,
    sniff=lambda text, body: looks_like(text[body:]),
    priority=10,
    front_matter=True,
    description="TV news items (bulletin header, item title, text, time stamp)",
)
