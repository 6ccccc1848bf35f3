"""`onrecord serve`: run the Slack bot (Socket Mode by default, or HTTP at /slack/events).

serve() opens the engine and the index-update service (index/updates.py) once, builds the Bolt app
(bot/slack/app.py) with both, and runs it until stopped. While serving, it touches a heartbeat file
that health checks read (the Docker image's HEALTHCHECK).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from slack_bolt import App, BoltRequest

from bot.answer.types import Answerer
from index.settings import SlackSettings
from index.errors import MissingSettings
from index.errors import OnRecordError
from index.updates import IndexUpdates

log = logging.getLogger("onrecord.slack")

EVENTS_PATH = "/slack/events"
SIGNATURE_MAX_AGE = 300  # seconds, as Slack's own verifier
_LENGTH = re.compile(r"[0-9]{1,15}")


def signed(secret: str, body: bytes, timestamp: str | None, signature: str | None) -> bool:
    """Slack's request signature (v0, HMAC-SHA256 over "v0:timestamp:body"), computed over the bytes
    received (valid UTF-8 or not), with the timestamp at most five minutes off."""
    if not secret or not timestamp or not signature or not _LENGTH.fullmatch(timestamp):
        return False
    if abs(time.time() - int(timestamp)) > SIGNATURE_MAX_AGE:
        return False
    mac = hmac.new(secret.encode("utf-8"), b"v0:" + timestamp.encode("ascii") + b":" + body, hashlib.sha256)
    return hmac.compare_digest(("v0=" + mac.hexdigest()).encode("ascii"), signature.encode("utf-8", "replace"))


def well_formed(text: str, content_type: str) -> bool:
    """The body parses as Bolt will parse it: a JSON object, or a form whose `payload` is a JSON object."""
    try:
        if content_type.split(";")[0].strip().lower() == "application/json" or text.startswith("{"):
            return isinstance(json.loads(text), dict)
        form = dict(urllib.parse.parse_qsl(text, keep_blank_values=True))
        return "payload" not in form or isinstance(json.loads(form["payload"]), dict)
    except ValueError:
        return False


class HttpRunner:
    """Slack's HTTP requests (events, slash commands, interactions) at POST /slack/events.

    A threading server with a front that answers by itself, before Bolt parses anything: 413 for a body
    over `http_max_body` (unread), 400 for a malformed Content-Length, body (not UTF-8) or payload, 401
    for a missing or wrong signature. A connection silent for `http_timeout` seconds (a half-sent request,
    an idle keep-alive) is closed, so no thread is held for long. Bolt acknowledges at once; answers are
    posted later by the bot's workers.
    """

    def __init__(self, app: App, port: int, settings: SlackSettings, host: str = "0.0.0.0"):
        self.app = app
        secret = settings.signing_secret or ""
        cap = settings.http_max_body

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = settings.http_timeout  # on the socket: every read and write

            def log_message(self, format, *args):  # noqa: A002
                log.debug("http: " + format, *args)

            def _send(self, status: int, headers: dict, body: str) -> None:
                data = body.encode("utf-8")
                self.send_response(status)
                for k, vs in headers.items():
                    if k.lower() in ("content-length", "connection"):
                        continue
                    for v in vs if isinstance(vs, (list, tuple)) else [vs]:
                        self.send_header(k, v)
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _refuse(self, status: int, why: str, unread: bool = False) -> None:
                log.info("http: %d for %s: %s", status, self.client_address[0], why)
                if unread:  # the body is still on the wire: this connection cannot carry another request
                    self.close_connection = True
                self._send(status, {"content-type": ["text/plain"]}, why)

            def do_GET(self):  # noqa: N802
                if self.path.partition("?")[0] == "/health":
                    self._send(200, {"content-type": ["text/plain"]}, "ok")
                else:
                    self._send(404, {}, "")

            def do_POST(self):  # noqa: N802
                path, _, query = self.path.partition("?")
                if path != EVENTS_PATH:
                    return self._refuse(404, "not found", unread=True)
                if self.headers.get("Transfer-Encoding"):
                    return self._refuse(411, "a Content-Length is required", unread=True)
                lengths = self.headers.get_all("Content-Length") or ["0"]
                if len(lengths) != 1 or not _LENGTH.fullmatch(lengths[0].strip()):
                    return self._refuse(400, "malformed Content-Length", unread=True)
                length = int(lengths[0])
                if length > cap:
                    return self._refuse(413, f"body over {cap} bytes", unread=True)
                body = self.rfile.read(length) if length else b""  # TimeoutError: handled by the base class
                if len(body) < length:
                    self.close_connection = True
                    return  # the client went away mid-body
                if not signed(secret, body, self.headers.get("X-Slack-Request-Timestamp"),
                              self.headers.get("X-Slack-Signature")):
                    return self._refuse(401, "invalid signature")
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    return self._refuse(400, "body is not UTF-8")
                if not well_formed(text, self.headers.get("Content-Type") or ""):
                    return self._refuse(400, "malformed body")
                req = BoltRequest(body=text, query=query, headers={k.lower(): [v] for k, v in self.headers.items()})
                resp = app.dispatch(req)
                self._send(resp.status, resp.headers, resp.body or "")

        class Server(ThreadingHTTPServer):
            request_queue_size = 512  # the default 5 overflows under bursts and costs a 1-3 s SYN retry
            daemon_threads = True

            def handle_error(self, request, client_address):  # a dropped connection: one line, no traceback
                log.info("http: connection from %s ended: %r", client_address[0], sys.exc_info()[1])

        self.server = Server((host, port), Handler)
        self.port = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="onrecord-http", daemon=True)
        self._thread.start()
        log.info("On Record is listening for Slack at http://0.0.0.0:%d%s", self.port, EVENTS_PATH)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SocketRunner:
    """Socket Mode with slack-bolt's built-in handler (reconnects on its own)."""

    def __init__(self, app: App, app_token: str):
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        self.app = app
        self.handler = SocketModeHandler(app, app_token, concurrency=16)
        self.port = None

    def start(self) -> None:
        self.handler.connect()
        log.info("On Record is connected to Slack (Socket Mode)")

    def alive(self) -> bool:
        return bool(self.handler.client.is_connected())

    def stop(self) -> None:
        self.handler.close()


