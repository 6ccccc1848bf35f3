"""Settings of the Slack app: environment variables (and an optional .env file)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from index.errors import MissingSettings

DEFAULT_API_URL = "https://slack.com/api/"


def _alias(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class SlackSettings(BaseSettings):
    """What the Slack app needs to connect. See docs/slack.md for where each value comes from."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    bot_token: str | None = Field(
        default=None,
        validation_alias=_alias("SLACK_BOT_TOKEN"),
        description="Bot User OAuth Token (xoxb-…), from the app's “OAuth & Permissions” page after installing it.",
    )
    app_token: str | None = Field(
        default=None,
        validation_alias=_alias("SLACK_APP_TOKEN"),
        description=(
            "App-level token (xapp-…) with the connections:write scope, from “Basic Information → "
            "App-Level Tokens”; needed for Socket Mode (the default)."
        ),
    )
    signing_secret: str | None = Field(
        default=None,
        validation_alias=_alias("SLACK_SIGNING_SECRET"),
        description="Signing Secret from “Basic Information → App Credentials”; needed for HTTP mode (--http).",
    )
    api_url: str = Field(
        default=DEFAULT_API_URL,
        validation_alias=_alias("SLACK_API_URL"),
        description="Base URL of Slack's Web API; point it at a local stand-in for tests or staging.",
    )
    admins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_alias("ONRECORD_ADMINS"),
        description="Slack user ids (U…) allowed to re-index and add transcripts: comma-separated or a JSON list.",
    )
    transcripts: Path | None = Field(
        default=None,
        validation_alias=_alias("ONRECORD_TRANSCRIPTS"),
        description=(
            "Transcripts folder that `/reindex` re-syncs and where transcripts shared with the bot by an "
            "admin are saved (default: the folder given to `onrecord serve --watch`)."
        ),
    )
    upload_max_mb: float = Field(
        default=20,
        validation_alias=_alias("ONRECORD_UPLOAD_MAX_MB"),
        description="Largest transcript file (in MB) an admin may share with the bot; larger ones are refused unread.",
    )
    feedback_db: Path | None = Field(
        default=None,
        validation_alias=_alias("ONRECORD_FEEDBACK_DB"),
        description="SQLite file where 👍/👎 feedback is stored; defaults to ONRECORD_HOME/feedback.sqlite3.",
    )
    workers: int = Field(
        default=16,
        validation_alias=_alias("ONRECORD_SLACK_WORKERS"),
        description="Threads that answer questions in the background (acknowledgement never waits for them).",
    )
    engine_threads: int = Field(
        default=1,
        validation_alias=_alias("ONRECORD_ENGINE_THREADS"),
        description="Threads that may call the engine at once (1 = one engine thread, safe for any engine).",
    )
    quotes: int = Field(default=3, validation_alias=_alias("ONRECORD_SLACK_QUOTES"), description="Quotes per answer.")
    http_max_body: int = Field(
        default=1 << 20,
        validation_alias=_alias("ONRECORD_HTTP_MAX_BODY"),
        description=(
            "HTTP mode: largest request body (bytes) accepted at /slack/events; a larger one is answered 413 "
            "without being read (Slack's requests are a few kB)."
        ),
    )
    http_timeout: float = Field(
        default=10.0,
        validation_alias=_alias("ONRECORD_HTTP_TIMEOUT"),
        description="HTTP mode: seconds a connection may stay silent (mid-request or idle) before it is closed.",
    )
    heartbeat: Path | None = Field(
        default=None,
        validation_alias=_alias("ONRECORD_HEARTBEAT"),
        description=(
            "File the running bot touches every `heartbeat_every` seconds while it is connected (Socket Mode) or "
            "serving (HTTP), and removes when it stops; health checks read its age. Default: "
            "ONRECORD_HOME/serve.heartbeat."
        ),
    )
    heartbeat_every: float = Field(
        default=30.0,
        validation_alias=_alias("ONRECORD_HEARTBEAT_EVERY"),
        description="Seconds between two touches of the heartbeat file.",
    )

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, v):
        if v is None or v == "":
            return []
        if isinstance(v, str):
            v = v.strip()
            if v.startswith("["):
                return [str(x).strip() for x in json.loads(v) if str(x).strip()]
            return [x.strip() for x in v.split(",") if x.strip()]
        return v

    @field_validator("api_url")
    @classmethod
    def _slash(cls, v: str) -> str:
        return v if v.endswith("/") else v + "/"

    def missing(self, http: bool) -> dict[str, str]:
        """Names (and descriptions) of the settings the mode needs but that are not set."""
        needed = ["bot_token", "signing_secret"] if http else ["bot_token", "app_token"]
        out = {}
        for name in needed:
            if not getattr(self, name):
                field = type(self).model_fields[name]
                env = field.validation_alias.choices[0]  # type: ignore[union-attr]
                out[env] = field.description or ""
        return out

    def require(self, http: bool) -> "SlackSettings":
        missing = self.missing(http)
        if missing:
            raise MissingSettings(missing)
        return self

    def heartbeat_path(self) -> Path:
        if self.heartbeat:
            return self.heartbeat
        from index.settings import get_settings

        return get_settings().home / "serve.heartbeat"

    def feedback_path(self) -> Path:
        if self.feedback_db:
            return self.feedback_db
        from index.settings import get_settings

        return get_settings().home / "feedback.sqlite3"
