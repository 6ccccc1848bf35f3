"""Answering: from a question to verified quotes (see engine.py for the map of the parts).

`Engine` is loaded on first use, so the data types here (types.py) import without the engine."""


def __getattr__(name: str):
    if name == "Engine":
        from .engine import Engine

        return Engine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Engine"]
