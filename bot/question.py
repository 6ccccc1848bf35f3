"""Clean what a user typed into a question the engine can use."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

MAX_QUESTION_CHARS = 2000

_SLACK_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_SLACK_BARE_LINK = re.compile(r"<(https?://[^|>]+)>")
_SLACK_CHANNEL = re.compile(r"<#[A-Z0-9]+\|([^>]*)>")
_SLACK_MENTION = re.compile(r"<[@!][^>]*>")
_SPACE = re.compile(r"\s+")


@dataclass
class CleanQuestion:
    text: str
    notes: list[str] = field(default_factory=list)  # message keys with arguments, e.g. ("truncated", {"n": 2000})
    truncated_at: int | None = None

    @property
    def empty(self) -> bool:
        return not any(ch.isalnum() for ch in self.text)


def clean(raw: str, limit: int = MAX_QUESTION_CHARS) -> CleanQuestion:
    """Slack markup resolved to its text, mentions dropped, control characters removed, spaces folded."""
    text = raw or ""
    text = _SLACK_LINK.sub(r"\2", text)
    text = _SLACK_BARE_LINK.sub(r"\1", text)
    text = _SLACK_CHANNEL.sub(r"\1", text)
    text = _SLACK_MENTION.sub(" ", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") else ch for ch in text)
    text = _SPACE.sub(" ", text).strip()
    q = CleanQuestion(text)
    if len(text) > limit:
        cut = text.rfind(" ", 0, limit)
        q.text = text[: cut if cut > limit // 2 else limit]
        q.truncated_at = len(q.text)
    return q