class Heartbeat:
    """A file touched every `every` seconds while `alive()` says the bot is serving; removed on stop.
    A health check only reads its age (`find FILE -mmin -2`): it never starts a second bot."""

    def __init__(self, path: Path, every: float, alive: Callable[[], bool]):
        self.path, self.every, self.alive = Path(path), every, alive
        self._last = float("-inf")

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        if not self.alive():
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "\n", encoding="utf-8")
        except OSError as e:
            log.warning("cannot write the heartbeat file %s: %s", self.path, e)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _open(index: Path | None, watch: Path | None, transcripts: Path | None, check: bool):
    """The engine (and, unless only checking, the index-update service sharing its model), once for the
    life of the process. With `watch`, a first index is built from the folder if there is none."""
    from bot.answer.engine import Engine
    from index.question_encoder import load_question_embedder
    from index.settings import get_settings

    ix = get_settings()
    if index is not None:
        ix = ix.model_copy(update={"index": Path(index)})
    embedder = load_question_embedder(ix)
    if watch is not None and not check:
        IndexUpdates.sharing(ix, embedder, wait=3600).ensure_index([Path(watch)])
    engine = Engine.open(settings=ix, embedder=embedder)
    if check:
        return engine, None
    folder = transcripts or watch
    return engine, IndexUpdates.sharing(ix, engine.embedder, folder=folder)


