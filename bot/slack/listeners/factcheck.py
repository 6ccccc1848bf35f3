"""/check "claimed quote" (a verdict, privately to the user), the Verify button under quotes (the
quote's reference checked against the index and the file as they are now) and, under a verified quote
of a statement in several languages, the button that shows its versions side by side. The work is bot/factcheck's;
this module only acknowledges, hands it to a worker and posts the result."""
from __future__ import annotations

import logging

from slack_bolt import App

from bot.factcheck.refs import BadRef
from bot.factcheck.render import verdict_slack, verify_bad, verify_slack, versions_slack
from bot.factcheck.version_diff import compare_ref
from bot.factcheck.verdict import check
from bot.factcheck.verify import verify
from bot.messages import t
from bot.render.slack import escape, notice
from bot.slack.buttons import ACTION_VERIFY, ACTION_VERSIONS
from bot.slack.runtime import OnRecordBot, Where

log = logging.getLogger("onrecord.slack")


def register(app: App, bot: OnRecordBot) -> None:
    def run_check(client, where: Where, text: str) -> None:
        lang = bot.lang_hint(client, where.user)
        if not text:
            bot.post(client, where, notice(escape(t(lang, "check_empty"))))
            return
        try:
            verdict = bot.engine_pool.submit(check, bot.answerer, text, None, lang).result()
            message = verdict_slack(verdict)
        except Exception:
            log.exception("check failed: %r", text[:200])
            message = notice(t(lang, "error"))
        bot.post(client, where, message)

    @app.command("/check")
    def on_check_command(ack, command, client):
        ack()  # within Slack's 3 s, before any work
        if not bot.dedupe.first(("trigger", command.get("trigger_id"))):
            return
        where = Where(channel=command["channel_id"], user=command.get("user_id"), ephemeral=True,
                      response_url=command.get("response_url"))
        bot.submit(run_check, client, where, (command.get("text") or "").strip())

    def run_verify(client, where: Where, value: str) -> None:
        lang = bot.lang_hint(client, where.user) or "en"
        try:
            result = bot.engine_pool.submit(verify, bot.answerer, value).result()
            message = verify_slack(result, lang, versions=result.has_versions)
        except BadRef as e:
            log.info("ignored a Verify button with a bad reference from %s: %s", where.user, e)
            message = notice(escape(verify_bad(str(e), lang)))
        except Exception:
            log.exception("verify failed: %r", value[:200])
            message = notice(t(lang, "error"))
        bot.post(client, where, message)

    def run_versions(client, where: Where, value: str) -> None:
        lang = bot.lang_hint(client, where.user) or "en"
        try:
            comparisons, _ = bot.engine_pool.submit(compare_ref, bot.answerer, value).result()
            message = versions_slack(comparisons, lang)
        except BadRef as e:
            log.info("ignored a Versions button with a bad reference from %s: %s", where.user, e)
            message = notice(escape(verify_bad(str(e), lang)))
        except Exception:
            log.exception("versions failed: %r", value[:200])
            message = notice(t(lang, "error"))
        bot.post(client, where, message)

    def pressed(run):
        def listener(ack, body, action, client):
            ack()
            if not bot.dedupe.first(("trigger", body.get("trigger_id"))):
                return
            container = body.get("container") or {}
            channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
            where = Where(channel=channel, user=(body.get("user") or {}).get("id"), ephemeral=True,
                          thread_ts=container.get("thread_ts"), response_url=body.get("response_url"))
            bot.submit(run, client, where, str(action.get("value") or ""))

        listener.__name__ = f"on_{run.__name__}"
        return listener

    app.action(ACTION_VERIFY)(pressed(run_verify))
    app.action(ACTION_VERSIONS)(pressed(run_versions))
