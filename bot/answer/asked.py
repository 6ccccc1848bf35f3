"""A question as the engine works with it: cleaned text, its language, its vector."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.language import detect_language

from .question import script_allowed


@dataclass
class Asked:
    text: str  # cleaned (bot.answer.question.clean)
    lang: str  # ISO 639-1, among the configured languages
    vector: np.ndarray  # the model's query embedding


def question_language(text: str, hint: str | None, languages: list[str], fallback: str) -> str:
    """The question's language among the configured ones; a question written in a script none of them
    uses (e.g. Japanese when the set is European) gets the hint, or the fallback language."""
    if not script_allowed(text, languages):
        return hint if hint in languages else fallback
    lang, _conf = detect_language(text, languages, hint=hint)
    return lang or (hint if hint else fallback)
