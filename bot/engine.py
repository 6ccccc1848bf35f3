"""Transitional: the engine lives in bot/answer/ (this module goes once every importer is updated)."""
from .answer.engine import Engine  # noqa: F401
