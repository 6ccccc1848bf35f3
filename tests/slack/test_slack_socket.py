"""Socket Mode end to end: a local WebSocket server speaking Socket Mode, slack-bolt's real
SocketModeHandler started by serve(), the real engine, the Web API stand-in."""
from __future__ import annotations

import itertools
import time

from helpers import assert_exact_quotes, framing_text
from standin import action_payload, command_form, event_body, mention
import urllib.parse

from bot.messages import t
from bot.slack.buttons import ACTION_UP

EN_Q = "What did Lavrov say about a truce?"
SV_Q = "Vad sa Lavrov om vapenvila?"
_ids = itertools.count(1)


def envelope(kind: str, payload: dict, *, envelope_id: str | None = None, retry: int = 0) -> dict:
    env = {"envelope_id": envelope_id or f"env-{next(_ids)}", "type": kind, "payload": payload,
           "accepts_response_payload": kind != "events_api"}
    if kind == "events_api":
        env["retry_attempt"] = retry
        env["retry_reason"] = "timeout" if retry else ""
    return env


def test_events_commands_interactions_retries_and_reconnect(socket_bot, standin):
    ws = socket_bot.ws
    bot = socket_bot.app.onrecord
    assert ws.connections == 1
    assert len(standin.of("apps.connections.open")) == 1

    # an event: acked, answered once in its thread, even when re-delivered (retry, same event id)
    ev = mention(SV_Q, user="USV")
    body = event_body(ev)
    first = envelope("events_api", body)
    t0 = time.perf_counter()
    ws.send(first)
    ws.wait_ack(first["envelope_id"])
    assert time.perf_counter() - t0 < 3
    retried = envelope("events_api", body, retry=1)
    ws.send(retried)
    ws.send(first)  # the very same envelope delivered again
    ws.wait_ack(retried["envelope_id"])
    [call] = standin.wait_for(lambda: standin.of("chat.postMessage"))
    assert call.args["thread_ts"] == ev["ts"]
    assert framing_text(call) == t("sv", "found")
    assert_exact_quotes(socket_bot.app, call)
    assert bot.idle(20)
    time.sleep(0.2)
    assert len(standin.of("chat.postMessage")) == 1

    # a slash command envelope: acked at once, answered privately
    form = dict(urllib.parse.parse_qsl(command_form("/ask", EN_Q, user="UEN", channel="C0001")))
    cmd = envelope("slash_commands", form)
    ws.send(cmd)
    ws.wait_ack(cmd["envelope_id"])
    [eph] = standin.wait_for(lambda: standin.of("chat.postEphemeral"))
    assert eph.args["user"] == "UEN"
    assert_exact_quotes(socket_bot.app, eph)
    up = next(a["value"] for b in eph.args["blocks"] if b["type"] == "actions" for a in b["elements"]
              if a["action_id"] == ACTION_UP)

    # an interactive envelope (👍), delivered twice: stored once
    inter = envelope("interactive", action_payload(ACTION_UP, up, user="UEN", ephemeral=True))
    ws.send(inter)
    ws.send(inter)
    ws.wait_ack(inter["envelope_id"])
    standin.wait_for(lambda: len(standin.of("chat.postEphemeral")) == 2)
    assert bot.idle(20)
    assert len(bot.feedback.all()) == 1

    # Slack asks the client to reconnect: a new URL is fetched, a new connection made, events still answered
    ws.disconnect(refresh=True)
    standin.wait_for(lambda: len(standin.of("apps.connections.open")) == 2)
    standin.wait_for(lambda: ws.connections == 2 and ws.connected.is_set())
    ev2 = mention(EN_Q)
    env2 = envelope("events_api", event_body(ev2))
    ws.send(env2)
    ws.wait_ack(env2["envelope_id"])
    standin.wait_for(lambda: len(standin.of("chat.postMessage")) == 2)

    # a dropped connection: the handler reconnects by itself
    ws.disconnect(refresh=False)
    standin.wait_for(lambda: ws.connections == 3 and ws.connected.is_set(), timeout=20)
    ev3 = mention(EN_Q)
    env3 = envelope("events_api", event_body(ev3))
    ws.send(env3)
    ws.wait_ack(env3["envelope_id"])
    calls = standin.wait_for(lambda: len(standin.of("chat.postMessage")) == 3 and standin.of("chat.postMessage"))
    assert calls[2].args["thread_ts"] == ev3["ts"]
    assert bot.idle(20)
    time.sleep(0.2)
    assert len(standin.of("chat.postMessage")) == 3
