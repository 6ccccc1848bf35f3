"""Render an Answer as a Slack message: Block Kit blocks plus a plain-text fallback.

Every piece of transcript text is escaped (&, <, >) so a quote can never mention a user, ping
@channel or forge a link. Slack's limits are respected: a section's text is at most 3,000
characters (long quotes are split over several sections) and a message at most 50 blocks (quotes
that do not fit are left for the "More quotes" button).
"""
from __future__ import annotations

import json
import re

from bot.answer_types import Answer, Quote
from bot.messages import language_name, t

SECTION_LIMIT = 3000
MAX_BLOCKS = 50
FALLBACK_LIMIT = 3000
VALUE_LIMIT = 2000
CONTEXT_LIMIT = 2000

ACTION_MORE = "onrecord_more"
ACTION_OTHER_LANGUAGE = "onrecord_other_language"
ACTION_UP = "onrecord_feedback_up"
ACTION_DOWN = "onrecord_feedback_down"
ACTION_SHARE = "onrecord_share"


def escape(text: str | None) -> str:
    """Slack's escaping for message text: only &, < and > (in that order)."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str | None, label: str) -> str | None:
    if not url or not re.match(r"^https?://[^\s<>|]+$", url):
        return None
    return f"<{escape(url)}|{escape(label)}>"


def _chunks(text: str, size: int) -> list[str]:
    """Split text into pieces of at most `size` characters, preferring line and word breaks."""
    out = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        if cut < size // 2:
            cut = text.rfind(" ", 0, size)
        if cut < size // 2:
            cut = size
        out.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text or not out:
        out.append(text)
    return out


def quote_sections(text: str) -> list[dict]:
    """A quote as one or more mrkdwn block-quote sections, each within Slack's 3,000 characters."""
    lines = escape(text).split("\n")
    quoted = "\n".join("> " + line if line.strip() else ">" for line in lines)
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk if chunk.startswith(">") else "> " + chunk}}
        for chunk in _chunks(quoted, SECTION_LIMIT - 2)
    ]


def citation(q: Quote, lang: str | None) -> str:
    """speaker · title · date · link · location (each escaped)."""
    parts = [escape(q.speaker) if q.speaker else t(lang, "unknown_speaker")]
    if q.speaker and q.speaker_role:
        parts[0] += ", " + escape(q.speaker_role)
    if q.title:
        title = q.title if len(q.title) <= 300 else q.title[:299] + "…"
        parts.append(f"_{escape(title)}_")
    if q.date:
        parts.append(escape(q.date))
    link = _link(q.url, "link")
    if link:
        parts.append(link)
    if q.location:
        parts.append(escape(q.location))
    if q.spoken_language:  # says the text's language too
        parts.append(escape(t(lang, "spoken_in", language=language_name(q.spoken_language, lang),
                              text_language=language_name(q.language, lang))))
    elif q.language and lang and q.language != lang:
        parts.append(t(lang, "original_in", language=language_name(q.language, lang)))
    text = " · ".join(parts)
    return text if len(text) <= CONTEXT_LIMIT else text[: CONTEXT_LIMIT - 1] + "…"


def citation_plain(q: Quote, lang: str | None) -> str:
    parts = [q.speaker or t(lang, "unknown_speaker"), q.title, q.date, q.url, q.location]
    return " · ".join(escape(p) for p in parts if p)


def framing(answer: Answer, kind: str) -> str:
    if not answer.found:
        return t(answer.language, "not_found_quote" if kind == "quote" else "not_found")
    return t(answer.language, "found_quote" if kind == "quote" else "found")


def button_value(**state) -> str:
    """Compact JSON state for a button (question shortened so it fits Slack's 2,000 characters)."""
    q = state.get("q") or ""
    while True:
        value = json.dumps({**state, "q": q}, ensure_ascii=False, separators=(",", ":"))
        if len(value) <= VALUE_LIMIT or not q:
            return value
        q = q[: max(0, len(q) - (len(value) - VALUE_LIMIT) - 8)]


