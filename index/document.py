"""What ingest produces: documents with exact text and the quotable spans inside them."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Segment:
    """One paragraph of someone's own words: `text[start:end]` of its document.

    Only segments are ever cut into passages and quoted. Titles, questions put to the speaker,
    interjections and markup are not segments (they may be given as `context`, which is embedded
    beside the passage but never quoted).
    """

    start: int
    end: int
    speaker: str | None = None
    time: float | None = None  # seconds from the start, for timed transcripts
    end_time: float | None = None
    context: str | None = None  # e.g. the question this paragraph answers, or the agenda item
    # ISO 639-1 code of the language these words were spoken in, when the record says so (a
    # European Parliament "(FI)" tag): the text may then be the record's translation of them.
    spoken_language: str | None = None


@dataclass
class Document:
    """One transcript. A file may hold several (an English statement followed by its Swedish version).

    `text` is the text every offset indexes: for plain text and Markdown the whole decoded file
    (`open(source, encoding="utf-8").read()` for UTF-8 files), for subtitles and JSON the transcript
    text built from the cues. `start`/`end` bound this document inside `text`.
    """

    source: str
    text: str
    start: int
    end: int
    segments: list[Segment]
    title: str | None = None
    speaker: str | None = None
    date: str | None = None  # ISO 8601 date, YYYY-MM-DD
    language: str | None = None  # ISO 639-1
    url: str | None = None
    kind: str = "text"  # text | europarl | bundestag | subtitle | json
    ordinal: int = 0  # position of this document in its file
    extra: dict = field(default_factory=dict)

    @property
    def timed(self) -> bool:
        return any(s.time is not None for s in self.segments)
