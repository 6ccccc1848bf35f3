"""The Slack app: a thin Bolt app around the answering engine (see docs/slack.md)."""
