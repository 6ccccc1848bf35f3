"""Local stand-ins for Slack: the Web API (HTTP) and the Socket Mode WebSocket server.

`SlackStandIn` answers the Web API methods the bot calls and records every call, in the spirit
of slack-bolt's own tests (a mock Web API server on localhost); `SocketModeStandIn` speaks
Socket Mode (hello, envelopes, acks, disconnect) to slack-bolt's real SocketModeHandler.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOT_USER_ID = "UBOT0001"
BOT_ID = "BBOT0001"
TEAM_ID = "T0001"


@dataclass
class Call:
    method: str
    args: dict
    at: float
    token: str | None = None


@dataclass
class SlackStandIn:
    locales: dict = field(default_factory=dict)  # user id -> Slack locale
    files: dict = field(default_factory=dict)  # file id -> (name, bytes)
    ws_url: str | None = None  # what apps.connections.open returns
    ephemeral_fails: set = field(default_factory=set)  # channels where chat.postEphemeral fails
    rate_limit_once: set = field(default_factory=set)  # methods answered once with HTTP 429
    urls: dict = field(default_factory=dict)  # file id -> the download URL files.info gives (default: ours)
    redirects: dict = field(default_factory=dict)  # file id -> where a download of it is redirected (302)

    def __post_init__(self):
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self.threads: dict[tuple, list] = {}  # (channel, thread_ts) -> messages, for conversations.replies
        self._ts = itertools.count(1)
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802
                self._handle(b"")

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                self._handle(self.rfile.read(n) if n else b"")

            def _reply(self, status: int, body: bytes, ctype: str = "application/json", headers=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, raw: bytes):
                path, _, query = self.path.partition("?")
                args = dict(urllib.parse.parse_qsl(query))
                ctype = self.headers.get("Content-Type", "")
                if raw:
                    if "json" in ctype:
                        args.update(json.loads(raw))
                    else:
                        args.update(dict(urllib.parse.parse_qsl(raw.decode("utf-8"))))
                auth = self.headers.get("Authorization", "")
                token = auth[7:] if auth.startswith("Bearer ") else args.get("token")
                if path.startswith("/files/"):
                    file_id = path.rsplit("/", 1)[1]
                    name, data = standin.files.get(file_id, (None, None))
                    standin._record("files.download", {"path": path}, token)
                    if file_id in standin.redirects:
                        self._reply(302, b"", "text/plain", headers={"Location": standin.redirects[file_id]})
                    elif data is None:
                        self._reply(404, b"")
                    else:
                        self._reply(200, data, "application/octet-stream")
                    return
                if path.startswith("/response/"):
                    standin._record("response_url", {**args, "path": path}, token)
                    self._reply(200, b"ok", "text/plain")
                    return
                if not path.startswith("/api/"):
                    self._reply(404, b"")
                    return
                method = path[len("/api/"):]
                with standin.lock:
                    limited = method in standin.rate_limit_once
                    standin.rate_limit_once.discard(method)
                if limited:
                    standin._record(method + "#429", args, token)
                    self._reply(429, b'{"ok":false,"error":"ratelimited"}', headers={"Retry-After": "0"})
                    return
                body = standin.respond(method, args, token)
                self._reply(200, json.dumps(body).encode("utf-8"))

        class Server(ThreadingHTTPServer):
            request_queue_size = 512  # like Slack, never refuse a burst (the default backlog is 5)
            daemon_threads = True

            def handle_error(self, request, client_address):  # the bot hung up mid-download (a refused file)
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.api_url = self.base + "/api/"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # ---- behaviour --------------------------------------------------------------------------

    def next_ts(self) -> str:
        return f"{1700000000 + next(self._ts)}.000100"

    def _record(self, method: str, args: dict, token: str | None) -> None:
        with self.lock:
            self.calls.append(Call(method, args, time.time(), token))

    def respond(self, method: str, args: dict, token: str | None) -> dict:
        self._record(method, args, token)
        ok = {"ok": True}
        if method == "auth.test":
            return {**ok, "url": "https://onrecord-test.slack.com/", "team": "Test", "user": "onrecord",
                    "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID}
        if method == "chat.postMessage":
            ts = self.next_ts()
            msg = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "ts": ts, "text": args.get("text")}
            if args.get("thread_ts"):
                with self.lock:
                    self.threads.setdefault((args["channel"], args["thread_ts"]), []).append(msg)
            return {**ok, "channel": args.get("channel"), "ts": ts, "message": msg}
        if method == "chat.postEphemeral":
            if args.get("channel") in self.ephemeral_fails:
                return {"ok": False, "error": "channel_not_found"}
            return {**ok, "message_ts": self.next_ts()}
        if method == "chat.update":
            return {**ok, "channel": args.get("channel"), "ts": args.get("ts")}
        if method == "users.info":
            user = args.get("user")
            return {**ok, "user": {"id": user, "name": user, "locale": self.locales.get(user, "en-US")}}
        if method == "conversations.replies":
            with self.lock:
                msgs = list(self.threads.get((args.get("channel"), args.get("ts")), []))
            return {**ok, "messages": [{"type": "message", "ts": args.get("ts"), "user": "UHUMAN"}] + msgs,
                    "has_more": False}
        if method == "files.info":
            name, data = self.files.get(args.get("file"), (None, None))
            if data is None:
                return {"ok": False, "error": "file_not_found"}
            return {**ok, "file": {"id": args["file"], "name": name, "size": len(data),
                                   "url_private_download": self.urls.get(args["file"])
                                   or f"{self.base}/files/{args['file']}"}}
        if method == "apps.connections.open":
            return {**ok, "url": self.ws_url}
        if method in ("reactions.add", "assistant.threads.setStatus", "assistant.threads.setSuggestedPrompts",
                      "assistant.threads.setTitle"):
            return ok
        return {"ok": False, "error": "unknown_method"}

    # ---- assertions ---------------------------------------------------------------------------

    def of(self, *methods: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method in methods]

    def replies(self) -> list[Call]:
        """Everything the bot said to people (messages, ephemerals, response_url posts)."""
        return self.of("chat.postMessage", "chat.postEphemeral", "response_url")

    def wait_for(self, predicate, timeout: float = 10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            result = predicate()
            if result:
                return result
            time.sleep(0.01)
        raise AssertionError(f"timed out waiting; calls: {[c.method for c in self.calls]}")

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()


# ---- signed HTTP requests --------------------------------------------------------------------------

def signature(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode("utf-8")
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: str, *, timestamp: int | None = None, content_type: str) -> dict:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature(secret, ts, body),
            "Content-Type": content_type}


# ---- Socket Mode -----------------------------------------------------------------------------------

class SocketModeStandIn:
    """A WebSocket server speaking Socket Mode to the real SocketModeHandler."""

    def __init__(self):
        from websockets.sync.server import serve

        self.acks: dict[str, dict] = {}
        self.connections = 0
        self.lock = threading.Lock()
        self.current = None
        self.connected = threading.Event()
        self._server = serve(self._handler, "127.0.0.1", 0)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/link"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handler(self, ws):
        with self.lock:
            self.connections += 1
            self.current = ws
        ws.send(json.dumps({"type": "hello", "num_connections": 1,
                            "debug_info": {"host": "standin", "approximate_connection_time": 18060},
                            "connection_info": {"app_id": "A0001"}}))
        self.connected.set()
        try:
            for raw in ws:
                msg = json.loads(raw)
                if "envelope_id" in msg:
                    with self.lock:
                        self.acks[msg["envelope_id"]] = msg.get("payload") or {}
        except Exception:
            pass
        finally:
            with self.lock:
                if self.current is ws:
                    self.current = None
                    self.connected.clear()

    def send(self, envelope: dict) -> None:
        if not self.connected.wait(10):
            raise AssertionError("Socket Mode client not connected")
        with self.lock:
            ws = self.current
        ws.send(json.dumps(envelope))

    def disconnect(self, *, refresh: bool = True) -> None:
        """Slack's `disconnect` message (refresh_requested), or a dropped connection."""
        with self.lock:
            ws = self.current
        if refresh:
            ws.send(json.dumps({"type": "disconnect", "reason": "refresh_requested"}))
        else:
            ws.close()

    def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if envelope_id in self.acks:
                    return self.acks[envelope_id]
            time.sleep(0.01)
        raise AssertionError(f"no ack for {envelope_id}")

    def close(self):
        self._server.shutdown()


