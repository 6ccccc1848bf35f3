"""Buttons under an answer: More quotes, Other language, 👍/👎 feedback, Share in channel.

Each button's value is checked (bot/slack/buttons.py) before anything is done with it; a value the
bot did not write gets a short private answer and a log line, and changes nothing.
"""
from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk.webhook import WebhookClient

from bot.answer.types import Answer
from bot.messages import t
from bot.render.slack import escape, notice, render_answer, render_versions
from bot.slack.buttons import (
    ACTION_DOWN, ACTION_MORE, ACTION_OTHER_LANGUAGE, ACTION_SHARE, ACTION_UP, BadButton, ButtonState,
)
from bot.slack.runtime import OnRecordBot, Where

log = logging.getLogger("onrecord.slack")


def _where(body: dict, ephemeral: bool | None = None) -> Where:
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    is_eph = bool(container.get("is_ephemeral")) if ephemeral is None else ephemeral
    thread_ts = container.get("thread_ts") or message.get("thread_ts")
    if not is_eph:
        thread_ts = thread_ts or message.get("ts") or container.get("message_ts")
    return Where(channel=channel, user=(body.get("user") or {}).get("id"), thread_ts=thread_ts, ephemeral=is_eph,
                 response_url=body.get("response_url"))


def register(app: App, bot: OnRecordBot) -> None:
    def pressed(body, action, client) -> ButtonState | None:
        """The button's state, once per press; None (after a private word to the user) when forged."""
        if not bot.dedupe.first(("trigger", body.get("trigger_id"))):
            return None
        try:
            return ButtonState.parse(action.get("value"))
        except BadButton as e:
            where = _where(body, ephemeral=True)
            log.info("ignored a %s button with a malformed value from %s: %s", action.get("action_id"), where.user, e)
            bot.submit(lambda: bot.post(client, where, notice(t(bot.lang_hint(client, where.user), "bad_button"))))
            return None

    def shown(state: ButtonState) -> tuple[Answer, int | None]:
        """The answer (and how many of its quotes) the button belongs to: from memory, else asked again."""
        answer = bot.answers.get(state.answer_id) if state.answer_id else None
        if answer is None:
            answer = bot.run_engine(state.kind, state.question, state.lang, state.offset)
        return answer, state.shown

    @app.action(ACTION_MORE)
    def more(ack, body, action, client):
        ack()
        state = pressed(body, action, client)
        if state is not None:
            bot.submit(bot.answer, client, _where(body), state.question, kind=state.kind, lang_hint=state.lang,
                       offset=state.offset)

    @app.action(ACTION_OTHER_LANGUAGE)
    def other_language(ack, body, action, client):
        ack()
        state = pressed(body, action, client)
        if state is None:
            return
        where = _where(body)

        def run():
            try:
                message = render_versions(*shown(state))
            except Exception:
                log.exception("other language failed")
                message = notice(t(state.lang, "error"))
            bot.post(client, where, message)

        bot.submit(run)

    def feedback(vote: int):
        def listener(ack, body, action, client):
            ack()
            state = pressed(body, action, client)
            if state is None:
                return
            where = _where(body, ephemeral=True)

            def run():
                try:
                    answer, n = shown(state)
                    quotes = answer.quotes[:n] if n is not None else answer.quotes
                    bot.feedback.add(
                        vote=vote, question=answer.question or state.question, language=answer.language,
                        quotes=[q.to_json() for q in quotes], user=where.user, channel=where.channel,
                    )
                    message = notice(t(state.lang, "feedback_thanks"))
                except Exception:
                    log.exception("storing feedback failed")
                    message = notice(t(state.lang, "error"))
                bot.post(client, where, message)

            bot.submit(run)

        listener.__name__ = "on_feedback_up" if vote > 0 else "on_feedback_down"
        return listener

    app.action(ACTION_UP)(feedback(+1))
    app.action(ACTION_DOWN)(feedback(-1))

    @app.action(ACTION_SHARE)
    def share(ack, body, action, client):
        ack()
        state = pressed(body, action, client)
        if state is None:
            return
        eph = _where(body)
        where = Where(channel=eph.channel, user=eph.user, thread_ts=eph.thread_ts, response_url=eph.response_url)

        def run():
            try:
                answer, _ = shown(state)
                header = t(answer.language, "asked_by", user=escape(where.user), question=escape(answer.question))
                message = render_answer(answer, answer_id=bot.remember(answer), offset=state.offset, header=header)
                bot.post(client, where, message)
            except Exception:
                log.exception("sharing failed")
                bot.post(client, eph, notice(t(state.lang, "error")))
                return
            if eph.response_url:  # the private copy is no longer needed
                try:
                    WebhookClient(eph.response_url).send_dict({"delete_original": True})
                except Exception as e:
                    log.info("could not delete the ephemeral answer: %s", e)

        bot.submit(run)
