"""/check and the Verify button, end to end over HTTP: signed requests to the real serve(http=True), the
real engine over the small real index, the local Slack Web API stand-in recording what the bot sends."""
from __future__ import annotations

import html
import json

from standin import action_form, action_payload, command_form, event_body, mention, post

from bot.messages import t
from bot.slack.buttons import ACTION_VERIFY, ACTION_VERSIONS

SECRET = "test-signing-secret"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _sections(call) -> str:
    return "\n".join(html.unescape(b["text"]["text"]) for b in call.args.get("blocks") or [] if b["type"] == "section")


def test_check_command_gives_a_private_verdict_with_the_diff(http_bot, standin):
    form = command_form("/check", 'Lavrov: "We will be satisfied with a truce"', user="UEN",
                        response_url=standin.base + "/response/1")
    status, _, secs = post(http_bot.url, form, FORM, SECRET)
    assert status == 200 and secs < 3
    [eph] = standin.wait_for(lambda: standin.of("chat.postEphemeral"))
    assert eph.args["user"] == "UEN"
    shown = _sections(eph)
    assert shown.startswith(t("en", "check_altered", share=100))
    assert "We will ~not~ be satisfied with a truce" in shown  # struck: the record's word the claim left out
    assert "> We will not be satisfied with a truce." in shown  # the record's words, verbatim
    buttons = [e for b in eph.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [ACTION_VERIFY] and buttons[0]["value"].startswith("onrecord://quote/")


def test_check_command_in_swedish_and_empty(http_bot, standin):
    post(http_bot.url, command_form("/check", "Zakharova: ”Vi blir inte nöjda med en vapenvila”", user="USV"), FORM, SECRET)
    [eph] = standin.wait_for(lambda: standin.of("chat.postEphemeral"))
    assert _sections(eph).startswith(t("sv", "check_different_speaker", speaker="Sergey Lavrov", claimed="Zakharova"))
    post(http_bot.url, command_form("/check", "  ", user="UEN"), FORM, SECRET)
    calls = standin.wait_for(lambda: len(standin.of("chat.postEphemeral")) == 2 and standin.of("chat.postEphemeral"))
    assert html.unescape(calls[1].args["text"]) == t("en", "check_empty")


def test_verify_button_under_an_answer(http_bot, standin):
    send = json.dumps(event_body(mention("What did Lavrov say about a truce?")))
    status, _, _ = post(http_bot.url, send, JSON, SECRET)
    assert status == 200
    [answer] = standin.wait_for(lambda: standin.of("chat.postMessage"))
    buttons = {e["action_id"]: e for b in answer.args["blocks"] if b["type"] == "actions" for e in b["elements"]
               if e["action_id"].startswith(ACTION_VERIFY)}
    assert ACTION_VERIFY in buttons
    ref = buttons[ACTION_VERIFY]["value"]
    payload = action_payload(ACTION_VERIFY, ref, user="UEN", thread_ts=answer.args.get("thread_ts"))
    status, _, secs = post(http_bot.url, action_form(payload), FORM, SECRET)
    assert status == 200 and secs < 3
    [eph] = standin.wait_for(lambda: standin.of("chat.postEphemeral"))
    assert eph.args["user"] == "UEN"
    assert _sections(eph).startswith(t("en", "verify_intact"))

    # the seed statement has a Swedish version: its versions side by side, one button away
    [versions] = [e for b in eph.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert versions["action_id"] == ACTION_VERSIONS and versions["text"]["text"] == t("en", "versions_side_by_side")
    post(http_bot.url, action_form(action_payload(ACTION_VERSIONS, versions["value"], user="UEN")), FORM, SECRET)
    calls = standin.wait_for(lambda: len(standin.of("chat.postEphemeral")) == 2 and standin.of("chat.postEphemeral"))
    side = _sections(calls[1])
    assert side.startswith("English and Swedish, side by side")
    assert "[sv] Vi blir inte nöjda med en vapenvila." in side

    # a value the bot did not write: a short private answer, nothing else
    payload = action_payload(ACTION_VERIFY, "onrecord://quote/forged", user="UEN")
    post(http_bot.url, action_form(payload), FORM, SECRET)
    calls = standin.wait_for(lambda: len(standin.of("chat.postEphemeral")) == 3 and standin.of("chat.postEphemeral"))
    assert html.unescape(calls[2].args["text"]).startswith(t("en", "verify_bad", reason="")[:30])
