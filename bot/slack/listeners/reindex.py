"""Admins keep the record current from Slack.

- `/reindex`: re-syncs the transcripts folder into the live index; progress in ONE message that
  is updated (chat.update), then a summary (added, updated, removed, skipped and why).
- A transcript file shared with the bot in a DM (`file_shared` event, or a `message` with files):
  fetched with files.info and the bot token, checked (type, size, decodable, has transcript text)
  before anything is written, saved under a safe name inside the transcripts folder, indexed, and
  answered with what was found (documents, language, speaker, date).

Only the Slack user ids in ONRECORD_ADMINS may do either; others get a polite refusal in their
language and nothing changes. The transcripts folder is ONRECORD_TRANSCRIPTS, else the folder of
`onrecord serve --watch`. Index updates go through one `index.watch.Watcher` per bot (shared with the
folder watcher when there is one), so they never overlap and wait for another indexer's lock.
"""
from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from pathlib import Path

from slack_bolt import App, BoltResponse

from bot.messages import t
from bot.slack.blocks import escape, render_text
from bot.slack.runtime import OnRecordBot, Where
from bot.uploads import Refused, check_transcript, download, safe_name, save_into

log = logging.getLogger("onrecord.slack")

PROGRESS_EVERY = 1.5  # seconds between progress updates of the /reindex message
MAX_LINES = 10  # skipped files listed in a summary
_indexer_lock = threading.Lock()


def indexer_for(bot: OnRecordBot):
    """The bot's one index updater (created on first use, sharing the engine's model and index)."""
    with _indexer_lock:
        ix = getattr(bot, "indexer", None)
        if ix is None:
            from index.watch import Watcher

            engine = bot.answerer
            if not hasattr(engine, "settings") or not hasattr(engine, "embedder"):
                raise RuntimeError("this answerer has no index to update")
            folder = bot.settings.transcripts
            ix = Watcher.for_engine([Path(folder)] if folder else [], engine, wait=600)
            bot.indexer = ix  # type: ignore[attr-defined]
        return ix


def transcripts_folder(bot: OnRecordBot) -> Path | None:
    if bot.settings.transcripts:
        return Path(bot.settings.transcripts)
    ix = getattr(bot, "indexer", None)
    return ix.roots[0] if ix is not None and ix.roots else None


def is_admin(bot: OnRecordBot, user: str | None) -> bool:
    return bool(user) and user in set(bot.settings.admins)


def reindex_text(summary) -> str:
    """The /reindex summary: counts, then files skipped or kept, and why."""
    lines = [escape(summary.line())]
    extra = summary.skipped_lines()
    lines += [f"• {escape(line)}" for line in extra[:MAX_LINES]]
    if len(extra) > MAX_LINES:
        lines.append(f"• … {len(extra) - MAX_LINES} more")
    return "\n".join(lines)[:2800]


def upload_text(docs, summary, path: Path) -> str:
    """What a shared transcript added: its documents with language, speaker and date."""
    n = len(docs)
    parts = [f"{n} document{'s' if n != 1 else ''}"]
    for d in docs[:MAX_LINES]:
        bits = [d.language or "?", d.speaker or "speaker unknown", d.date or "date unknown"]
        title = f" — {d.title[:80]}" if d.title else ""
        parts.append(f"• {escape(' · '.join(bits))}{escape(title)}")
    if summary.duplicates:
        parts.append("• same content as a transcript already indexed: not indexed twice")
    elif summary.kept_previous or summary.skipped:
        parts.extend(f"• {escape(line)}" for line in summary.skipped_lines()[:MAX_LINES])
    else:
        parts.append(f"• {summary.passages} passages indexed (index: {summary.total_documents} documents)")
    return "\n".join(parts)[:2800]


def _count_files(folder: Path) -> int:
    from index.indexer import discover

    return sum(1 for _ in discover([folder]))


