"""/ask question and /quote fragment: acknowledged at once, answered visible only to the user,
with a "Share in channel" button."""
from __future__ import annotations

from slack_bolt import App

from bot.slack.runtime import OnRecordBot, Where


def register(app: App, bot: OnRecordBot) -> None:
    def handle(kind: str):
        def listener(ack, command, client):
            ack()  # within Slack's 3 s, before any work
            if not bot.dedupe.first(("trigger", command.get("trigger_id"))):
                return
            where = Where(channel=command["channel_id"], user=command.get("user_id"), ephemeral=True,
                          response_url=command.get("response_url"))
            bot.submit(bot.answer, client, where, (command.get("text") or "").strip(), kind=kind)

        listener.__name__ = f"on_{kind}_command"
        return listener

    app.command("/ask")(handle("ask"))
    app.command("/quote")(handle("quote"))
