"""Fixtures of the Slack tests, shared by tests/slack and tests/adversarial: the Slack stand-ins, and
the real serve() over HTTP and Socket Mode.

The answerer is the shared `engine` of tests/conftest.py: the real engine over a small real index.
"""
from __future__ import annotations

import threading

import pytest
from standin import SlackStandIn, SocketModeStandIn

from bot.slack.serve import serve
from index.settings import SlackSettings
from index.updates import IndexUpdates

SIGNING_SECRET = "test-signing-secret"


@pytest.fixture()
def standin():
    s = SlackStandIn(locales={"USV": "sv-SE", "UEN": "en-US", "URU": "ru-RU", "UDE": "de-DE"})
    yield s
    s.close()


@pytest.fixture()
def settings(standin, tmp_path):
    return SlackSettings(bot_token="xoxb-test", app_token="xapp-test", signing_secret=SIGNING_SECRET,
                         api_url=standin.api_url, feedback_db=tmp_path / "feedback.sqlite3", admins=["UADMIN"])


def serve_in_thread(**kwargs):
    ready = threading.Event()
    box = {}

    def on_ready(runner):
        box["runner"] = runner
        ready.set()

    t = threading.Thread(target=lambda: box.setdefault("rc", serve(on_ready=on_ready, **kwargs)), daemon=True)
    t.start()
    if not ready.wait(60):
        raise RuntimeError(f"serve() did not start: {box}")
    return box["runner"], t


@pytest.fixture()
def updates(answerer, settings):
    """The index-update service of the answerer's index, as serve() makes it (the transcripts folder:
    the Slack settings' one)."""
    u = IndexUpdates.sharing(answerer.settings, answerer.embedder, folder=settings.transcripts, wait=60)
    yield u
    u.stop()


@pytest.fixture()
def http_bot(standin, settings, answerer, updates):
    """The real serve() in HTTP mode on a random port; yields the runner (.port, .app)."""
    runner, t = serve_in_thread(http=True, port=0, answerer=answerer, settings=settings, updates=updates)
    runner.url = f"http://127.0.0.1:{runner.port}/slack/events"
    yield runner
    runner.stop_event.set()
    t.join(10)


@pytest.fixture()
def socket_bot(standin, settings, answerer, updates):
    ws = SocketModeStandIn()
    standin.ws_url = ws.url
    runner, t = serve_in_thread(http=False, answerer=answerer, settings=settings, updates=updates)
    runner.ws = ws
    assert ws.connected.wait(10)
    yield runner
    runner.stop_event.set()
    t.join(10)
    ws.close()


@pytest.fixture(scope="session")
def answerer(engine):
    """The shared real `engine` of tests/conftest.py (the real engine over a small real index)."""
    return engine
