"""Assertions shared by the Slack tests."""
from __future__ import annotations

import html

from bot.answer.types import Answer
from bot.render.slack import escape
from bot.slack.buttons import ButtonState


def answer_of(app, call) -> Answer:
    """The Answer behind a message the bot sent (via the id in its buttons)."""
    for block in call.args.get("blocks") or []:
        if block.get("type") == "actions":
            state = ButtonState.parse(block["elements"][0]["value"])
            hit = app.onrecord.answers.get(state.answer_id)
            assert hit is not None, state
            return hit
    raise AssertionError(f"no buttons in {call.args}")


def framing_text(call) -> str:
    blocks = call.args.get("blocks") or []
    sections = [b for b in blocks if b["type"] == "section"]
    return html.unescape(sections[0]["text"]["text"])


def assert_exact_quotes(app, call) -> Answer:
    """Every quote is an exact slice of its source file, and the message shows it escaped, verbatim."""
    answer = answer_of(app, call)
    assert answer.quotes
    shown = "\n".join(b["text"]["text"] for b in call.args["blocks"] if b["type"] == "section")
    for q in answer.quotes:
        assert open(q.source, encoding="utf-8").read()[q.start:q.end] == q.text
        body = "\n".join("> " + line if line.strip() else ">" for line in escape(q.text).split("\n"))
        assert body in shown
    return answer
