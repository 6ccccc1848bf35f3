"""Subtitles: SubRip (.srt) and WebVTT (.vtt).

The document text is built from the cue texts: one paragraph per cue, in order, separated by a
blank line, with markup tags removed (so offsets index this built text, never the subtitle file).
Each cue is a segment with `time`/`end_time` in seconds. A cue's speaker comes from a "<v Name>"
voice tag or a "NAME:" / "- Name:" prefix (then left out of the segment); a speaker holds until
another is named. Anything that does not parse as cues raises SkipFile("malformed subtitle …").
"""
from __future__ import annotations

import html
import re
from pathlib import Path

from ...document import Document, Segment
from ...errors import SkipFile
from . import Format
from ..common import collapse
from ..names import is_name

_TS = r"(?:(\d{1,3}):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TS}\s*-->\s*{_TS}(?:\s+.*)?$")
_TAG = re.compile(r"<[^>\n]*>")
_VOICE = re.compile(r"<v(?:\.[\w.\-]+)?\s+([^>]+)>", re.IGNORECASE)
_SPEAKER_PREFIX = re.compile(r"^\s*(?:-\s*)?(?:\[([^\]\n]{1,40})\]|([^\W\d_][\w .'’\-]{0,40}?))\s*:\s+")
_SRT_INDEX = re.compile(r"^\s*\d+\s*$")


def _seconds(h, m, s, ms) -> float:
    ms = (ms or "0").ljust(3, "0")
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000.0


def _cue_blocks(text: str) -> list[list[str]]:
    blocks, cur = [], []
    for line in text.split("\n"):
        if line.strip():
            cur.append(line.rstrip())
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    return blocks


def _parse_cues(text: str, vtt: bool) -> list[tuple[float, float, list[str]]]:
    text = text.lstrip("\ufeff")
    blocks = _cue_blocks(text)
    if vtt:
        if not blocks or not blocks[0][0].startswith("WEBVTT"):
            raise SkipFile("malformed subtitle: no WEBVTT header")
        blocks = blocks[1:]
    cues = []
    bad = 0
    for block in blocks:
        head = block[0].strip()
        if vtt and head.split(" ", 1)[0] in ("NOTE", "STYLE", "REGION"):
            continue
        # locate the timing line: first or second line (after an index / cue identifier)
        t_idx = None
        for k in range(min(2, len(block))):
            if _TIMING.match(block[k]):
                t_idx = k
                break
        if t_idx is None or (t_idx == 1 and not vtt and not _SRT_INDEX.match(block[0])):
            bad += 1
            continue
        m = _TIMING.match(block[t_idx])
        g = m.groups()
        start, end = _seconds(*g[0:4]), _seconds(*g[4:8])
        if end < start:
            bad += 1
            continue
        cues.append((start, end, block[t_idx + 1 :]))
    if not cues:
        raise SkipFile("malformed subtitle: no valid cues")
    if bad > max(2, len(cues) // 10):
        raise SkipFile(f"malformed subtitle: {bad} unreadable cue blocks")
    return cues


def parse_subtitles(raw: str, source: str, path: Path, body_start: int = 0) -> list[Document]:
    vtt = path.suffix.lower() == ".vtt" or raw.lstrip("\ufeff").startswith("WEBVTT")
    cues = _parse_cues(raw, vtt)
    parts: list[str] = []
    segs: list[Segment] = []
    pos = 0
    speaker: str | None = None
    speakers: list[str] = []
    for start, end, body in cues:
        joined = "\n".join(body)
        voice = _VOICE.search(joined)
        if voice:
            speaker = collapse(voice.group(1)) or speaker
        clean = html.unescape(_TAG.sub("", joined))
        clean = "\n".join(line.strip() for line in clean.split("\n")).strip()
        pm = _SPEAKER_PREFIX.match(clean)
        if pm:
            label = (pm.group(1) or pm.group(2) or "").strip()
            if label and (label.isupper() or is_name(label, max_words=4)):
                speaker = label.title() if label.isupper() else label
                clean = clean[pm.end() :].strip()
        if not clean:
            continue
        if parts:
            parts.append("\n\n")
            pos += 2
        parts.append(clean)
        segs.append(Segment(start=pos, end=pos + len(clean), speaker=speaker, time=start, end_time=end))
        pos += len(clean)
        if speaker and speaker not in speakers:
            speakers.append(speaker)
    text = "".join(parts)
    if not segs:
        raise SkipFile("no transcript text: subtitle cues are empty")
    return [
        Document(
            source=source,
            text=text,
            start=0,
            end=len(text),
            segments=segs,
            title=None,
            speaker=speakers[0] if speakers else None,
            kind="subtitle",
            extra={"cues": len(segs), "speakers": speakers, "format": "vtt" if vtt else "srt"},
        )
    ]


FORMAT = Format(
    name="subtitles",
    suffixes=(".srt", ".vtt"),
    parse=parse_subtitles,
    description="SubRip and WebVTT subtitles (cue times become citation timestamps)",
)
