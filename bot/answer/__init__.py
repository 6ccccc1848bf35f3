"""Answering: from a question to verified quotes (see engine.py for the map of the parts)."""
from .engine import Engine

__all__ = ["Engine"]
