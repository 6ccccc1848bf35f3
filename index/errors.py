"""Domain errors. Library code raises these; only the CLI and the Slack app turn them into messages."""
from __future__ import annotations


class OnRecordError(Exception):
    """Base of every error On Record reports to a user."""


class SkipFile(OnRecordError):
    """A file that cannot be indexed; the reason is shown in the index summary."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class IndexMissing(OnRecordError):
    """No index at the given folder (or an empty one)."""


class ModelMismatch(OnRecordError):
    """The index was built with another embedding model or other chunking settings."""


class ModelError(OnRecordError):
    """The embedding model cannot be prepared or loaded."""


class SchemaMismatch(OnRecordError):
    """The store holds an index of another schema version than this On Record reads."""


class IndexLocked(OnRecordError):
    """Another indexer is writing to this index."""


class LLMUnavailable(OnRecordError):
    """Prose answers were asked for, but no usable chat model is configured or installed."""


class ProseRefused(OnRecordError):
    """A chat model's prose answer cannot be used (cites nothing, cites passages it was not given,
    nothing citable left after the quote checks): the extractive answer stands. `counts` says what
    the checks found."""

    def __init__(self, reason: str, counts: dict | None = None):
        super().__init__(reason)
        self.reason = reason
        self.counts = counts or {}


class UploadRefused(OnRecordError):
    """A file the bot will not take; `reason` is shown to the person who shared it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class MissingSettings(OnRecordError):
    """Settings the chosen mode needs are not set; the message names each one."""

    def __init__(self, missing: dict[str, str]):
        self.missing = missing
        lines = [f"  {name}: {why}" for name, why in missing.items()]
        super().__init__(
            "Missing Slack setting(s) — set them in the environment or in a .env file:\n" + "\n".join(lines)
        )
