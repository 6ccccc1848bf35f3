"""Build the Bolt app: one Web API client (with retry handlers), one `register(app, bot)` per listener module.

As in slack-samples' Bolt template: this module only wires; each module in listeners/ registers plain
functions that acknowledge and hand the work to the bot's runtime (bot/slack/runtime.py), which calls
the engine and the index-update service it was given."""
from __future__ import annotations

import importlib
import logging
import re
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.answer.types import Answerer
from bot.slack.runtime import OnRecordBot
from index.settings import SlackSettings
from index.updates import IndexUpdates

log = logging.getLogger("onrecord.slack")

# One line per Slack surface. Each module has `register(app: App, bot: OnRecordBot) -> None`.
LISTENERS = [
    "bot.slack.listeners.mentions",
    "bot.slack.listeners.messages",  # DMs and thread follow-ups
    "bot.slack.listeners.commands",  # /ask, /quote
    "bot.slack.listeners.actions",  # More quotes, Other language, 👍/👎, Share
    "bot.slack.listeners.assistant",  # the assistant panel
    "bot.slack.listeners.reindex",  # /reindex and transcripts shared in a DM (admins: bot.settings.admins)
    "bot.slack.listeners.factcheck",  # /check, and the Verify button under quotes
]


def make_client(settings: SlackSettings) -> WebClient:
    return WebClient(
        token=settings.bot_token,
        base_url=settings.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3), ConnectionErrorRetryHandler(max_retry_count=2)],
    )


def build_app(settings: SlackSettings, answerer: Answerer, client: WebClient | None = None,
              updates: IndexUpdates | None = None, prose=None) -> App:
    """`updates`: the index-update service /reindex and shared transcripts use (None: both are declined).
    `prose`: a bot.llm.ProseWriter that adds a chat model's prose to answers by editing them (None: off)."""
    client = client or make_client(settings)
    bot = OnRecordBot(settings, answerer, updates, prose=prose)
    app = App(
        client=client,
        signing_secret=settings.signing_secret or "",
        listener_executor=ThreadPoolExecutor(max_workers=32, thread_name_prefix="onrecord-listener"),
        ignoring_self_events_enabled=True,
    )
    app.onrecord = bot  # type: ignore[attr-defined]  (tests, the benchmark and serve() reach the runtime here)

    @app.error
    def on_error(error, body):
        log.exception("Slack listener failed: %s", error, exc_info=error)

    @app.middleware
    def acknowledge_first(body, ack, next):
        """Slash commands and our buttons are acknowledged here, in the request's own thread, before
        any listener is scheduled: even with every worker busy, Slack hears back within 3 s."""
        if body.get("command") in ("/ask", "/quote", "/check") or (
            body.get("type") == "block_actions"
            and all(str(a.get("action_id", "")).startswith("onrecord_") for a in body.get("actions") or [])
        ):
            ack()
        return next()

    for name in LISTENERS:
        importlib.import_module(name).register(app, bot)

    # Any other event (joins, file_shared outside a DM, events a listener declined…): acknowledge and
    # ignore, so Slack does not retry it.
    @app.event(re.compile(".*"))
    def ignore_other_events():
        return None

    return app

