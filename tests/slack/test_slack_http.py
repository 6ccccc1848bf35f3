"""End to end over HTTP: signed requests to the real serve(http=True) endpoint, the real engine,
and the local Slack Web API stand-in recording what the bot sends."""
from __future__ import annotations

import json
import time

from helpers import answer_of, assert_exact_quotes, framing_text
from standin import (
    BOT_ID, BOT_USER_ID, action_form, action_payload, command_form, event_body, mention, message, new_ts, post,
)

from bot.messages import t
from bot.render.slack import escape
from bot.slack.buttons import ACTION_DOWN, ACTION_MORE, ACTION_OTHER_LANGUAGE, ACTION_SHARE, ACTION_UP, ButtonState

SECRET = "test-signing-secret"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

EN_Q = "What did Lavrov say about a truce?"
SV_Q = "Vad sa Lavrov om vapenvila?"


def send_event(bot, event, *, event_id=None, retry=None):
    body = json.dumps(event_body(event, event_id))
    extra = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
    status, text, secs = post(bot.url, body, JSON, SECRET, extra_headers=extra)
    assert status == 200, text
    assert secs < 3
    return json.loads(body)


def settle(bot):
    assert bot.app.onrecord.idle(20)


def test_mention_answered_in_thread_in_the_question_language(http_bot, standin):
    ev = mention(EN_Q, user="UEN")
    send_event(http_bot, ev)
    [call] = standin.wait_for(lambda: standin.of("chat.postMessage"))
    assert call.args["channel"] == "C0001"
    assert call.args["thread_ts"] == ev["ts"]  # in the question's thread
    assert framing_text(call) == t("en", "found")
    answer = assert_exact_quotes(http_bot.app, call)
    assert answer.language == "en"
    assert call.args["text"]  # plain-text fallback
    # working indicator on the question, user locale looked up with include_locale
    assert standin.of("reactions.add")[0].args["timestamp"] == ev["ts"]
    assert standin.of("users.info")[0].args.get("include_locale") in (True, "true", "1", 1)


def test_swedish_question_gets_swedish_framing_and_quotes(http_bot, standin):
    ev = mention(SV_Q, user="USV")
    send_event(http_bot, ev)
    [call] = standin.wait_for(lambda: standin.of("chat.postMessage"))
    assert call.args["thread_ts"] == ev["ts"]
    assert framing_text(call) == t("sv", "found")
    answer = assert_exact_quotes(http_bot.app, call)
    assert answer.language == "sv"
    assert any(q.language == "sv" for q in answer.quotes)


def test_retries_and_double_delivery_answer_once(http_bot, standin):
    ev = mention(EN_Q)
    first = send_event(http_bot, ev)
    send_event(http_bot, ev, event_id=first["event_id"], retry=1)  # Slack's retry: same event id
    send_event(http_bot, ev, event_id=first["event_id"], retry=2)
    # the same message as a message.channels event (another event id, same channel and ts)
    send_event(http_bot, message(ev["text"], channel=ev["channel"], channel_type="channel", ts=ev["ts"]))
    standin.wait_for(lambda: standin.of("chat.postMessage"))
    settle(http_bot)
    time.sleep(0.3)
    assert len(standin.replies()) == 1


def test_own_and_other_bots_edits_and_joins_are_ignored(http_bot, standin):
    send_event(http_bot, message(EN_Q, user=BOT_USER_ID))  # our own message
    send_event(http_bot, message(EN_Q, user="UOTHERBOT", bot_id="B999", subtype="bot_message"))
    send_event(http_bot, message(EN_Q, user=None, bot_id=BOT_ID))
    send_event(http_bot, message(EN_Q, subtype="message_changed", user=None,
                                 message={"user": "UEN", "text": EN_Q, "ts": new_ts()}))
    send_event(http_bot, message("", subtype="channel_join", channel="C0001", channel_type="channel"))
    send_event(http_bot, {"type": "member_joined_channel", "user": "UEN", "channel": "C0001"})
    send_event(http_bot, message(EN_Q, channel="C0001", channel_type="channel"))  # no mention, no thread
    time.sleep(0.3)
    settle(http_bot)
    assert standin.replies() == []
    assert standin.of("reactions.add") == []


def test_bad_or_stale_signature_is_refused(http_bot, standin):
    body = json.dumps(event_body(mention(EN_Q)))
    status, _, _ = post(http_bot.url, body, JSON, "wrong-secret")
    assert status == 401
    status, _, _ = post(http_bot.url, body, JSON, SECRET, timestamp=int(time.time()) - 600)
    assert status == 401
    status, _, _ = post(http_bot.url, body, JSON, SECRET, signature_override="v0=" + "0" * 64)
    assert status == 401
    time.sleep(0.2)
    assert standin.replies() == []


def test_url_verification(http_bot):
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"})
    status, text, _ = post(http_bot.url, body, JSON, SECRET)
    assert status == 200 and "abc123" in text


