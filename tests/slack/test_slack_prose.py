"""Prose answers in Slack (issue 15): the extractive answer is posted at once, then a chat model's prose,
when it passes the checks, is added to that message by an edit (chat.update, or the response_url for
/ask). A slow or failing model changes nothing.

Signed HTTP requests to the real serve(http=True), the real engine, the local Slack Web API stand-in,
and real langchain chat models with scripted answers (ScriptedChat of tests/test_llm.py).
"""
from __future__ import annotations

import json
import logging
import threading

import pytest
from helpers import assert_exact_quotes, framing_text
from slack_fixtures import serve_in_thread
from standin import command_form, event_body, mention, post
from test_llm import ScriptedChat, find
from test_llm import answer as scripted_answer

from bot.llm import ProseWriter
from bot.messages import t
from bot.answer.types import Answer, Quote
from bot.render.slack import MAX_BLOCKS, escape, render_answer, with_prose

SECRET = "test-signing-secret"
EN_Q = "What did Lavrov say about a truce?"


def start(standin, settings, answerer, updates, writer):
    runner, thread = serve_in_thread(http=True, port=0, answerer=answerer, settings=settings, updates=updates,
                                     prose=writer)
    runner.url = f"http://127.0.0.1:{runner.port}/slack/events"
    runner.thread = thread
    return runner


def stop(runner):
    runner.stop_event.set()
    runner.thread.join(10)


def send_mention(bot, text=EN_Q):
    ev = mention(text, user="UEN")
    status, body, _ = post(bot.url, json.dumps(event_body(ev)), "application/json", SECRET)
    assert status == 200, body
    return ev


def faithful(answerer):
    """A writer whose model answers with one placeholder for two sentences of the truce passage, and the
    slice On Record must insert for it (with the passage's quote, to check it against the file)."""
    model = ScriptedChat()
    writer = ProseWriter(answerer, model, timeout=60)
    _lang, passages = writer.candidates(EN_Q, "en")
    n, i = find(passages, "about a truce and only truce")
    model.script.append(scripted_answer(
        f"Sergey Lavrov dismissed talk of a truce as buying time for Kiev [{n}]: {{Q1}}", (n, i, i + 1)))
    p = passages[n - 1]
    s, e = p.sentences[i - 1][0], p.sentences[i][1]
    return writer, n, p.quote, s, e


def test_faithful_prose_is_added_to_the_posted_answer_by_an_edit(standin, settings, answerer, updates):
    writer, n, quote, s, e = faithful(answerer)
    bot = start(standin, settings, answerer, updates, writer)
    try:
        ev = send_mention(bot)
        [update] = standin.wait_for(lambda: standin.of("chat.update"), timeout=120)
        assert bot.app.onrecord.idle(30)
    finally:
        stop(bot)

    [first] = standin.of("chat.postMessage")
    assert standin.calls.index(first) < standin.calls.index(update)
    # the first message is the extractive answer as without a model: headline, verbatim quotes, no prose
    assert framing_text(first) == t("en", "found")
    assert_exact_quotes(bot.app, first)
    assert "Sergey Lavrov dismissed" not in json.dumps(first.args, ensure_ascii=False)

    # the edit is of that message (the ts chat.postMessage returned) ...
    [posted] = standin.threads[("C0001", ev["ts"])]
    assert update.args["channel"] == "C0001" and update.args["ts"] == posted["ts"]
    # ... with the prose above the unchanged answer blocks
    prose, *rest = update.args["blocks"]
    assert rest == first.args["blocks"]
    assert prose["type"] == "section" and prose["text"]["type"] == "mrkdwn"
    shown = prose["text"]["text"]
    assert shown.startswith("Sergey Lavrov dismissed talk of a truce as buying time for Kiev")
    # the quote in it is the slice On Record inserted: the source file's text, verbatim (escaped for Slack)
    slice_ = quote.text[s:e]
    with open(quote.source, encoding="utf-8") as f:
        assert f.read()[quote.start + s : quote.start + e] == slice_
    assert escape(f"“{slice_}” [{n}]") in shown
    assert f"[{n}] " in shown.split(escape(slice_), 1)[1]  # its source, under the prose
    assert update.args["text"].startswith("Sergey Lavrov dismissed")  # the plain-text fallback too


def test_ask_command_prose_replaces_the_private_answer_through_the_response_url(standin, settings, answerer,
                                                                                  updates):
    writer, n, quote, s, e = faithful(answerer)
    bot = start(standin, settings, answerer, updates, writer)
    try:
        form = command_form("/ask", EN_Q, user="UEN", channel="C0001", response_url=standin.base + "/response/7")
        status, body, _ = post(bot.url, form, "application/x-www-form-urlencoded", SECRET)
        assert status == 200, body
        [replaced] = standin.wait_for(lambda: standin.of("response_url"), timeout=120)
        assert bot.app.onrecord.idle(30)
    finally:
        stop(bot)

    [first] = standin.of("chat.postEphemeral")
    assert framing_text(first) == t("en", "found")
    assert replaced.args["path"] == "/response/7"
    assert replaced.args["replace_original"] in (True, "true") and replaced.args["response_type"] == "ephemeral"
    prose, *rest = replaced.args["blocks"]
    assert rest == first.args["blocks"]
    assert escape(f"“{quote.text[s:e]}” [{n}]") in prose["text"]["text"]
    assert standin.of("chat.update") == [] and standin.of("chat.postMessage") == []


