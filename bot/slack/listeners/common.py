"""Small helpers shared by the listeners."""
from __future__ import annotations

def is_ignorable(event: dict, context) -> bool:
    """Edits, deletions, joins (any message subtype), other bots' and our own messages: never answered."""
    if event.get("subtype"):
        return True
    if event.get("bot_id") or event.get("bot_profile"):
        return True
    user = event.get("user")
    if not user:
        return True
    return user == getattr(context, "bot_user_id", None) or user == context.get("bot_user_id")


def event_keys(body: dict, event: dict) -> tuple:
    """De-duplication keys of a message event: its event id and its (channel, ts)."""
    return (("event", body.get("event_id")), ("msg", event.get("channel"), event.get("ts")))
