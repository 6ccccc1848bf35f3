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


class IndexLocked(OnRecordError):
    """Another indexer is writing to this index."""


class BadQuestion(OnRecordError):
    """A question or fragment that cannot be answered as given (empty, only punctuation...)."""