@pytest.mark.parametrize("failure", ["raises", "too_slow", "unparseable"])
def test_failing_or_slow_model_leaves_the_extractive_answer_alone(failure, standin, settings, answerer, updates,
                                                                     caplog):
    gate = threading.Event()
    if failure == "raises":
        model = ScriptedChat(script=[ConnectionError("model server refused the connection")])
    elif failure == "too_slow":
        model = ScriptedChat(script=[scripted_answer("Lavrov rejected a truce [1].")], gate=gate)
    else:
        from langchain_core.messages import AIMessage

        model = ScriptedChat(script=[AIMessage(content="Sure! Lavrov talked about a truce.")])
    writer = ProseWriter(answerer, model, timeout=1.0)
    bot = start(standin, settings, answerer, updates, writer)
    try:
        with caplog.at_level(logging.INFO):
            send_mention(bot)
            standin.wait_for(lambda: standin.of("chat.postMessage"), timeout=60)
            standin.wait_for(lambda: model.seen, timeout=60)  # the model was asked ...
            assert bot.app.onrecord.idle(60)  # ... and the prose job is over
    finally:
        gate.set()
        stop(bot)

    [only] = standin.of("chat.postMessage")
    assert framing_text(only) == t("en", "found")
    assert_exact_quotes(bot.app, only)
    assert standin.of("chat.update") == [] and standin.of("response_url") == []
    assert len(standin.replies()) == 1
    assert "Traceback" not in json.dumps([c.args for c in standin.calls])
    # the failure is logged as lines, never as a traceback
    assert any("prose answer not used" in r.getMessage() for r in caplog.records)
    assert any(r.getMessage().startswith("no prose for") for r in caplog.records)
    assert all(r.exc_info is None for r in caplog.records if r.levelno >= logging.WARNING)


def test_without_a_writer_nothing_changes(http_bot, standin):
    assert http_bot.app.onrecord.prose is None and http_bot.app.onrecord.prose_pool is None
    send_mention(http_bot)
    [call] = standin.wait_for(lambda: standin.of("chat.postMessage"), timeout=60)
    assert http_bot.app.onrecord.idle(30)
    assert framing_text(call) == t("en", "found")
    assert_exact_quotes(http_bot.app, call)
    assert standin.of("chat.update") == [] and standin.of("response_url") == []
    assert len(standin.replies()) == 1


def test_prose_section_fits_slacks_limits_and_keeps_whole_quotes_and_buttons():
    """The prose goes above the answer in one escaped section of at most 3,000 characters; a message
    already at Slack's 50 blocks loses a whole quote (never a citation alone) and keeps its buttons."""
    quotes = [Quote(text=f"Quote number {i} <!channel> & more.", language="en", source="/x.txt", title="Briefing",
                    speaker="Lavrov", date="2024-01-01", url=None, location="¶ 1", start=0, end=10, score=1.0)
              for i in range(40)]
    answer = Answer(question="q?", language="en", found=True, answer="", quotes=quotes)
    message = render_answer(answer, answer_id="a1")
    blocks = message["blocks"]
    head, pair, actions = blocks[0], blocks[1:3], blocks[-1]  # headline, one quote (section, citation), buttons
    assert [b["type"] for b in pair] == ["section", "context"] and actions["type"] == "actions"
    full = {**message, "blocks": [head] + pair * ((MAX_BLOCKS - 2) // 2) + [actions]}
    assert len(full["blocks"]) == MAX_BLOCKS

    edited = with_prose(full, "Lavrov said “<@U123> & co” [1]" + "!" * 5000)
    prose, *rest = edited["blocks"]
    assert len(edited["blocks"]) <= MAX_BLOCKS and len(prose["text"]["text"]) <= 3000
    assert prose["text"]["text"].startswith("Lavrov said “&lt;@U123&gt; &amp; co” [1]")
    assert rest[-1] == blocks[-1] and rest[-1]["type"] == "actions"
    assert rest[:-1] == full["blocks"][: MAX_BLOCKS - 3]  # one whole quote (section and citation) left out
    assert rest[-2]["type"] == "context"  # the last quote left has its citation

    small = render_answer(Answer(question="q?", language="en", found=True, answer="", quotes=quotes[:2]))
    assert with_prose(small, "Prose [1]")["blocks"][1:] == small["blocks"]
