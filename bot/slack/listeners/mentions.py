"""@OnRecord question in a channel: answer in the message's thread."""
from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners.common import event_keys, is_ignorable
from bot.slack.runtime import OnRecordBot, Where, strip_mentions


def register(app: App, bot: OnRecordBot) -> None:
    @app.event("app_mention")
    def on_mention(body, event, client, context):  # auto-acknowledged; the answer runs on a worker
        if is_ignorable(event, context) or not bot.dedupe.first(*event_keys(body, event)):
            return
        question = strip_mentions(event.get("text"), context.bot_user_id)
        where = Where(channel=event["channel"], user=event.get("user"), thread_ts=event.get("thread_ts") or event["ts"])
        bot.submit(bot.answer, client, where, question, eyes_on=event["ts"])
