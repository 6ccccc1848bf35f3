"""`onrecord serve`: run the Slack bot (Socket Mode by default, or HTTP at /slack/events)."""
from __future__ import annotations

import logging
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from slack_bolt import App, BoltRequest

from bot.answer_types import Answerer
from bot.slack.settings import MissingSettings, SlackSettings
from index.errors import OnRecordError

log = logging.getLogger("onrecord.slack")

EVENTS_PATH = "/slack/events"


class HttpRunner:
    """Slack's HTTP requests (events, slash commands, interactions) at POST /slack/events.

    A threading server: each request is verified (signature, timestamp) and dispatched by Bolt,
    which acknowledges at once; answers are posted later by the bot's workers.
    """

    def __init__(self, app: App, port: int, host: str = "0.0.0.0"):
        self.app = app

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002
                log.debug("http: " + format, *args)

            def _send(self, status: int, headers: dict, body: str) -> None:
                data = body.encode("utf-8")
                self.send_response(status)
                for k, vs in headers.items():
                    if k.lower() == "content-length":
                        continue
                    for v in vs if isinstance(vs, (list, tuple)) else [vs]:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                if self.path.partition("?")[0] == "/health":
                    self._send(200, {"content-type": ["text/plain"]}, "ok")
                else:
                    self._send(404, {}, "")

            def do_POST(self):  # noqa: N802
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8") if length else ""
                if path != EVENTS_PATH:
                    self._send(404, {}, "")
                    return
                req = BoltRequest(body=body, query=query, headers={k.lower(): [v] for k, v in self.headers.items()})
                resp = app.dispatch(req)
                self._send(resp.status, resp.headers, resp.body or "")

        class Server(ThreadingHTTPServer):
            request_queue_size = 512  # the default 5 overflows under bursts and costs a 1-3 s SYN retry
            daemon_threads = True

        self.server = Server((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="onrecord-http", daemon=True)
        self._thread.start()
        log.info("On Record is listening for Slack at http://0.0.0.0:%d%s", self.port, EVENTS_PATH)

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

    def stop(self) -> None:
        self.handler.close()


def _open_engine(index: Path | None) -> Answerer:
    from index.settings import IndexSettings

    index_dir = Path(index) if index is not None else IndexSettings().index_dir
    from bot.engine import Engine  # written alongside; imported here so the Slack app loads without it

    return Engine.open(index_dir)


def _warm_up(answerer: Answerer) -> None:
    """Answer one question before serving: the first one pays for lazy loading (model, index
    caches) and, holding the GIL, would otherwise delay the acknowledgement of the first requests."""
    try:
        answerer.ask("warm-up question about the record", lang_hint="en", limit=1)
    except Exception as e:
        log.warning("warm-up question failed: %s", e)


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
) -> int:
    """Run the bot until interrupted (or `stop` is set). Returns a process exit code.

    `check=True` validates the settings and opens the index, without connecting to Slack.
    `on_ready(runner)` is called once serving (tests use `runner.port`, `runner.app`, `runner.stop()`).
    `watch`: a transcripts folder indexed as it changes (index.watch.Watcher, sharing the engine's model).
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = settings or SlackSettings()
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
            if watch is not None and not check:  # a first index from the folder, so the engine can open
                from index.settings import IndexSettings
                from index.watch import ensure_index

                ensure_index([watch], IndexSettings().model_copy(update={"index": index} if index else {}))
            answerer = _open_engine(index)  # once, for the life of the process
        except OnRecordError as e:
            print(f"Cannot open the index: {e}", file=sys.stderr)
            return 1
    if check:
        print(f"ok: Slack settings complete for {'HTTP' if http else 'Socket Mode'}; index opens")
        if opened and hasattr(answerer, "close"):
            answerer.close()
        return 0

    from bot.slack.app import build_app

    _warm_up(answerer)
    app = build_app(settings, answerer)
    watcher = None
    if watch is not None:
        from index.watch import Watcher

        watcher = Watcher.for_engine([Path(watch)], answerer)
        app.onrecord.indexer = watcher  # type: ignore[attr-defined]  (/reindex and uploads share it)
        watcher.start()
    runner: HttpRunner | SocketRunner = HttpRunner(app, port) if http else SocketRunner(app, settings.app_token or "")
    stop = stop or threading.Event()
    runner.stop_event = stop  # type: ignore[attr-defined]
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runner.start()
    if on_ready is not None:
        on_ready(runner)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()
        if watcher is not None:
            watcher.stop()
        app.onrecord.close()  # type: ignore[attr-defined]
    return 0