# ---- requests to the bot's HTTP endpoint -----------------------------------------------------------

def post(url: str, body: str, content_type: str, secret: str, *, timestamp: int | None = None,
         signature_override: str | None = None, extra_headers: dict | None = None) -> tuple[int, str, float]:
    """POST a signed request; returns (status, body, seconds until the response)."""
    import urllib.error
    import urllib.request

    headers = signed_headers(secret, body, timestamp=timestamp, content_type=content_type)
    if signature_override is not None:
        headers["X-Slack-Signature"] = signature_override
    headers.update(extra_headers or {})
    req = urllib.request.Request(url, data=body.encode("utf-8"), headers=headers, method="POST")
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode("utf-8"), time.perf_counter() - t0
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8"), time.perf_counter() - t0


_event_ids = itertools.count(1)
_ts = itertools.count(1)


def new_ts() -> str:
    return f"1710000000.{next(_ts):06d}"


def event_body(event: dict, event_id: str | None = None) -> dict:
    return {"token": "legacy", "team_id": TEAM_ID, "api_app_id": "A0001", "type": "event_callback",
            "event_id": event_id or f"Ev{next(_event_ids):08d}", "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
            "event": event}


def mention(text: str, *, user: str = "UEN", channel: str = "C0001", ts: str | None = None,
            thread_ts: str | None = None) -> dict:
    ev = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER_ID}> {text}", "ts": ts or new_ts(),
          "channel": channel, "event_ts": ts}
    if thread_ts:
        ev["thread_ts"] = thread_ts
    ev["event_ts"] = ev["ts"]
    return ev


