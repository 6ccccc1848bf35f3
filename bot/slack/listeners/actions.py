"""Buttons under an answer: More quotes, Other language, 👍/👎 feedback, Share in channel."""
from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk.webhook import WebhookClient

from bot.messages import t
from bot.slack.blocks import (
    ACTION_DOWN, ACTION_MORE, ACTION_OTHER_LANGUAGE, ACTION_SHARE, ACTION_UP, escape, parse_value, render_answer,
    render_text, render_versions,
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
    def shown(state: dict, client, user):
        """The answer (and how many of its quotes) the button belongs to: from memory, else asked again."""
        hit = bot.answers.get(state.get("id"))
        if hit is not None:
            return hit[0], state.get("n")
        answer = bot.run_engine(state.get("k", "ask"), state.get("q", ""), state.get("l"), int(state.get("o") or 0))
        return answer, state.get("n")

    def first(body) -> bool:
        return bot.dedupe.first(("trigger", body.get("trigger_id")))

    @app.action(ACTION_MORE)
    def more(ack, body, action, client):
        ack()
        if not first(body):
            return
        state = parse_value(action.get("value"))
        bot.submit(bot.answer, client, _where(body), state.get("q", ""), kind=state.get("k", "ask"),
                   lang_hint=state.get("l"), offset=int(state.get("o") or 0))

    @app.action(ACTION_OTHER_LANGUAGE)
    def other_language(ack, body, action, client):
        ack()
        if not first(body):
            return
        state = parse_value(action.get("value"))
        where = _where(body)

        def run():
            try:
                answer, n = shown(state, client, where.user)
                message = render_versions(answer, n)
            except Exception:
                log.exception("other language failed")
                message = render_text(t(state.get("l"), "error"))
            bot.post(client, where, message)

        bot.submit(run)

    def feedback(vote: int):
        def listener(ack, body, action, client):
            ack()
            if not first(body):
                return
            state = parse_value(action.get("value"))
            where = _where(body, ephemeral=True)

            def run():
                lang = state.get("l")
                try:
                    answer, n = shown(state, client, where.user)
                    quotes = answer.quotes[:n] if n is not None else answer.quotes
                    bot.feedback.add(
                        vote=vote, question=answer.question or state.get("q", ""), language=answer.language,
                        quotes=[q.to_json() for q in quotes], user=where.user, channel=where.channel,
                    )
                    message = render_text(t(lang, "feedback_thanks"))
                except Exception:
                    log.exception("storing feedback failed")
                    message = render_text(t(lang, "error"))
                bot.post(client, where, message)

            bot.submit(run)

        listener.__name__ = "on_feedback_up" if vote > 0 else "on_feedback_down"
        return listener

    app.action(ACTION_UP)(feedback(+1))
    app.action(ACTION_DOWN)(feedback(-1))

    @app.action(ACTION_SHARE)
    def share(ack, body, action, client):
        ack()
        if not first(body):
            return
        state = parse_value(action.get("value"))
        eph = _where(body)
        where = Where(channel=eph.channel, user=eph.user, thread_ts=eph.thread_ts, response_url=eph.response_url)

        def run():
            try:
                answer, _ = shown(state, client, where.user)
                answer_id = bot.remember(answer, state.get("k", "ask"), int(state.get("o") or 0))
                header = t(answer.language, "asked_by", user=escape(where.user), question=escape(answer.question))
                message = render_answer(answer, kind=state.get("k", "ask"), answer_id=answer_id,
                                        offset=int(state.get("o") or 0), header=header)
                bot.post(client, where, message)
            except Exception:
                log.exception("sharing failed")
                bot.post(client, eph, render_text(t(state.get("l"), "error")))
                return
            if eph.response_url:  # the private copy is no longer needed
                try:
                    WebhookClient(eph.response_url).send_dict({"delete_original": True})
                except Exception as e:
                    log.info("could not delete the ephemeral answer: %s", e)

        bot.submit(run)
