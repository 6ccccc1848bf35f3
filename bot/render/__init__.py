"""Rendering an Answer (data from the engine) for people: one citation formatter (citation.py), the
plain text and the terminal (text.py), Slack's Block Kit (slack.py). Renderers only format: what was
found, and in which words, is decided once, here and in bot/compose.py."""
from __future__ import annotations

from bot.answer.types import Answer


def headline_key(answer: Answer) -> str:
    """The message key of the answer's first line: found, not found, or "please ask a question"."""
    if answer.kind == "empty":
        return "empty_question"
    if not answer.found:
        return "not_found_quote" if answer.kind == "quote" else "not_found"
    return "found_quote" if answer.kind == "quote" else "found"
