"""The answer's text in the question's language: a framing line, the quotes, their citations."""
from __future__ import annotations

from .answer_types import Answer, Quote
from .messages import language_name, t


def citation(q: Quote, lang: str) -> str:
    """speaker · title · date · link · location, with the language it was spoken in when the text is the
    record's translation, and the quote's language when it is not the question's."""
    who = q.speaker or t(lang, "unknown_speaker")
    parts = [f"{who}, {q.speaker_role}" if q.speaker and q.speaker_role else who]
    for value in (q.title, q.date, q.url, q.location):
        if value:
            parts.append(value)
    if q.spoken_language:  # says the text's language too
        parts.append(t(lang, "spoken_in", language=language_name(q.spoken_language, lang),
                       text_language=language_name(q.language, lang)))
    elif q.language and q.language != lang:
        parts.append(t(lang, "original_in", language=language_name(q.language, lang)))
    return " · ".join(parts)


def compose(question: str, lang: str, quotes: list[Quote], kind: str, notes=(), more: bool = False) -> Answer:
    """kind: "ask", "quote" or "empty" (nothing askable in the message)."""
    lines = [t(lang, key, **args) for key, args in notes]
    if kind == "empty":
        lines.append(t(lang, "empty_question"))
    elif not quotes:
        lines.append(t(lang, "not_found_quote" if kind == "quote" else "not_found"))
    else:
        lines.append(t(lang, "found_quote" if kind == "quote" else "found"))
        for q in quotes:
            lines.append("")
            lines.append(f"“{q.text}”")
            lines.append(f"— {citation(q, lang)}")
            if kind == "quote" and q.versions:
                for v in q.versions:
                    lines.append(f"   {t(lang, 'versions')}: “{v.text}” — {citation(v, lang)}")
    return Answer(question=question, language=lang, found=bool(quotes), answer="\n".join(lines),
                  quotes=quotes, notes=[t(lang, k, **a) for k, a in notes], more=more)
