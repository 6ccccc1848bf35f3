"""What every listener shares: the engine and the index-update service (both opened once, by serve()),
background workers, de-duplication, the user-locale cache, recent answers (for the buttons) and the
feedback store.

Listeners acknowledge Slack at once and hand the slow part to `OnRecordBot.submit`; the answer
is then posted by a worker. Any exception inside an answer is logged and turns into a short
apology in the user's language; the bot keeps serving.

With a prose writer (bot/llm, when ONRECORD_LLM_PROVIDER is set), an /ask-style answer is posted as
always, then the chat model runs on a pool of its own and, if its prose passes the checks, the message
is edited to show the prose above the quotes. A slow or failing model leaves the message as it is.
"""
from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.answer.types import Answer, Answerer
from index.store.feedback import FeedbackStore
from bot.messages import t
from bot.render.slack import notice, render_answer, with_prose
from bot.slack.dedupe import Dedupe
from index.settings import SlackSettings
from index.updates import IndexUpdates

log = logging.getLogger("onrecord.slack")


def strip_mentions(text: str | None, bot_user_id: str | None = None) -> str:
    """The message without the bot's own mention, whitespace collapsed (the engine's question cleaning
    drops any other mention)."""
    text = text or ""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def locale_to_lang(locale: str | None) -> str | None:
    if not locale:
        return None
    code = locale.replace("_", "-").split("-")[0].lower()
    return code or None


@dataclass
class Where:
    """Where an answer goes."""

    channel: str
    user: str | None = None
    thread_ts: str | None = None  # reply in this thread
    ephemeral: bool = False  # visible to `user` only
    response_url: str | None = None  # for ephemeral replies where chat.postEphemeral cannot post
    status: bool = False  # an assistant thread: show a "searching…" status while working


class _TTLCache:
    def __init__(self, ttl: float, max_size: int = 10_000):
        self.ttl, self.max_size = ttl, max_size
        self._d: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, default=None):
        with self._lock:
            hit = self._d.get(key)
            if hit is None or time.monotonic() - hit[0] > self.ttl:
                return default
            return hit[1]

    def put(self, key, value) -> None:
        with self._lock:
            self._d[key] = (time.monotonic(), value)
            self._d.move_to_end(key)
            while len(self._d) > self.max_size:
                self._d.popitem(last=False)


