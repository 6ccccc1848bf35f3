"""European Parliament debate transcripts (Europarl markup).

    <CHAPTER ID="002">
    Tribute                                   ← chapter title: document title / segment context
    <SPEAKER ID="006" NAME="President">       ← every following paragraph is this speaker's
    I must begin this sitting by ...
    <P>                                       ← paragraph break
    (The House rose ...)                      ← procedural note in parentheses: not a segment

A "(FR) " tag opening a paragraph (the language it was spoken in) and a role opening a speech
("rapporteur. - ", "on behalf of the PSE Group. - ") are left out of the segment. The tag is kept
as the segments' spoken language, for the rest of that speaker's turn: the English words are then
the Parliament's translation, and citations say so.
"""
from __future__ import annotations

import re
from pathlib import Path

from ...document import Document
from . import TEXT_SUFFIXES, Format
from ..common import SegmentList, collapse, lines, main_speaker
from ..dates import filename_date, parse_date

_TAG_LINE = re.compile(r"^\s*<\s*(/?)\s*([A-Za-z]+)\b([^>]*)>\s*$")
_LEAD_TAGS = re.compile(r"^(?:\s*<\s*/?\s*[A-Za-z]+\b[^>]*>)+\s*")
_ATTR = re.compile(r"""([A-Za-z_]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
_LANG_TAG = re.compile(r"\(([A-Z]{2})\)\s+")
_ROLE_PREFIX = re.compile(r"([^.!?\n<>]{1,120})\.\s+[-–]\s+")  # "rapporteur. - ", "on behalf of the PSE Group. - "
CHAIR = {"president", "vice-president", "the president", "chairman", "chair", "präsident"}

SNIFF = re.compile(r"^\s*<(?:CHAPTER|SPEAKER)\b", re.MULTILINE)


def looks_like(text: str) -> bool:
    return bool(SNIFF.search(text[:20000]))


def attrs(s: str) -> dict[str, str]:
    return {m.group(1).upper(): next(g for g in m.groups()[1:] if g is not None) for m in _ATTR.finditer(s)}


def parse_europarl(text: str, source: str, path: Path, body_start: int = 0) -> list[Document]:
    segs = SegmentList(text)
    speaker: str | None = None
    chapter: str | None = None
    chapters: list[str] = []
    expect_title = False
    all_speakers: list[str] = []
    affiliations: dict[str, str] = {}
    roles: dict[str, str] = {}
    first_para = False
    spoken: str | None = None  # the current turn's "(FI)" tag, lower-cased
    context: str | None = None
    for ln in lines(text, body_start):
        if ln.blank:
            continue
        m = _TAG_LINE.match(ln.text)
        if m:
            tag = m.group(2).upper()
            if tag == "CHAPTER" and not m.group(1):
                expect_title = True
                speaker = None
            elif tag == "SPEAKER" and not m.group(1):
                first_para = True
                spoken = None
                a = attrs(m.group(3))
                name = collapse(a.get("NAME", "")) or None
                speaker = name
                if name:
                    all_speakers.append(name)
                    if a.get("AFFILIATION"):  # a political group: the speaker is a Member of Parliament
                        affiliations[name] = f"MEP ({a['AFFILIATION'].strip()})"
            continue
        start = ln.start
        lead = _LEAD_TAGS.match(ln.text)
        if lead:
            start += lead.end()
        if expect_title:
            chapter = collapse(text[start : ln.end])
            context = None
            chapters.append(chapter)
            expect_title = False
            continue
        body = text[start : ln.end].strip()
        if body.startswith("(") and body.endswith(")") and body.count("(") == body.count(")") and not _LANG_TAG.match(body):
            continue  # (The House rose and observed a minute's silence), (Applause)
        while start < ln.end and text[start].isspace():
            start += 1
        if first_para:
            first_para = False
            rp = _ROLE_PREFIX.match(text, start, ln.end)
            if rp and speaker:
                roles.setdefault(speaker, collapse(rp.group(1)))
                start = rp.end()
        lt = _LANG_TAG.match(text, start, ln.end)
        if lt:
            start = lt.end()
            spoken = lt.group(1).lower()
        if speaker is None:
            # a procedural note before anyone speaks ("- Before the vote:"): context, not words
            note = collapse(text[start : ln.end]).lstrip("-– ").strip()
            if note:
                context = f"{chapter} — {note}" if chapter else note
            continue
        segs.add(start, ln.end, speaker=speaker, context=context or chapter, strip_decoration=False,
                 spoken_language=spoken)
    if not segs.items and not chapters:
        return []
    main = main_speaker(segs.items, lambda name: name.lower() in CHAIR) or (all_speakers[0] if all_speakers else None)
    doc = Document(
        source=source,
        text=text,
        start=body_start,
        end=len(text),
        segments=segs.items,
        title=chapters[0] if chapters else None,
        speaker=main,
        date=filename_date(path.name) or (parse_date(chapters[0]) if chapters else None),
        kind="europarl",
        extra={
            "speakers": list(dict.fromkeys(all_speakers)),
            "chapters": chapters,
            **({"affiliations": affiliations} if affiliations else {}),
            **({"roles": roles} if roles else {}),
        },
    )
    return [doc]


FORMAT = Format(
    name="europarl",
    suffixes=TEXT_SUFFIXES,
    parse=parse_europarl,
    sniff=lambda text, body: looks_like(text[body:]),
    priority=30,
    front_matter=True,
    description="European Parliament debates (<CHAPTER>, <SPEAKER NAME=…>, <P> markup)",
)
