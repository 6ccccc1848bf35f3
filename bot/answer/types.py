"""The answering engine's small typed interface, shared by the CLI and the Slack app."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol


@dataclass
class Quote:
    """An exact slice of a stored source text, with its citation."""

    text: str
    language: str | None
    source: str
    title: str | None
    speaker: str | None
    date: str | None
    url: str | None
    location: str  # "¶ 3" or "00:01:23"
    start: int
    end: int
    score: float
    document_id: int = 0
    # the language the words were spoken in, when the record gives one other than the text's own
    # (the text is then the record's translation, e.g. the European Parliament's English version)
    spoken_language: str | None = None
    speaker_role: str | None = None  # what the record calls the speaker: office, party, group
    versions: list["Quote"] = field(default_factory=list)  # the same words in the document's other-language versions
    # onrecord://quote/... reference that re-verifies the quote later (bot/factcheck/refs.py)
    ref: str | None = None
    # where a version in another language differs: figures or names (bot/factcheck/version_diff.py)
    version_differences: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        extras = ("spoken_language", "speaker_role", "ref", "version_differences")  # beside the design's shape, only when known
        d = {k: v for k, v in asdict(self).items() if k not in ("versions", "document_id", *extras)}
        for key in extras:
            if getattr(self, key):
                d[key] = getattr(self, key)
        d["score"] = round(float(self.score), 4)
        if self.versions:
            d["versions"] = [v.to_json() for v in self.versions]
        return d


@dataclass
class Answer:
    """What the engine found, as data: renderers (bot/render) only format it."""

    question: str
    language: str
    found: bool  # decided once, in bot/compose.py: a quote answers the question
    answer: str  # the whole answer as text (bot.render.text.answer_text), the JSON contract's `answer`
    quotes: list[Quote] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # in the answer's language, e.g. "question truncated"
    more: bool = False  # more quotes are available past these (offset paging)
    kind: str = "ask"  # "ask", "quote" (a fragment looked up) or "empty" (nothing askable in the message)
    filters: dict | None = None  # the filters applied, when any (bot/answer/filters.py QuestionFilters.to_json)

    def to_json(self) -> dict:
        d = {
            "question": self.question,
            "language": self.language,
            "found": self.found,
            "answer": self.answer,
            "quotes": [q.to_json() for q in self.quotes],
        }
        if self.filters:  # beside the design's shape, only when the question was filtered
            d["filters"] = self.filters
        return d


class Answerer(Protocol):
    """What the CLI and the Slack app need from the engine."""

    def ask(self, question: str, lang_hint: str | None = None, limit: int = 3, offset: int = 0,
            filters=None) -> Answer: ...  # filters: bot.answer.filters.FilterRequest (explicit filters)

    def quote(self, fragment: str, lang_hint: str | None = None, limit: int = 3, offset: int = 0) -> Answer: ...
