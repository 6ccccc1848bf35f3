"""The engine's findings as an Answer: the quotes, the notes in the question's language, whether
anything was found (decided here, once), and the answer's text (bot/render/text.py)."""
from __future__ import annotations

from .types import Answer, Quote
from ..messages import t
from ..render.text import answer_text
from ..factcheck.version_diff import quote_differences

KINDS = ("ask", "quote", "empty")


def compose(question: str, lang: str, quotes: list[Quote], kind: str, notes=(), more: bool = False) -> Answer:
    """kind: "ask", "quote" or "empty" (nothing askable in the message); notes: (message key, args) pairs."""
    if kind not in KINDS:
        raise ValueError(f"unknown answer kind {kind!r}")
    quotes = list(quotes) if kind != "empty" else []
    for q in quotes:  # a version in another language with other figures or names: a note (bot/factcheck)
        q.version_differences = quote_differences(q)
    answer = Answer(question=question, language=lang, found=bool(quotes), answer="", quotes=quotes,
                    notes=[t(lang, key, **args) for key, args in notes], more=more, kind=kind)
    answer.answer = answer_text(answer)
    return answer