class OnRecordBot:
    def __init__(self, settings: SlackSettings, answerer: Answerer, updates: IndexUpdates | None = None,
                 prose=None):
        self.settings = settings
        self.answerer = answerer
        self.prose = prose  # bot.llm.ProseWriter, or None: extractive answers only
        # the chat model waits on its own pool: a slow model never holds a job worker or the engine
        self.prose_pool = ThreadPoolExecutor(2, thread_name_prefix="onrecord-prose") if prose is not None else None
        self.updates = updates  # index/updates.py: /reindex and shared transcripts (None: declined)
        self.jobs = ThreadPoolExecutor(max(1, settings.workers), thread_name_prefix="onrecord-job")
        self.engine_pool = ThreadPoolExecutor(max(1, settings.engine_threads), thread_name_prefix="onrecord-engine")
        self.dedupe = Dedupe(ttl=3600)
        self.threads = Dedupe(ttl=7 * 24 * 3600)  # (channel, thread_ts) where the bot answered
        self.not_our_threads = _TTLCache(ttl=300)
        self.locales = _TTLCache(ttl=3600)
        self.answers = _TTLCache(ttl=24 * 3600, max_size=2000)  # answer id -> Answer, for the buttons
        self._feedback: FeedbackStore | None = None
        self._feedback_lock = threading.Lock()
        self.pending: set = set()
        self._pending_lock = threading.Lock()

    # ---- plumbing -------------------------------------------------------------------------

    @property
    def feedback(self) -> FeedbackStore:
        with self._feedback_lock:
            if self._feedback is None:
                self._feedback = FeedbackStore(self.settings.feedback_path())
            return self._feedback

    def submit(self, fn: Callable, *args, pool: ThreadPoolExecutor | None = None, **kwargs):
        """Run `fn` on a worker (or on `pool`); an exception is logged (listeners apologise themselves)."""

        def run():
            try:
                return fn(*args, **kwargs)
            except Exception:
                log.exception("background job failed")
            finally:
                with self._pending_lock:
                    self.pending.discard(fut)

        with self._pending_lock:  # added before `run` can end (its `finally` takes the same lock)
            fut = (pool or self.jobs).submit(run)
            self.pending.add(fut)
        return fut

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait until no job is running (tests and the benchmark use it)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._pending_lock:
                if not self.pending:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self.jobs.shutdown(wait=False, cancel_futures=True)
        self.engine_pool.shutdown(wait=False, cancel_futures=True)
        if self.prose_pool is not None:
            self.prose_pool.shutdown(wait=False, cancel_futures=True)
        if self._feedback is not None:
            self._feedback.close()

    def lang_hint(self, client: WebClient, user: str | None) -> str | None:
        """The user's Slack locale as an ISO 639-1 code (users.info with include_locale, cached)."""
        if not user:
            return None
        cached = self.locales.get(user, "?")
        if cached != "?":
            return cached
        lang = None
        try:
            resp = client.users_info(user=user, include_locale=True)
            lang = locale_to_lang((resp.get("user") or {}).get("locale"))
        except Exception as e:  # no users:read scope, unknown user…: no hint
            log.info("no locale for %s: %s", user, e)
        self.locales.put(user, lang)
        return lang

    def is_our_thread(self, client: WebClient, channel: str, thread_ts: str, bot_user_id: str | None,
                      bot_id: str | None) -> bool:
        """Has the bot already answered in this thread? (memory first, then conversations.replies)"""
        if self.threads.seen((channel, thread_ts)):
            return True
        if self.not_our_threads.get((channel, thread_ts)):
            return False
        ours = False
        try:
            resp = client.conversations_replies(channel=channel, ts=thread_ts, limit=100)
            for m in resp.get("messages") or []:
                if (bot_user_id and m.get("user") == bot_user_id) or (bot_id and m.get("bot_id") == bot_id):
                    ours = True
                    break
        except SlackApiError as e:
            log.info("conversations.replies failed for %s/%s: %s", channel, thread_ts, e)
        if ours:
            self.threads.add((channel, thread_ts))
        else:
            self.not_our_threads.put((channel, thread_ts), True)
        return ours

    # ---- answering ------------------------------------------------------------------------

    def run_engine(self, kind: str, question: str, lang_hint: str | None, offset: int = 0) -> Answer:
        limit = self.settings.quotes

        run = self.answerer.quote if kind == "quote" else self.answerer.ask
        return self.engine_pool.submit(run, question, lang_hint=lang_hint, limit=limit, offset=offset).result()

    def remember(self, answer: Answer) -> str:
        answer_id = uuid.uuid4().hex[:12]
        self.answers.put(answer_id, answer)
        return answer_id

    def answer(
        self,
        client: WebClient,
        where: Where,
        question: str,
        *,
        kind: str = "ask",
        lang_hint: str | None = None,
        offset: int = 0,
        set_status: Callable | None = None,
        eyes_on: str | None = None,
    ) -> dict | None:
        """Answer `question` and post it `where`; on failure post an apology. Returns the message sent."""
        if eyes_on:  # a visible "working on it" on the question itself
            try:
                client.reactions_add(channel=where.channel, timestamp=eyes_on, name="eyes")
            except Exception as e:
                log.info("reactions.add failed: %s", e)
        if lang_hint is None:
            lang_hint = self.lang_hint(client, where.user)
        answer: Answer | None = None
        try:
            message, answer = self._answer_message(kind, question, lang_hint, offset, where, set_status)
        except Exception:
            log.exception("answering failed: %r", question[:200])
            message = notice(t(lang_hint, "error"))
        posted = self.post(client, where, message)
        if where.thread_ts and not where.ephemeral:
            self.threads.add((where.channel, where.thread_ts))
        if self.prose is not None and kind == "ask" and not offset and answer is not None and answer.found:
            self.submit(self.add_prose, client, where, question, answer.language or lang_hint, message, posted,
                        pool=self.prose_pool)
        return message

    def add_prose(self, client: WebClient, where: Where, question: str, lang_hint: str | None, message: dict,
                  posted: dict | None) -> bool:
        """Ask the chat model for prose; if it passes the checks, edit the answer `posted` to show it above
        the quotes. Otherwise (slow, failing, refused) the answer stays as it is: one log line, nothing posted."""
        try:
            result = self.prose.write(question, lang_hint)
        except Exception as e:  # the candidates' lookup failed: the answer as posted stands
            log.warning("no prose for %r: %s: %s", question[:200], type(e).__name__, e)
            return False
        if not result.ok:
            log.info("no prose for %r: %s", question[:200], result.fallback)
            return False
        edited = with_prose(message, result.text)
        try:
            if posted and posted.get("ts"):
                client.chat_update(channel=posted.get("channel") or where.channel, ts=posted["ts"], **edited)
            elif where.response_url:
                WebhookClient(where.response_url).send(
                    response_type="ephemeral" if where.ephemeral else "in_channel", replace_original=True, **edited)
            else:
                log.info("no way to edit the answer to %r: prose not shown", question[:200])
                return False
        except Exception as e:  # the answer stands; a failed edit is a log line
            log.warning("could not add the prose to the answer: %s", e)
            return False
        return True

    def _answer_message(self, kind: str, question: str, lang_hint: str | None, offset: int, where: Where,
                        set_status: Callable | None) -> tuple[dict, Answer | None]:
        if not question.strip():  # nothing to look up: say what to ask
            return notice(t(lang_hint, "empty_question")), None
        if set_status is not None:
            try:
                set_status(t(lang_hint, "searching"))
            except Exception as e:
                log.info("could not set the assistant status: %s", e)
        answer = self.run_engine(kind, question, lang_hint, offset)
        if offset and not answer.quotes:
            return notice(t(answer.language or lang_hint, "no_more")), None
        return render_answer(answer, answer_id=self.remember(answer), offset=offset, share=where.ephemeral), answer

    def post(self, client: WebClient, where: Where, message: dict) -> dict | None:
        """Send `message` where it belongs; an ephemeral message falls back to the response_url.
        Returns {"channel", "ts"} of a message chat.update can edit, or None (ephemeral, response_url)."""
        if where.ephemeral:
            try:
                client.chat_postEphemeral(channel=where.channel, user=where.user, thread_ts=where.thread_ts,
                                          **message)
                return None
            except SlackApiError as e:
                if not where.response_url:
                    raise
                log.info("chat.postEphemeral failed (%s); using the response_url", e.response.get("error"))
            WebhookClient(where.response_url).send(response_type="ephemeral", replace_original=False, **message)
            return None
        try:
            resp = client.chat_postMessage(channel=where.channel, thread_ts=where.thread_ts, unfurl_links=False,
                                           unfurl_media=False, **message)
            return {"channel": resp.get("channel") or where.channel, "ts": resp.get("ts")}
        except SlackApiError as e:
            if where.response_url and e.response.get("error") in ("channel_not_found", "not_in_channel"):
                WebhookClient(where.response_url).send(response_type="in_channel", **message)
                return None
            raise