def register(app: App, bot: OnRecordBot) -> None:
    # ---- /reindex ---------------------------------------------------------------------------------
    @app.command("/reindex")
    def on_reindex(ack, command, client):
        ack()
        if not bot.dedupe.first(("trigger", command.get("trigger_id"))):
            return
        user, channel = command.get("user_id"), command["channel_id"]
        private = Where(channel=channel, user=user, ephemeral=True, response_url=command.get("response_url"))

        def run():
            lang = bot.lang_hint(client, user)
            if not is_admin(bot, user):
                bot.post(client, private, render_text(t(lang, "reindex_denied")))
                return
            folder = transcripts_folder(bot)
            if folder is None or not folder.is_dir():
                bot.post(client, private, render_text(t(lang, "reindex_no_folder")))
                return
            started = t(lang, "reindex_started")
            ts = None
            try:
                ts = client.chat_postMessage(channel=channel, **render_text(started))["ts"]
            except Exception as e:  # not in the channel: progress privately, summary at the end
                log.info("cannot post the /reindex progress message in %s: %s", channel, e)
                bot.post(client, private, render_text(started))

            def update(text: str) -> None:
                if ts is None:
                    return
                try:
                    client.chat_update(channel=channel, ts=ts, **render_text(text))
                except Exception as e:
                    log.info("chat.update failed: %s", e)

            total = _count_files(folder)
            state = {"n": 0, "at": time.monotonic()}

            def on_file(_source: str) -> None:
                state["n"] += 1
                now = time.monotonic()
                if now - state["at"] >= PROGRESS_EVERY:
                    state["at"] = now
                    update(f"{started} {state['n']}/{total}")

            try:
                summary = indexer_for(bot).sync([folder], prune=True, on_file=on_file)
                final = t(lang, "reindex_done", summary=reindex_text(summary))
            except Exception as e:
                log.exception("/reindex failed")
                final = t(lang, "error") + f" ({escape(type(e).__name__)}: {escape(str(e))[:300]})"
            if ts is not None:
                update(final)
            else:
                bot.post(client, private, render_text(final))

        bot.submit(run)

    # ---- transcripts shared in a DM -----------------------------------------------------------------
    def handle_file(client, user: str | None, channel: str, file_id: str, bot_user_id: str | None) -> None:
        if not file_id or not user or user == bot_user_id:
            return
        if not bot.dedupe.first(("file", file_id)):
            return  # file_shared and the message with the file arrive both: one answer
        where = Where(channel=channel, user=user)

        def run():
            lang = bot.lang_hint(client, user)
            if not is_admin(bot, user):
                bot.post(client, where, render_text(t(lang, "upload_denied")))
                return
            try:
                folder = transcripts_folder(bot)
                if folder is None or not folder.is_dir():
                    raise Refused("no transcripts folder is configured (ONRECORD_TRANSCRIPTS)")
                info = client.files_info(file=file_id).get("file") or {}
                name = safe_name(info.get("name") or info.get("title"))
                limit = int(bot.settings.upload_max_mb * 2**20)
                size = int(info.get("size") or 0)
                if size > limit:
                    raise Refused(f"the file is too large ({size / 2**20:.1f} MB; the limit is "
                                  f"{bot.settings.upload_max_mb:g} MB)")
                api_host = urllib.parse.urlparse(bot.settings.api_url).hostname or ""
                data = download(info.get("url_private_download") or info.get("url_private") or "",
                                client.token, limit, allowed_hosts={api_host})
                indexer = indexer_for(bot)
                docs = check_transcript(data, name, languages=indexer.settings.languages,
                                        max_bytes=limit)
                path = save_into(folder, name, data)
                log.info("transcript %s from %s saved as %s", file_id, user, path)
                summary = indexer.sync([path], prune=False)
                message = t(lang, "upload_done", name=escape(path.name), summary=upload_text(docs, summary, path))
            except Refused as r:
                log.info("transcript %s from %s refused: %s", file_id, user, r.reason)
                message = t(lang, "upload_refused", reason=escape(r.reason))
            except Exception as e:
                log.exception("adding transcript %s failed", file_id)
                message = t(lang, "error") + f" ({escape(type(e).__name__)})"
            bot.post(client, where, render_text(message))

        bot.submit(run)

    @app.event("file_shared")
    def on_file_shared(event, client, context):
        channel = event.get("channel_id") or ""
        if not channel.startswith("D"):
            return  # only files shared with the bot in a direct message
        file_id = event.get("file_id") or (event.get("file") or {}).get("id")
        handle_file(client, event.get("user_id"), channel, file_id, context.bot_user_id)

    def dm_with_files(body, context, client, next):  # noqa: A002 - Bolt's name
        """A DM carrying files (subtype file_share) is taken here: the generic message listener
        ignores messages with a subtype, and Bolt gives an event to the first matching listener."""
        event = body.get("event") or {}
        if (body.get("type") == "event_callback" and event.get("type") == "message"
                and event.get("channel_type") == "im" and event.get("files")
                and event.get("subtype") in (None, "file_share") and not event.get("bot_id")):
            for f in event["files"]:
                handle_file(client, event.get("user"), event.get("channel"), f.get("id"), context.bot_user_id)
            return BoltResponse(status=200, body="")
        return next()

    app.use(dm_with_files)
