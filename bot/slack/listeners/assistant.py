"""The assistant panel (slack-bolt's Assistant middleware): suggested prompts when a thread
starts, a "searching…" status while working, the answer in the thread.

Every message a user writes in a DM thread arrives here (Bolt treats DM threads as assistant threads).
"""
from __future__ import annotations

import logging

from slack_bolt import App, Assistant

from bot.messages import catalogue, t
from bot.slack.listeners.common import event_keys, is_ignorable
from bot.slack.runtime import OnRecordBot, Where, strip_mentions

log = logging.getLogger("onrecord.slack")


def suggested_prompts(lang: str | None) -> list[dict]:
    prompts = catalogue(lang or "en").get("suggested_prompts") or catalogue("en")["suggested_prompts"]
    return [{"title": p["title"], "message": p["message"]} for p in prompts][:4]


def register(app: App, bot: OnRecordBot) -> None:
    assistant = Assistant()

    @assistant.thread_started
    def started(event, client, set_suggested_prompts):
        user = (event.get("assistant_thread") or {}).get("user_id")

        def run():
            lang = bot.lang_hint(client, user)
            set_suggested_prompts(prompts=suggested_prompts(lang), title=t(lang, "prompts_title"))

        bot.submit(run)

    @assistant.thread_context_changed
    def context_changed():  # the channel the user looks at does not change what the record says
        return None

    @assistant.user_message
    def user_message(body, event, client, context, set_status, set_title):
        if is_ignorable(event, context) or not bot.dedupe.first(*event_keys(body, event)):
            return
        channel, thread_ts = event["channel"], event["thread_ts"]
        question = strip_mentions(event.get("text"), context.bot_user_id)
        first_in_thread = not bot.threads.seen((channel, thread_ts))

        def run():
            if first_in_thread and question:
                try:
                    set_title(question[:80])
                except Exception as e:
                    log.info("could not set the assistant thread title: %s", e)
            bot.answer(client, Where(channel=channel, user=event.get("user"), thread_ts=thread_ts), question,
                       set_status=set_status)

        bot.submit(run)

    app.use(assistant)
