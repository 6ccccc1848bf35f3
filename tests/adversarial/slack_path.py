"""Puts tests/slack on sys.path, so the adversarial Slack tests use the same stand-ins and fixtures."""
import sys
from pathlib import Path

SLACK_TESTS = str(Path(__file__).resolve().parents[1] / "slack")
if SLACK_TESTS not in sys.path:
    sys.path.insert(0, SLACK_TESTS)
