"""Clean what a user typed into a question the engine can use."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from index.textnorm import blank_controls

MAX_QUESTION_CHARS = 2000

_SLACK_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_SLACK_BARE_LINK = re.compile(r"<(https?://[^|>]+)>")
_SLACK_CHANNEL = re.compile(r"<#[A-Z0-9]+\|([^>]*)>")
_SLACK_MENTION = re.compile(r"<[@!][^>]*>")
_SPACE = re.compile(r"\s+")


@dataclass
class CleanQuestion:
    text: str
    truncated_at: int | None = None

    @property
    def empty(self) -> bool:
        return not any(ch.isalnum() for ch in self.text)


def clean(raw: str, limit: int = MAX_QUESTION_CHARS) -> CleanQuestion:
    """Slack markup resolved to its text, mentions dropped, control characters removed, spaces folded."""
    text = blank_controls(raw or "")  # terminal escape sequences (CSI, OSC, C1) with their payload
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


# Scripts of languages not written in Latin letters; every other language counts as Latin.
_SCRIPTS = {"ru": "CYRILLIC", "uk": "CYRILLIC", "bg": "CYRILLIC", "sr": "CYRILLIC", "mk": "CYRILLIC",
            "be": "CYRILLIC", "kk": "CYRILLIC", "el": "GREEK", "ar": "ARABIC", "fa": "ARABIC", "he": "HEBREW",
            "hi": "DEVANAGARI", "ja": "CJK", "zh": "CJK", "ko": "HANGUL", "th": "THAI", "ka": "GEORGIAN",
            "hy": "ARMENIAN"}


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    first = name.split(" ")[0] if name else ""
    if first in ("HIRAGANA", "KATAKANA"):
        return "CJK"
    return first


def script_allowed(text: str, languages: list[str]) -> bool:
    """Whether most letters of `text` are in a script one of `languages` is written in."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    scripts = {_SCRIPTS.get(lang, "LATIN") for lang in languages}
    inside = sum(1 for c in letters if _script(c) in scripts)
    return inside >= len(letters) / 2
