"""Issue 12, rows 8 and 9: forged button values, signed, against the real serve() over HTTP with the
real engine: a language code never reaches the file system, a malformed value gets a clear private
answer and never stores feedback."""
from __future__ import annotations

import html
import logging
import json
import os
from pathlib import Path

import pytest

import slack_path  # noqa: F401  (tests/slack on sys.path)
from slack_fixtures import answerer, http_bot, settings, standin, updates  # noqa: F401  (pytest fixtures)
from standin import action_form, action_payload, post

import bot.messages
from bot.messages import catalogue, t

SECRET = "test-signing-secret"
FORM = "application/x-www-form-urlencoded"
Q = "What did Lavrov say about a truce?"
ACTIONS = {"more": "onrecord_more", "other": "onrecord_other_language", "up": "onrecord_feedback_up",
           "down": "onrecord_feedback_down", "share": "onrecord_share"}


def press(bot, action: str, value, *, user="UEN", channel="C0001", ephemeral=True) -> None:
    raw = value if isinstance(value, str) else json.dumps(value)
    payload = action_payload(ACTIONS[action], raw, user=user, channel=channel, ephemeral=ephemeral)
    status, text, _ = post(bot.url, action_form(payload), FORM, SECRET)
    assert status == 200, text


def texts(standin) -> list[str]:
    return [html.unescape(c.args.get("text") or "") for c in standin.replies()]


def test_a_language_code_is_never_a_path(http_bot, standin, tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text('feedback_thanks: "EVIL <!channel>"\nerror: "EVIL <!channel>"\nbad_button: "EVIL"\n'
                    'no_more: "EVIL"\nno_versions: "EVIL"\n', encoding="utf-8")
    lang = os.path.relpath(tmp_path / "evil", Path(bot.messages.__file__).parent)
    assert lang.startswith("..")
    assert catalogue(lang) == {}  # not in the catalogue's own list: not read
    assert t(lang, "feedback_thanks") == t("en", "feedback_thanks")
    for action in ("up", "more", "other"):
        press(http_bot, action, {"id": "", "k": "ask", "l": lang, "o": 0, "n": 1, "q": Q})
    standin.wait_for(lambda: len(standin.replies()) >= 3, 60)
    assert http_bot.app.onrecord.idle(30)
    said = json.dumps([c.args for c in standin.replies()], ensure_ascii=False)
    assert "EVIL" not in said and "<!channel>" not in said


FORGED = [
    {"id": "", "k": "ask", "l": "en", "o": "x", "n": 1, "q": Q},  # offset not a number
    {"id": "", "k": "ask", "l": "en", "o": -3, "n": 1, "q": Q},  # negative offset
    {"id": "", "k": "ask", "l": "en", "o": 0, "n": "many", "q": Q},
    {"id": "", "k": "ask", "l": "en", "o": 0, "n": 1},  # no question
    {"id": "", "k": "ask", "l": "en", "o": 0, "n": 1, "q": ""},  # an empty question
    {"id": "", "k": "drop table", "l": "en", "o": 0, "n": 1, "q": Q},  # unknown kind
    {"id": "", "k": "ask", "l": "en", "o": 10**12, "n": 1, "q": Q},  # absurd offset
    "not json at all",
    ["a", "list"],
]


@pytest.mark.parametrize("value", FORGED, ids=range(len(FORGED)))
@pytest.mark.parametrize("action", ["more", "up", "down", "other", "share"])
def test_forged_button_values_get_a_clear_private_answer_and_store_nothing(http_bot, standin, action, value, caplog):
    caplog.set_level(logging.INFO, logger="onrecord.slack")
    value = json.dumps(value) if isinstance(value, list) else value
    press(http_bot, action, value)
    [reply] = standin.wait_for(lambda: standin.replies(), 60)
    assert http_bot.app.onrecord.idle(30)
    assert reply.method in ("chat.postEphemeral", "response_url")
    assert texts(standin) == [t("en", "bad_button")]
    assert http_bot.app.onrecord.feedback.all() == []
    assert standin.of("chat.postMessage") == []
    assert any("button" in r.getMessage() for r in caplog.records)