def parse_value(value: str | None) -> dict:
    try:
        v = json.loads(value or "{}")
        return v if isinstance(v, dict) else {}
    except ValueError:
        return {}


def _button(text: str, action_id: str, value: str, style: str | None = None, label: str | None = None) -> dict:
    b = {"type": "button", "text": {"type": "plain_text", "text": text, "emoji": True}, "action_id": action_id,
         "value": value}
    if style:
        b["style"] = style
    if label:
        b["accessibility_label"] = label
    return b


def render_answer(
    answer: Answer,
    *,
    kind: str = "ask",
    answer_id: str = "",
    offset: int = 0,
    share: bool = False,
    buttons: bool = True,
    header: str | None = None,
) -> dict:
    """{"text": fallback, "blocks": [...]} for chat.postMessage / chat.postEphemeral / respond."""
    lang = answer.language
    # With no quote, the engine's own text (notes + "not found" or "please ask…") is the whole answer.
    head = framing(answer, kind) if answer.quotes or not answer.answer else answer.answer
    notes = answer.notes if answer.quotes else []
    blocks: list[dict] = []
    if header:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": header[:CONTEXT_LIMIT]}]})
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": escape(head)}})
    for note in notes:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(note)[:CONTEXT_LIMIT]}]})
    fallback = [escape(head)]
    budget = MAX_BLOCKS - 3  # keep room for the "did not fit" note and the buttons
    shown = 0
    trimmed = False
    for q in answer.quotes:
        sections = quote_sections(q.text)
        if len(blocks) + len(sections) + 1 > budget:
            trimmed = True
            break
        blocks.extend(sections)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": citation(q, lang)}]})
        fallback.append(f"“{escape(q.text)}” — {citation_plain(q, lang)}")
        shown += 1
    if trimmed:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": t(lang, "more_omitted")}]})
    if buttons and (answer.found or answer.quotes):
        state = {"id": answer_id, "k": kind, "l": lang, "o": offset, "n": shown, "q": answer.question}
        value = button_value(**state)
        elements = []
        if answer.more or trimmed or kind == "quote":
            more_state = {**state, "o": offset + shown}
            elements.append(_button(t(lang, "more_quotes"), ACTION_MORE, button_value(**more_state)))
        if any(q.versions for q in answer.quotes[:shown]):
            elements.append(_button(t(lang, "other_language"), ACTION_OTHER_LANGUAGE, value))
        elements.append(_button("👍", ACTION_UP, value, label=t(lang, "helpful")))
        elements.append(_button("👎", ACTION_DOWN, value, label=t(lang, "not_helpful")))
        if share:
            elements.append(_button(t(lang, "share"), ACTION_SHARE, value, style="primary"))
        blocks.append({"type": "actions", "block_id": "onrecord_answer_actions", "elements": elements})
    text = "\n".join(fallback)
    if len(text) > FALLBACK_LIMIT:
        text = text[: FALLBACK_LIMIT - 1] + "…"
    return {"text": text, "blocks": blocks}


def render_versions(answer: Answer, shown: int | None = None) -> dict:
    """The other-language versions of the quotes shown, as a message."""
    lang = answer.language
    quotes = answer.quotes[:shown] if shown is not None else answer.quotes
    versions = [v for q in quotes for v in q.versions]
    if not versions:
        return render_text(t(lang, "no_versions"))
    head = t(lang, "versions_of")
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": escape(head)}}]
    fallback = [escape(head)]
    for v in versions:
        sections = quote_sections(v.text)
        if len(blocks) + len(sections) + 1 > MAX_BLOCKS - 1:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": t(lang, "more_omitted")}]})
            break
        blocks.extend(sections)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": citation(v, lang)}]})
        fallback.append(f"“{escape(v.text)}” — {citation_plain(v, lang)}")
    text = "\n".join(fallback)
    return {"text": text[:FALLBACK_LIMIT], "blocks": blocks}


def render_text(text: str) -> dict:
    """A short message of our own (apology, thanks…): already safe, no user or transcript text in it."""
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
