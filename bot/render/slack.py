"""An Answer as a Slack message: Block Kit blocks plus a plain-text fallback, formatted from the
answer's data and the one citation formatter (bot/render/citation.py).

Every piece of transcript text is escaped (&, <, >) so a quote can never mention a user, ping
@channel or forge a link; a link is made only from an http(s) address and labelled with its host.
Slack's limits are respected: a section's text is at most 3,000 characters (long quotes are split over
several sections) and a message at most 50 blocks (quotes that do not fit are left for "More quotes").
"""
from __future__ import annotations

from bot.answer.types import Answer, Quote
from bot.messages import t
from bot.factcheck.notes import difference_lines
from bot.slack.buttons import (
    ACTION_DOWN, ACTION_MORE, ACTION_OTHER_LANGUAGE, ACTION_SHARE, ACTION_UP, ACTION_VERIFY, VALUE_LIMIT, ButtonState,
)

from . import headline_key
from .citation import Citation, citation
from .text import safe_text

SECTION_LIMIT = 3000
MAX_BLOCKS = 50
FALLBACK_LIMIT = 3000
CONTEXT_LIMIT = 2000
TITLE_LIMIT = 300
MAX_VERIFY = 5  # Verify buttons under an answer, one per quote shown (in order)


def escape(text: str | None) -> str:
    """Slack's escaping for message text: only &, < and > (in that order)."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def format_citation(c: Citation) -> str:
    """speaker · _title_ · date · <url|host> · location · language, each part escaped."""
    parts = [escape(c.speaker)]
    if c.title:
        parts.append(f"_{escape(_cut(c.title, TITLE_LIMIT))}_")
    if c.date:
        parts.append(escape(c.date))
    if c.link:
        parts.append(f"<{escape(c.link.url)}|{escape(c.link.host)}>")
    parts += [escape(p) for p in (c.location, c.language) if p]
    return _cut(" · ".join(parts), CONTEXT_LIMIT)


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text, CONTEXT_LIMIT)}]}


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(text: str, action_id: str, value: str, style: str | None = None, label: str | None = None) -> dict:
    b = {"type": "button", "text": {"type": "plain_text", "text": text, "emoji": True}, "action_id": action_id,
         "value": value}
    if style:
        b["style"] = style
    if label:
        b["accessibility_label"] = label
    return b


def _quotes(quotes: list[Quote], lang: str | None, blocks: list[dict], fallback: list[str], budget: int) -> int:
    """Append each quote with its citation while they fit in `budget` blocks; returns how many did."""
    shown = 0
    for q in quotes:
        sections = quote_sections(q.text)
        notes = [_context(escape(line)) for line in difference_lines(q, lang)]  # a version differs
        if len(blocks) + len(sections) + 1 + len(notes) > budget:
            break
        cited = format_citation(citation(q, lang))
        blocks.extend(sections)
        blocks.append(_context(cited))
        blocks.extend(notes)
        fallback.append(f"“{escape(q.text)}” — {cited}")
        shown += 1
    return shown


def _message(fallback: list[str], blocks: list[dict]) -> dict:
    return {"text": _cut(safe_text("\n".join(fallback)), FALLBACK_LIMIT), "blocks": blocks}


def render_answer(
    answer: Answer,
    *,
    answer_id: str = "",
    offset: int = 0,
    share: bool = False,
    buttons: bool = True,
    header: str | None = None,
) -> dict:
    """{"text": fallback, "blocks": [...]} for chat.postMessage / chat.postEphemeral / respond.
    `header`: a line of our own above the answer (already escaped)."""
    lang = answer.language
    head = escape(t(lang, headline_key(answer)))
    blocks: list[dict] = [_context(header)] if header else []
    blocks.append(_section(head))
    blocks.extend(_context(escape(note)) for note in answer.notes)
    fallback = [head]
    budget = MAX_BLOCKS - 3  # keep room for the "did not fit" note and the buttons
    shown = _quotes(answer.quotes, lang, blocks, fallback, budget)
    trimmed = shown < len(answer.quotes)
    if trimmed:
        blocks.append(_context(t(lang, "more_omitted")))
    if buttons and answer.found:
        state = ButtonState(question=answer.question, kind="quote" if answer.kind == "quote" else "ask", lang=lang,
                            offset=offset, shown=shown, answer_id=answer_id)
        value = state.value()
        elements = []
        if answer.more or trimmed or answer.kind == "quote":
            elements.append(_button(t(lang, "more_quotes"), ACTION_MORE, state.value(o=offset + shown)))
        if any(q.versions for q in answer.quotes[:shown]):
            elements.append(_button(t(lang, "other_language"), ACTION_OTHER_LANGUAGE, value))
        elements.append(_button("👍", ACTION_UP, value, label=t(lang, "helpful")))
        elements.append(_button("👎", ACTION_DOWN, value, label=t(lang, "not_helpful")))
        if share:
            elements.append(_button(t(lang, "share"), ACTION_SHARE, value, style="primary"))
        verifiable = [q for q in answer.quotes[:shown] if q.ref and len(q.ref) <= VALUE_LIMIT][:MAX_VERIFY]
        for i, q in enumerate(verifiable, 1):  # re-check the quote against the record as it is now
            label = t(lang, "verify") + (f" {i}" if len(verifiable) > 1 else "")
            elements.append(_button(label, ACTION_VERIFY, q.ref, label=_cut(f"{label}: {q.text}", 75)))
        blocks.append({"type": "actions", "block_id": "onrecord_answer_actions", "elements": elements})
    return _message(fallback, blocks)


def render_versions(answer: Answer, shown: int | None = None) -> dict:
    """The other-language versions of the quotes shown, as a message."""
    lang = answer.language
    quotes = answer.quotes[:shown] if shown is not None else answer.quotes
    versions = [v for q in quotes for v in q.versions]
    if not versions:
        return notice(t(lang, "no_versions"))
    head = escape(t(lang, "versions_of"))
    blocks, fallback = [_section(head)], [head]
    if _quotes(versions, lang, blocks, fallback, MAX_BLOCKS - 1) < len(versions):
        blocks.append(_context(t(lang, "more_omitted")))
    return _message(fallback, blocks)


def notice(text: str) -> dict:
    """A short message of our own (apology, thanks, a summary we escaped ourselves) as a message."""
    return {"text": text, "blocks": [_section(text)]}


def with_prose(message: dict, prose: str) -> dict:
    """`message` (an answer as render_answer made it) with a chat model's prose above its blocks: one
    section, escaped like every quote (its quotes are slices On Record inserted, its sources listed under
    it), cut to Slack's 3,000 characters; the plain-text fallback starts with it too. The blocks that
    follow are unchanged, so the answer's buttons keep working."""
    blocks = list(message.get("blocks") or [])
    section = _section(_cut(escape(prose.strip()), SECTION_LIMIT))
    if len(blocks) >= MAX_BLOCKS:  # keep the buttons; leave out whole quotes (sections and citation) instead
        tail = blocks[-1:] if blocks[-1].get("type") == "actions" else []
        body = blocks[: len(blocks) - len(tail)]
        while len(body) > 1 and (len(body) + len(tail) >= MAX_BLOCKS or body[-1].get("type") != "context"):
            body.pop()
        blocks = body + tail
    text = escape(prose.strip()) + "\n\n" + (message.get("text") or "")
    return {"text": _cut(safe_text(text), FALLBACK_LIMIT), "blocks": [section, *blocks]}
