"""Admins keep the record current from Slack, through the index-update service serve() created
(index/updates.py); these listeners only call it.

- `/reindex`: re-syncs the transcripts folder into the live index; the admin is told privately
  (ephemeral) that it started, then what changed: counts, and the files skipped or kept and why, by
  file name (never a server path, never an exception's text).
- A transcript file shared with the bot in a DM (`file_shared` event, or a `message` with files):
  fetched from Slack with the bot token (bot/uploads.py: https on Slack's hosts only, redirects
  checked), checked (type, size, decodable, has transcript text) before anything is written, saved
  under a safe name inside the transcripts folder, indexed, and answered with what was found.

Only the Slack user ids in ONRECORD_ADMINS may do either; others get a polite refusal in their
language and nothing changes. The transcripts folder is ONRECORD_TRANSCRIPTS, else the folder of
`onrecord serve --watch`.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from slack_bolt import App, BoltResponse

from bot.messages import t
from bot.render.slack import escape, notice
from bot.render.text import safe_text
from bot.slack.runtime import OnRecordBot, Where
from bot.uploads import check_transcript, download, origin, safe_name, save_into
from index.errors import UploadRefused

log = logging.getLogger("onrecord.slack")

MAX_LINES = 10  # skipped files listed in a summary


def is_admin(bot: OnRecordBot, user: str | None) -> bool:
    return bool(user) and user in set(bot.settings.admins)


def transcripts_folder(bot: OnRecordBot) -> Path | None:
    """The folder /reindex syncs and shared transcripts are saved into, when there is one to update."""
    return bot.updates.folder if bot.updates is not None else None


def shown_name(source: str, folder: Path | None) -> str:
    """A source as people see it: its path inside the transcripts folder, else its file name."""
    path = Path(source)
    if folder is not None:
        try:
            return safe_text(str(path.relative_to(folder)))
        except ValueError:
            pass
    return safe_text(path.name)


def _reason(reason: str, folder: Path | None) -> str:
    if folder is not None:
        reason = reason.replace(str(folder) + os.sep, "").replace(str(folder), "")
    return safe_text(reason)


def reindex_text(summary, folder: Path | None) -> str:
    """The /reindex summary: counts, then the files skipped or kept, and why (escaped, by name)."""
    lines = [escape(summary.line())]
    extra = [f"skipped {shown_name(s, folder)}: {_reason(r, folder)}" for s, r in summary.skipped]
    extra += [f"kept the previous version of {shown_name(s, folder)}" for s in summary.kept_previous]
    lines += [f"• {escape(line)}" for line in extra[:MAX_LINES]]
    if len(extra) > MAX_LINES:
        lines.append(f"• … {len(extra) - MAX_LINES} more")
    return "\n".join(lines)[:2800]


def upload_text(docs, summary, folder: Path | None) -> str:
    """What a shared transcript added: its documents with language, speaker and date."""
    n = len(docs)
    parts = [f"{n} document{'s' if n != 1 else ''}"]
    for d in docs[:MAX_LINES]:
        bits = [d.language or "?", d.speaker or "speaker unknown", d.date or "date unknown"]
        title = f" — {d.title[:80]}" if d.title else ""
        parts.append(f"• {escape(safe_text(' · '.join(bits) + title))}")
    if summary.duplicates:
        parts.append("• same content as a transcript already indexed: not indexed twice")
    elif summary.kept_previous or summary.skipped:
        parts.extend(reindex_text(summary, folder).split("\n")[1:])
    else:
        parts.append(f"• {summary.passages} passages indexed (index: {summary.total_documents} documents)")
    return "\n".join(parts)[:2800]


def register(app: App, bot: OnRecordBot) -> None:
    # ---- /reindex ---------------------------------------------------------------------------------
    @app.command("/reindex")
    def on_reindex(ack, command, client):
        ack()
        if not bot.dedupe.first(("trigger", command.get("trigger_id"))):
            return
        user = command.get("user_id")
        private = Where(channel=command["channel_id"], user=user, ephemeral=True,
                        response_url=command.get("response_url"))

        def run():
            lang = bot.lang_hint(client, user)
            if not is_admin(bot, user):
                bot.post(client, private, notice(t(lang, "reindex_denied")))
                return
            folder = transcripts_folder(bot)
            if folder is None or not folder.is_dir():
                bot.post(client, private, notice(t(lang, "reindex_no_folder")))
                return
            bot.post(client, private, notice(t(lang, "reindex_started")))
            try:
                summary = bot.updates.sync([folder], prune=True)
                final = t(lang, "reindex_done", summary=reindex_text(summary, folder))
            except Exception:
                log.exception("/reindex failed")
                final = t(lang, "error")
            bot.post(client, private, notice(final))

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
                bot.post(client, where, notice(t(lang, "upload_denied")))
                return
            try:
                folder = transcripts_folder(bot)
                if folder is None or not folder.is_dir():
                    raise UploadRefused("no transcripts folder is configured (ONRECORD_TRANSCRIPTS)")
                info = client.files_info(file=file_id).get("file") or {}
                name = safe_name(info.get("name") or info.get("title"))
                limit = int(bot.settings.upload_max_mb * 2**20)
                size = info.get("size") if isinstance(info.get("size"), int) else 0
                if size > limit:
                    raise UploadRefused(f"the file is too large ({size / 2**20:.1f} MB; the limit is "
                                  f"{bot.settings.upload_max_mb:g} MB)")
                data = download(info.get("url_private_download") or info.get("url_private") or "",
                                client.token, limit, trusted={origin(bot.settings.api_url)})
                docs = check_transcript(data, name, languages=bot.updates.settings.languages, max_bytes=limit)
                path = save_into(folder, name, data)
                log.info("transcript %s from %s saved as %s", file_id, user, path)
                summary = bot.updates.add_file(path)
                message = t(lang, "upload_done", name=escape(path.name), summary=upload_text(docs, summary, folder))
            except UploadRefused as r:
                log.info("transcript %s from %s refused: %s", file_id, user, r.reason)
                message = t(lang, "upload_refused", reason=escape(safe_text(r.reason)))
            except Exception:
                log.exception("adding transcript %s failed", file_id)
                message = t(lang, "error")
            bot.post(client, where, notice(message))

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