def _warm_up(answerer: Answerer) -> None:
    """Answer one question before serving: the first one pays for lazy loading (model, index
    caches) and, holding the GIL, would otherwise delay the acknowledgement of the first requests."""
    try:
        warm = getattr(answerer, "warm_up", None)  # the engine's own; any other Answerer: one question
        if warm is not None:
            warm()
        else:
            answerer.ask("warm-up question about the record", lang_hint="en", limit=1)
    except Exception as e:
        log.warning("warm-up question failed: %s", e)


def _prose_writer(answerer: Answerer):
    """The chat model's prose writer the settings ask for, or None (unset, or it cannot be built: then
    the bot serves extractive answers and says why in the log)."""
    from bot.llm import writer_for
    from index.settings import get_settings

    try:
        writer = writer_for(answerer, getattr(answerer, "settings", None) or get_settings())
    except Exception as e:  # a missing provider package, a bad setting: extractive answers still serve
        log.warning("no prose answers: %s", e)
        return None
    if writer is not None:
        log.info("prose answers on: %s", type(writer.model).__name__)
    return writer


def serve(
    http: bool = False,
    port: int = 3000,
    check: bool = False,
    index: Path | None = None,
    answerer: Answerer | None = None,
    *,
    settings: SlackSettings | None = None,
    on_ready: Callable[[HttpRunner | SocketRunner], None] | None = None,
    stop: threading.Event | None = None,
    watch: Path | None = None,
    updates: IndexUpdates | None = None,
    prose=None,
) -> int:
    """Run the bot until interrupted (or `stop` is set). Returns a process exit code.

    `check=True` validates the settings and opens the index, without connecting to Slack.
    `answerer`/`updates`: an engine and its index-update service already open (tests, the benchmark);
    by default both are opened here. Without an update service, /reindex and shared files are declined.
    `on_ready(runner)` is called once serving (tests use `runner.port`, `runner.app`, `runner.stop()`).
    `watch`: a transcripts folder indexed as it changes (through the update service).
    `prose`: a bot.llm.ProseWriter (tests); by default the one the settings ask for (ONRECORD_LLM_PROVIDER),
    built once here, or none.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = settings or SlackSettings()  # read now (get_settings() is cached for the process)
        settings.require(http)
    except MissingSettings as e:
        print(str(e), file=sys.stderr)
        return 2
    except Exception as e:  # a malformed value
        print(f"Invalid Slack settings: {e}", file=sys.stderr)
        return 2

    opened = answerer is None
    if answerer is None:
        try:
            answerer, updates = _open(index, watch, settings.transcripts, check)
        except OnRecordError as e:
            print(f"Cannot open the index: {e}", file=sys.stderr)
            return 1
    if check:
        print(f"ok: Slack settings complete for {'HTTP' if http else 'Socket Mode'}; index opens")
        if opened:
            answerer.close()
        return 0
    if watch is not None and updates is None:
        raise ValueError("serve(watch=...) with an answerer needs its index-update service (updates=...)")

    from bot.slack.app import build_app

    _warm_up(answerer)
    if prose is None:
        prose = _prose_writer(answerer)
    app = build_app(settings, answerer, updates=updates, prose=prose)
    if watch is not None:
        updates.watch(Path(watch))
    runner: HttpRunner | SocketRunner = (
        HttpRunner(app, port, settings) if http else SocketRunner(app, settings.app_token or "")
    )
    stop = stop or threading.Event()
    runner.stop_event = stop  # type: ignore[attr-defined]
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runner.start()
    heartbeat = Heartbeat(settings.heartbeat_path(), settings.heartbeat_every, runner.alive)
    if on_ready is not None:
        on_ready(runner)
    try:
        while not stop.wait(0.5):
            heartbeat.tick()
    except KeyboardInterrupt:
        pass
    finally:
        heartbeat.remove()
        runner.stop()
        if updates is not None:
            updates.stop()
        app.onrecord.close()  # type: ignore[attr-defined]
        if opened:
            answerer.close()
    return 0
