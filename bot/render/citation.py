"""One citation formatter: who said it, where and when, and in which language, as parts that each
renderer only formats (plain text, terminal, Slack)."""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from bot.answer.types import Quote
from bot.messages import language_name, t


@dataclass(frozen=True)
class Link:
    url: str
    host: str  # what a reader is shown: where the link leads


@dataclass(frozen=True)
class Citation:
    speaker: str  # "Name, role" when the record gives a role; "unknown speaker" in the answer's language
    title: str | None
    date: str | None
    link: Link | None  # only http(s) addresses; anything else (javascript:, file:…) is not shown at all
    location: str | None  # "¶ 3" or "00:01:23"
    language: str | None  # "spoken in Finnish; quoted from the record's translation into English", "original in English"


def web_link(url: str | None) -> Link | None:
    """`url` as a link when it is an http(s) address with a host, else None."""
    if not url:
        return None
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if any(c.isspace() or c in "<>|" for c in url.strip()):
        return None
    return Link(url=url.strip(), host=parts.hostname)


def citation(q: Quote, lang: str | None) -> Citation:
    """speaker · title · date · link · location, with the language it was spoken in when the text is the
    record's translation, and the quote's language when it is not the question's."""
    who = q.speaker or t(lang, "unknown_speaker")
    if q.speaker and q.speaker_role:
        who = f"{who}, {q.speaker_role}"
    language = None
    if q.spoken_language:  # says the text's language too
        language = t(lang, "spoken_in", language=language_name(q.spoken_language, lang),
                     text_language=language_name(q.language, lang))
    elif q.language and lang and q.language != lang:
        language = t(lang, "original_in", language=language_name(q.language, lang))
    return Citation(speaker=who, title=q.title or None, date=q.date or None, link=web_link(q.url),
                    location=q.location or None, language=language)


def plain(c: Citation) -> str:
    """The citation as plain text: its parts joined by " · " (a link as its address)."""
    parts = [c.speaker, c.title, c.date, c.link.url if c.link else None, c.location, c.language]
    return " · ".join(p for p in parts if p)
