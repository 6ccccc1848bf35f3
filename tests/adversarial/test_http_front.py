"""Issue 12, row 3: the HTTP front of `serve --http` (the real serve(), real Bolt app) answers oversized,
malformed and unsigned requests itself, before reading more than its cap or parsing anything, without a
traceback in the log, and does not let a half-sent request hold a thread."""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import socket
import time

import pytest

import slack_path  # noqa: F401  (tests/slack on sys.path)
from slack_fixtures import http_bot, standin, updates  # noqa: F401  (pytest fixtures)
from standin import event_body, mention

from index.settings import SlackSettings

SECRET = "test-signing-secret"
CAP = 64 * 1024


@pytest.fixture()
def settings(standin, tmp_path):
    return SlackSettings(bot_token="xoxb-test", app_token="xapp-test", signing_secret=SECRET,
                         api_url=standin.api_url, feedback_db=tmp_path / "feedback.sqlite3",
                         http_max_body=CAP, http_timeout=1.0)


@pytest.fixture(scope="session")
def answerer(engine):
    return engine


def request(bot, body: bytes, headers: dict, *, send_body: bool = True) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", bot.port, timeout=30)
    try:
        conn.putrequest("POST", "/slack/events", skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders(body if send_body else None)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def signed(body: bytes, content_type: str) -> dict:
    """Slack's signature over the very bytes sent (valid UTF-8 or not)."""
    ts = str(int(time.time()))
    mac = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "Content-Length": str(len(body)), "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": "v0=" + mac}


def no_tracebacks(caplog, capfd) -> None:
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    err = capfd.readouterr().err
    assert "Traceback" not in err, err


def test_a_body_over_the_cap_is_refused_before_it_is_read(http_bot, standin, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    headers = {"Content-Type": "application/json", "Content-Length": str(50 * 2**20)}
    status, _ = request(http_bot, b"", headers, send_body=False)  # announces 50 MB, sends nothing
    assert status == 413
    big = json.dumps(event_body(mention("x" * (CAP + 10)))).encode()
    status, _ = request(http_bot, big, signed(big, "application/json"))  # signed, but too large
    assert status == 413
    assert standin.replies() == []
    no_tracebacks(caplog, capfd)


@pytest.mark.parametrize("length", ["abc", "-5", "1e3", "", "12, 12"])
def test_a_malformed_content_length_is_a_400(http_bot, caplog, capfd, length):
    caplog.set_level(logging.DEBUG)
    status, _ = request(http_bot, b"{}", {"Content-Type": "application/json", "Content-Length": length},
                        send_body=False)
    assert status == 400
    no_tracebacks(caplog, capfd)


MALFORMED = [
    (b"\xff\xfe{\"type\": \"event_callback\"}", "application/json"),  # invalid UTF-8
    (b"{not json", "application/json"),
    (b"[1, 2, 3]", "application/json"),  # JSON, but not an object
    (b"payload=not-json", "application/x-www-form-urlencoded"),
    (b"payload=%22a%20string%22", "application/x-www-form-urlencoded"),
    (b"payload=%ff%fe", "application/x-www-form-urlencoded"),
]


@pytest.mark.parametrize("body,ctype", MALFORMED)
def test_signed_but_malformed_bodies_are_a_400_without_a_traceback(http_bot, standin, caplog, capfd, body, ctype):
    caplog.set_level(logging.DEBUG)
    status, _ = request(http_bot, body, signed(body, ctype))
    assert status == 400
    assert standin.replies() == []
    no_tracebacks(caplog, capfd)


@pytest.mark.parametrize("body,ctype", MALFORMED + [(json.dumps(event_body(mention("hi"))).encode(), "application/json")])
def test_unsigned_bodies_are_a_401_before_parsing(http_bot, standin, caplog, capfd, body, ctype):
    caplog.set_level(logging.DEBUG)
    headers = {"Content-Type": ctype, "Content-Length": str(len(body)),
               "X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64}
    status, _ = request(http_bot, body, headers)
    assert status == 401
    status, _ = request(http_bot, body, {"Content-Type": ctype, "Content-Length": str(len(body))})
    assert status == 401
    assert standin.replies() == []
    no_tracebacks(caplog, capfd)


def test_a_half_sent_request_is_dropped_after_the_timeout(http_bot, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    sock = socket.create_connection(("127.0.0.1", http_bot.port), timeout=30)
    try:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"type\":")  # 8 of the 100 bytes announced, then silence
        got = b""
        while True:
            chunk = sock.recv(4096)  # the server closes the connection: recv returns b""
            if not chunk:
                break
            got += chunk
        assert got == b"" or got.startswith((b"HTTP/1.1 408", b"HTTP/1.0 408")), got
    finally:
        sock.close()
    idle = socket.create_connection(("127.0.0.1", http_bot.port), timeout=30)  # connects, never speaks
    try:
        assert idle.recv(4096) == b""
    finally:
        idle.close()
    no_tracebacks(caplog, capfd)