def message(text: str, *, user: str | None = "UEN", channel: str = "D0001", channel_type: str = "im",
            ts: str | None = None, thread_ts: str | None = None, **extra) -> dict:
    ev = {"type": "message", "text": text, "ts": ts or new_ts(), "channel": channel, "channel_type": channel_type}
    if user:
        ev["user"] = user
    if thread_ts:
        ev["thread_ts"] = thread_ts
    ev["event_ts"] = ev["ts"]
    ev.update(extra)
    return ev


def command_form(command: str, text: str, *, user: str = "UEN", channel: str = "C0001",
                 response_url: str = "", trigger_id: str | None = None) -> str:
    return urllib.parse.urlencode({
        "token": "legacy", "team_id": TEAM_ID, "channel_id": channel, "user_id": user, "command": command,
        "text": text, "api_app_id": "A0001", "response_url": response_url,
        "trigger_id": trigger_id or f"trig{next(_event_ids)}",
    })


def action_payload(action_id: str, value: str, *, user: str = "UEN", channel: str = "C0001",
                   message_ts: str | None = None, thread_ts: str | None = None, ephemeral: bool = False,
                   response_url: str = "", trigger_id: str | None = None) -> dict:
    container = {"type": "message", "message_ts": message_ts or new_ts(), "channel_id": channel,
                 "is_ephemeral": ephemeral}
    if thread_ts:
        container["thread_ts"] = thread_ts
    payload = {"type": "block_actions", "team": {"id": TEAM_ID}, "user": {"id": user}, "api_app_id": "A0001",
               "token": "legacy", "trigger_id": trigger_id or f"trig{next(_event_ids)}", "container": container,
               "channel": {"id": channel}, "response_url": response_url,
               "actions": [{"type": "button", "action_id": action_id, "block_id": "onrecord_answer_actions",
                            "value": value, "action_ts": str(time.time())}]}
    if not ephemeral:
        payload["message"] = {"type": "message", "ts": container["message_ts"], "thread_ts": thread_ts,
                              "user": BOT_USER_ID, "bot_id": BOT_ID}
    return payload


def action_form(payload: dict) -> str:
    return urllib.parse.urlencode({"payload": json.dumps(payload)})
