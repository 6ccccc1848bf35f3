"""serve() touches the heartbeat file while it serves, and removes it when it stops (the Docker health
check reads its age; see tests/slack/test_dockerfile.py)."""
from __future__ import annotations

import time

import pytest
from slack_fixtures import serve_in_thread

from index.settings import SlackSettings


@pytest.fixture()
def settings(standin, tmp_path):
    return SlackSettings(bot_token="xoxb-test", app_token="xapp-test", signing_secret="s", api_url=standin.api_url,
                         feedback_db=tmp_path / "feedback.sqlite3", heartbeat=tmp_path / "beat" / "serve.heartbeat",
                         heartbeat_every=0.2)


def test_heartbeat_while_serving_gone_when_stopped(standin, settings, answerer):
    beat = settings.heartbeat_path()
    runner, thread = serve_in_thread(http=True, port=0, answerer=answerer, settings=settings)
    try:
        standin.wait_for(beat.is_file, 30)
        first = beat.stat().st_mtime_ns
        standin.wait_for(lambda: beat.stat().st_mtime_ns != first, 30)  # touched again, not once
        assert time.strptime(beat.read_text(encoding="utf-8").strip(), "%Y-%m-%dT%H:%M:%SZ")
    finally:
        runner.stop_event.set()
        thread.join(30)
    assert not thread.is_alive() and not beat.exists()
