"""Issue 12, rows 1, 2, 10 and 12: transcripts shared with the bot and /reindex, against the real serve()
over HTTP, the real engine over a private copy of the small index, the local Web API stand-in, and a second
local HTTP server playing another host."""
from __future__ import annotations

import html
import json
import shutil
import threading
import time
import unicodedata
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import slack_path  # noqa: F401  (tests/slack on sys.path)
from slack_fixtures import http_bot, updates  # noqa: F401  (pytest fixture)
from standin import SlackStandIn, command_form, event_body, post

from bot.answer import Engine
from bot.messages import t
from index.settings import SlackSettings
from index.store import current_name

SECRET = "test-signing-secret"
ADMIN = "UADMIN"
UPLOAD = "mfa-telegram-en/2026-02-04_msg28218.txt"


class OtherHost:
    """An HTTP server on 127.0.0.1 that is not Slack: records what it is sent, serves a transcript."""

    def __init__(self, body: bytes):
        self.requests: list[dict] = []
        other = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802
                other.requests.append(dict(self.headers.items()))
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def standin():
    s = SlackStandIn(locales={"UEN": "en-US"})
    yield s
    s.close()


@pytest.fixture()
def folder(tmp_path) -> Path:
    root = tmp_path / "transcripts"
    root.mkdir()
    return root


@pytest.fixture()
def settings(standin, tmp_path, folder):
    return SlackSettings(bot_token="xoxb-test", app_token="xapp-test", signing_secret=SECRET,
                         api_url=standin.api_url, feedback_db=tmp_path / "feedback.sqlite3", admins=[ADMIN],
                         transcripts=folder, upload_max_mb=0.5)


@pytest.fixture()
def answerer(index_copy, embedder, settings_for):
    eng = Engine.open(settings=settings_for(index_copy), embedder=embedder)
    yield eng
    eng.close()


def share(bot, file_id: str, channel: str = "D0001") -> None:
    event = {"type": "file_shared", "file_id": file_id, "user_id": ADMIN, "file": {"id": file_id},
             "channel_id": channel, "event_ts": f"{time.time():.6f}"}
    status, text, _ = post(bot.url, json.dumps(event_body(event)), "application/json", SECRET)
    assert status == 200, text


def reply_in(standin, channel: str):
    [reply] = standin.wait_for(lambda: [c for c in standin.replies() if c.args.get("channel") == channel], 120)
    return reply


def text_of(call) -> str:
    return html.unescape(call.args.get("text") or "")


# ---- row 1: a redirect to another host ----------------------------------------------------------------

def test_a_download_redirected_to_another_host_is_refused_and_never_gets_the_token(
        http_bot, standin, answerer, folder, corpus):
    other = OtherHost((corpus / UPLOAD).read_bytes())
    try:
        generation = current_name(answerer.index_dir)
        standin.files["F1"] = ("redirected.txt", b"")
        standin.redirects["F1"] = f"http://localhost:{other.port}/evil.txt"  # another host (and port)
        share(http_bot, "F1")
        reply = reply_in(standin, "D0001")
        assert text_of(reply).startswith(t("en", "upload_refused", reason=""))
        assert http_bot.app.onrecord.idle(20)
        assert not any("Authorization" in h or "authorization" in h for h in other.requests), other.requests
        assert list(folder.iterdir()) == []  # nothing saved
        assert current_name(answerer.index_dir) == generation  # nothing indexed
    finally:
        other.close()


# ---- row 2: a file:// download URL ----------------------------------------------------------------------

@pytest.mark.parametrize("url", ["file://127.0.0.1/etc/passwd", "file:///etc/passwd", "ftp://127.0.0.1/x.txt", "data:text/plain,hello%20world"])
def test_non_http_download_urls_are_refused(http_bot, standin, answerer, folder, url):
    standin.files["F2"] = ("passwd.txt", b"never served")
    standin.urls["F2"] = url
    share(http_bot, "F2", channel="D0002")
    reply = reply_in(standin, "D0002")
    assert text_of(reply).startswith(t("en", "upload_refused", reason=""))
    assert http_bot.app.onrecord.idle(20)
    assert list(folder.iterdir()) == []


