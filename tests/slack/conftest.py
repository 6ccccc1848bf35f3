"""Fixtures of the Slack tests (in slack_fixtures.py, so tests/adversarial can use them too)."""
from slack_fixtures import answerer, http_bot, settings, socket_bot, standin, updates  # noqa: F401  (pytest fixtures)
