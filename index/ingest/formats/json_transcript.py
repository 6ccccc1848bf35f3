"""JSON transcripts with timed segments, Whisper-style:

    {"text": "...", "language": "en", "title": "...", "speaker": "...", "date": "...", "url": "...",
     "segments": [{"start": 0.0, "end": 4.2, "text": " Hello.", "speaker": "A"}, ...]}

A top-level list of segments is accepted too. The document text is built by joining the segment
texts (stripped), one paragraph each, separated by a blank line; offsets index that text.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from ...document import Document, Segment
from ...errors import SkipFile
from . import Format
from ..dates import normalize_date


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def parse_json(raw: str, source: str, path: Path, body_start: int = 0) -> list[Document]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SkipFile(f"malformed JSON: {exc.msg} at line {exc.lineno}") from None
    meta: dict = {}
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict):
        items = data.get("segments")
        meta = data
        if items is None and isinstance(data.get("transcription"), list):
            items = data["transcription"]
    else:
        items = None
    if not isinstance(items, list):
        raise SkipFile("not a transcript: JSON without a 'segments' list")
    parts: list[str] = []
    segs: list[Segment] = []
    speakers: list[str] = []
    pos = 0
    for it in items:
        if not isinstance(it, dict):
            continue
        t = it.get("text")
        if not isinstance(t, str):
            continue
        t = t.strip()
        if not t:
            continue
        spk = it.get("speaker")
        spk = str(spk).strip() if spk not in (None, "") else None
        if parts:
            parts.append("\n\n")
            pos += 2
        parts.append(t)
        segs.append(Segment(start=pos, end=pos + len(t), speaker=spk, time=_num(it.get("start")), end_time=_num(it.get("end"))))
        pos += len(t)
        if spk and spk not in speakers:
            speakers.append(spk)
    if not segs:
        raise SkipFile("no transcript text: JSON segments are empty")
    text = "".join(parts)

    def s(key):
        v = meta.get(key)
        return str(v).strip() if isinstance(v, (str, int, float)) and str(v).strip() else None

    doc = Document(
        source=source,
        text=text,
        start=0,
        end=len(text),
        segments=segs,
        title=s("title"),
        speaker=s("speaker") or (speakers[0] if speakers else None),
        date=normalize_date(meta.get("date")),
        url=s("url"),
        kind="json",
        extra={"speakers": speakers, **({"language_hint": s("language")} if s("language") else {})},
    )
    return [doc]


FORMAT = Format(
    name="json-segments",
    suffixes=(".json",),
    parse=parse_json,
    description="JSON transcripts with timed segments (Whisper-style)",
)