# ---- row 12: direction-changing and control characters in upload names ---------------------------------

def test_bidi_and_control_characters_are_taken_out_of_upload_names(http_bot, standin, answerer, folder, corpus):
    name = "Stepanov\u202etxt.gpj\u2066\u200f\x85.txt"  # shows as "Stepanov…jpg.txt" in a right-to-left run
    standin.files["F3"] = (name, (corpus / UPLOAD).read_bytes())
    share(http_bot, "F3", channel="D0003")
    reply = reply_in(standin, "D0003")
    assert text_of(reply).startswith(t("en", "upload_done", name="", summary="")[:5]), text_of(reply)
    [saved] = list(folder.iterdir())
    assert saved.name == "Stepanovtxt.gpj .txt"  # NEL (a C1 line break) became a space
    assert not any(unicodedata.category(c) in ("Cf", "Cc") for c in saved.name)
    assert not any(unicodedata.category(c) in ("Cf", "Cc") and c != "\n" for c in text_of(reply))


# ---- row 10: /reindex summaries ------------------------------------------------------------------------

def test_reindex_summary_names_files_not_server_paths_and_is_private(http_bot, standin, answerer, folder, corpus):
    shutil.copyfile(corpus / UPLOAD, folder / "good.txt")
    (folder / "broken.txt").write_bytes(bytes(range(256)) * 64)  # binary: skipped, with its reason
    form = command_form("/reindex", "", user=ADMIN, channel="C0001", response_url=standin.base + "/response/1")
    status, text, _ = post(http_bot.url, form, "application/x-www-form-urlencoded", SECRET)
    assert status == 200, text
    done = t("en", "reindex_done", summary="")
    standin.wait_for(lambda: any(text_of(c).startswith(done) for c in standin.replies()), 120)
    assert http_bot.app.onrecord.idle(20)
    said = standin.replies() + standin.of("chat.update")
    assert said and all(c.method in ("chat.postEphemeral", "response_url") for c in said), [c.method for c in said]
    assert all(c.args.get("user") == ADMIN for c in said if c.method == "chat.postEphemeral")
    summary = text_of([c for c in said if text_of(c).startswith(done)][-1])
    assert "broken.txt" in summary and "1 added" in summary
    for c in said:
        assert str(folder) not in json.dumps(c.args, ensure_ascii=False)
        assert str(answerer.index_dir) not in json.dumps(c.args, ensure_ascii=False)


def test_download_follows_redirects_only_within_slack(standin, corpus):
    """The one download function: a redirect inside Slack's origin is followed with the token; one that
    leaves it is refused before any request is made; non-https addresses are refused by default."""
    from bot.uploads import download, from_slack, origin
    from index.errors import UploadRefused

    data = (corpus / UPLOAD).read_bytes()
    trusted = {origin(standin.api_url)}
    standin.files["F5"] = ("a.txt", b"")
    standin.files["F6"] = ("a.txt", data)
    standin.redirects["F5"] = "/files/F6"  # relative, same origin
    assert download(f"{standin.base}/files/F5", "xoxb-test", 2**20, trusted=trusted) == data
    assert [c.token for c in standin.of("files.download")] == ["xoxb-test", "xoxb-test"]
    other = OtherHost(data)
    try:
        standin.redirects["F7"] = f"http://127.0.0.1:{other.port}/x.txt"  # same host, another port: another origin
        with pytest.raises(UploadRefused):
            download(f"{standin.base}/files/F7", "xoxb-test", 2**20, trusted=trusted)
        assert other.requests == []
    finally:
        other.close()
    # production defaults: https on Slack's hosts only
    assert from_slack("https://files.slack.com/files-pri/T1-F1/x.txt")
    assert not from_slack("http://files.slack.com/files-pri/T1-F1/x.txt")
    assert not from_slack("https://files.slack.com.evil.example/x.txt")
    assert not from_slack("https://evilslack.com/x.txt")
    assert not from_slack("https://files.slack.com:8443/x.txt")
    assert not from_slack(standin.base + "/files/F6")  # the stand-in only when the settings point there
