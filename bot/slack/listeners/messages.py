"""Direct messages to the bot, and follow-up questions in a channel thread the bot answered in.

Messages in a DM *thread* (including the assistant panel) are taken by listeners/assistant.py.
"""
from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners.common import event_keys, is_ignorable
from bot.slack.runtime import OnRecordBot, Where, strip_mentions


def register(app: App, bot: OnRecordBot) -> None:
    @app.event("message")
    def on_message(body, event, client, context):  # auto-acknowledged; the answer runs on a worker
        if is_ignorable(event, context):
            return
        text = event.get("text") or ""
        bot_user_id = context.bot_user_id
        channel, thread_ts = event.get("channel"), event.get("thread_ts")
        if event.get("channel_type") == "im":
            if not bot.dedupe.first(*event_keys(body, event)):
                return
            where = Where(channel=channel, user=event.get("user"), thread_ts=thread_ts)
            bot.submit(bot.answer, client, where, strip_mentions(text, bot_user_id), eyes_on=event["ts"])
            return
        if not thread_ts or (bot_user_id and f"<@{bot_user_id}" in text):
            return  # channel messages need a mention (handled by app_mention) unless they follow up
        if not bot.dedupe.first(*event_keys(body, event)):
            return

        def follow_up():
            if bot.is_our_thread(client, channel, thread_ts, bot_user_id, context.bot_id):
                where = Where(channel=channel, user=event.get("user"), thread_ts=thread_ts)
                bot.answer(client, where, strip_mentions(text, bot_user_id), eyes_on=event["ts"])

        bot.submit(follow_up)
