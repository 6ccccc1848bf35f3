"""The buttons under an answer: their action ids, and the state each carries in its value.

A button's value comes back from Slack signed, but its content is whatever the client sent: it is
parsed and checked here (`ButtonState.parse`), and a value that is not one the bot wrote is refused
with `BadButton`, never guessed at.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

ACTION_MORE = "onrecord_more"
ACTION_OTHER_LANGUAGE = "onrecord_other_language"
ACTION_UP = "onrecord_feedback_up"
ACTION_DOWN = "onrecord_feedback_down"
ACTION_SHARE = "onrecord_share"
ACTION_VERIFY = "onrecord_verify"  # value: a quote's onrecord://quote/... reference (bot/factcheck/refs.py)
ACTION_VERSIONS = "onrecord_versions"  # value: the same; the statement's language versions side by side

VALUE_LIMIT = 2000  # Slack's limit for a button value
MAX_OFFSET = 500  # quotes paged past, at most
KINDS = ("ask", "quote")
_ID = re.compile(r"[0-9a-f]{0,32}")
_LANG = re.compile(r"[a-z]{2,3}")


class BadButton(ValueError):
    """A button value the bot did not write (forged or damaged); the message says what is wrong."""


def _int(state: dict, key: str, low: int, high: int, default: int | None) -> int | None:
    value = state.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadButton(f"{key!r} is not a number from {low} to {high}: {str(value)[:40]!r}")
    return value


@dataclass(frozen=True)
class ButtonState:
    question: str
    kind: str = "ask"  # "ask" or "quote"
    lang: str | None = None  # the answer's language
    offset: int = 0  # the first quote shown
    shown: int | None = None  # how many quotes the message showed
    answer_id: str = ""  # the answer in the bot's memory (bot.answers), if still there

    def value(self, **changes) -> str:
        """Compact JSON for the button (the question shortened so it fits Slack's 2,000 characters)."""
        state = {"id": self.answer_id, "k": self.kind, "l": self.lang, "o": self.offset, "n": self.shown,
                 **changes}
        q = self.question
        while True:
            value = json.dumps({**state, "q": q}, ensure_ascii=False, separators=(",", ":"))
            if len(value) <= VALUE_LIMIT or not q:
                return value
            q = q[: max(0, len(q) - (len(value) - VALUE_LIMIT) - 8)]

    @classmethod
    def parse(cls, value: str | None) -> "ButtonState":
        try:
            state = json.loads(value or "")
        except ValueError:
            raise BadButton("not JSON") from None
        if not isinstance(state, dict):
            raise BadButton("not a JSON object")
        question = state.get("q")
        if not isinstance(question, str) or not question.strip():
            raise BadButton("no question")
        kind = state.get("k", "ask")
        if kind not in KINDS:
            raise BadButton(f"unknown kind {str(kind)[:40]!r}")
        lang = state.get("l")
        if lang is not None and not (isinstance(lang, str) and _LANG.fullmatch(lang)):
            raise BadButton(f"not a language code: {str(lang)[:40]!r}")
        answer_id = state.get("id", "")
        if not isinstance(answer_id, str) or not _ID.fullmatch(answer_id):
            raise BadButton("not an answer id")
        return cls(question=question, kind=kind, lang=lang, offset=_int(state, "o", 0, MAX_OFFSET, 0),
                   shown=_int(state, "n", 0, 100, None), answer_id=answer_id)