def test_dm_and_thread_follow_up(http_bot, standin):
    dm = message(EN_Q, user="UEN", channel="D0001")
    send_event(http_bot, dm)
    [call] = standin.wait_for(lambda: standin.of("chat.postMessage"))
    assert call.args["channel"] == "D0001" and call.args.get("thread_ts") is None
    assert_exact_quotes(http_bot.app, call)

    # a mention in a channel, then a follow-up in its thread without a mention
    ev = mention(EN_Q, channel="C0002")
    send_event(http_bot, ev)
    standin.wait_for(lambda: len(standin.of("chat.postMessage")) == 2)
    follow = message(SV_Q, user="USV", channel="C0002", channel_type="channel", thread_ts=ev["ts"])
    send_event(http_bot, follow)
    calls = standin.wait_for(lambda: len(standin.of("chat.postMessage")) == 3 and standin.of("chat.postMessage"))
    assert calls[2].args["thread_ts"] == ev["ts"]
    assert framing_text(calls[2]) == t("sv", "found")

    # a thread the bot never answered in: no answer (conversations.replies says so)
    other = message(EN_Q, channel="C0003", channel_type="channel", thread_ts=new_ts())
    send_event(http_bot, other)
    standin.wait_for(lambda: standin.of("conversations.replies"))
    settle(http_bot)
    assert len(standin.of("chat.postMessage")) == 3


def test_ask_command_ephemeral_with_share_then_buttons(http_bot, standin):
    form = command_form("/ask", EN_Q, user="UEN", channel="C0001", response_url=standin.base + "/response/1")
    status, text, secs = post(http_bot.url, form, FORM, SECRET)
    assert status == 200 and secs < 3
    [eph] = standin.wait_for(lambda: standin.of("chat.postEphemeral"))
    assert eph.args["user"] == "UEN" and eph.args["channel"] == "C0001"
    answer = assert_exact_quotes(http_bot.app, eph)
    actions = [b for b in eph.args["blocks"] if b["type"] == "actions"][0]["elements"]
    ids = [a["action_id"] for a in actions]
    assert ACTION_SHARE in ids and ACTION_UP in ids and ACTION_DOWN in ids
    value = {a["action_id"]: a["value"] for a in actions}

    # Share in channel: posted in the channel, the private copy deleted
    payload = action_payload(ACTION_SHARE, value[ACTION_SHARE], ephemeral=True,
                             response_url=standin.base + "/response/2")
    status, _, secs = post(http_bot.url, action_form(payload), FORM, SECRET)
    assert status == 200 and secs < 3
    [shared] = standin.wait_for(lambda: standin.of("chat.postMessage"))
    assert shared.args["channel"] == "C0001"
    assert_exact_quotes(http_bot.app, shared)
    assert "<@UEN>" in json.dumps(shared.args["blocks"])
    standin.wait_for(lambda: any(c.args.get("delete_original") for c in standin.of("response_url")))

    # 👍 stored with the question and the quotes shown
    payload = action_payload(ACTION_UP, value[ACTION_UP], ephemeral=True)
    post(http_bot.url, action_form(payload), FORM, SECRET)
    standin.wait_for(lambda: any(c.args.get("text") == t("en", "feedback_thanks")
                                 for c in standin.of("chat.postEphemeral")))
    [row] = http_bot.app.onrecord.feedback.all()
    assert row["vote"] == 1 and row["question"] == EN_Q and row["user"] == "UEN"
    assert [(q["source"], q["start"], q["end"]) for q in row["quotes"]] == [
        (q.source, q.start, q.end) for q in answer.quotes]


def test_other_language_button(http_bot, standin):
    ev = mention(EN_Q)
    send_event(http_bot, ev)
    [call] = standin.wait_for(lambda: standin.of("chat.postMessage"))
    answer = answer_of(http_bot.app, call)
    actions = {a["action_id"]: a["value"] for b in call.args["blocks"] if b["type"] == "actions"
               for a in b["elements"]}
    assert ACTION_OTHER_LANGUAGE in actions  # the seed statement has a Swedish version
    payload = action_payload(ACTION_OTHER_LANGUAGE, actions[ACTION_OTHER_LANGUAGE], thread_ts=ev["ts"])
    status, _, secs = post(http_bot.url, action_form(payload), FORM, SECRET)
    assert status == 200 and secs < 3
    calls = standin.wait_for(lambda: len(standin.of("chat.postMessage")) == 2 and standin.of("chat.postMessage"))
    assert calls[1].args["thread_ts"] == ev["ts"]
    assert framing_text(calls[1]) == t("en", "versions_of")
    versions = [v for q in answer.quotes for v in q.versions]
    assert versions
    shown = json.dumps(calls[1].args["blocks"], ensure_ascii=False)
    for v in versions:
        assert open(v.source, encoding="utf-8").read()[v.start:v.end] == v.text
        assert v.language == "sv"
        assert escape(v.text).split("\n")[0] in shown


def test_more_quotes_button_pages_on(http_bot, standin):
    form = command_form("/quote", "We will not be satisfied with a truce", user="UEN", channel="C0001",
                        response_url=standin.base + "/response/3")
    post(http_bot.url, form, FORM, SECRET)
    [eph] = standin.wait_for(lambda: standin.of("chat.postEphemeral"))
    first = assert_exact_quotes(http_bot.app, eph)
    actions = {a["action_id"]: a["value"] for b in eph.args["blocks"] if b["type"] == "actions"
               for a in b["elements"]}
    state = ButtonState.parse(actions[ACTION_MORE])
    assert state.offset == len(first.quotes) and state.kind == "quote"
    payload = action_payload(ACTION_MORE, actions[ACTION_MORE], ephemeral=True)
    post(http_bot.url, action_form(payload), FORM, SECRET)
    calls = standin.wait_for(lambda: len(standin.of("chat.postEphemeral")) == 2 and standin.of("chat.postEphemeral"))
    page2 = calls[1]
    if any(b["type"] == "actions" for b in page2.args["blocks"]):  # more quotes: new ones, exact
        more = assert_exact_quotes(http_bot.app, page2)
        assert not {(q.source, q.start) for q in more.quotes} & {(q.source, q.start) for q in first.quotes}
    else:
        assert page2.args["text"] == t("en", "no_more")


def test_quote_command_falls_back_to_response_url(http_bot, standin):
    standin.ephemeral_fails.add("C0404")
    form = command_form("/quote", "We will not be satisfied with a truce", channel="C0404",
                        response_url=standin.base + "/response/9")
    status, _, secs = post(http_bot.url, form, FORM, SECRET)
    assert status == 200 and secs < 3
    [resp] = standin.wait_for(lambda: standin.of("response_url"))
    assert resp.args["response_type"] == "ephemeral"
    assert framing_text(resp) == t("en", "found_quote")
    answer = assert_exact_quotes(http_bot.app, resp)
    assert "satisfied with a truce" in answer.quotes[0].text


def test_error_inside_an_answer_gives_an_apology_and_keeps_serving(http_bot, standin):
    bot = http_bot.app.onrecord
    real = bot.answerer

    class Broken:
        def ask(self, *a, **k):
            raise RuntimeError("boom")

        quote = ask

    bot.answerer = Broken()
    try:
        send_event(http_bot, mention(SV_Q, user="USV"))
        [call] = standin.wait_for(lambda: standin.of("chat.postMessage"))
        assert call.args["text"] == t("sv", "error")
    finally:
        bot.answerer = real
    send_event(http_bot, mention(EN_Q))
    calls = standin.wait_for(lambda: len(standin.of("chat.postMessage")) == 2 and standin.of("chat.postMessage"))
    assert_exact_quotes(http_bot.app, calls[1])


def test_empty_mention_asks_for_a_question(http_bot, standin):
    send_event(http_bot, mention("", user="UDE"))
    [call] = standin.wait_for(lambda: standin.of("chat.postMessage"))
    assert call.args["text"] == t("de", "empty_question")


def test_rate_limited_call_is_retried(http_bot, standin):
    standin.rate_limit_once.add("chat.postMessage")
    send_event(http_bot, mention(EN_Q))
    standin.wait_for(lambda: standin.of("chat.postMessage"))
    assert len(standin.of("chat.postMessage#429")) == 1
    assert len(standin.of("chat.postMessage")) == 1


def test_assistant_thread(http_bot, standin):
    started = {"type": "assistant_thread_started", "event_ts": new_ts(),
               "assistant_thread": {"user_id": "USV", "channel_id": "D0009", "thread_ts": "1710000999.000001",
                                    "context": {}}}
    send_event(http_bot, started)
    [prompts] = standin.wait_for(lambda: standin.of("assistant.threads.setSuggestedPrompts"))
    assert prompts.args["channel_id"] == "D0009" and prompts.args["thread_ts"] == "1710000999.000001"
    assert prompts.args["title"] == t("sv", "prompts_title")
    assert len(prompts.args["prompts"]) >= 2

    changed = {"type": "assistant_thread_context_changed", "event_ts": new_ts(),
               "assistant_thread": {"user_id": "USV", "channel_id": "D0009", "thread_ts": "1710000999.000001",
                                    "context": {"channel_id": "C0001"}}}
    send_event(http_bot, changed)

    send_event(http_bot, message(SV_Q, user="USV", channel="D0009", thread_ts="1710000999.000001"))
    [call] = standin.wait_for(lambda: standin.of("chat.postMessage"))
    assert call.args["thread_ts"] == "1710000999.000001"
    [status] = standin.of("assistant.threads.setStatus")
    assert status.args["status"] == t("sv", "searching")
    assert standin.of("assistant.threads.setTitle")
    assert status.at <= call.at
    assert framing_text(call) == t("sv", "found")
    assert_exact_quotes(http_bot.app, call)
