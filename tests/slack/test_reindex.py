"""Slack `/reindex`, transcripts shared with the bot, and `serve(watch=...)`: signed requests to the
real serve() over HTTP, the real engine over a private copy of the small index, the local Web API
stand-in serving the shared files."""
from __future__ import annotations

import html
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from standin import SlackStandIn, command_form, event_body, message, post

from bot.answer import Engine
from bot.messages import t
from bot.slack.serve import serve
from index.settings import SlackSettings
from bot.uploads import safe_name, save_into
from index.errors import UploadRefused
from index.store import current_name, open_current
from index.updates import IndexUpdates

SECRET = "test-signing-secret"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
ADMIN = "UADMIN"
IN_FOLDER = ["mfa-telegram-en/2026-01-27_msg28126.txt", "europarl-en/ep-2006-11-30-ch008-21.txt"]
UPLOAD = "mfa-telegram-en/2026-02-04_msg28218.txt"


class FileStandIn(SlackStandIn):
    """The shared Web API stand-in, with files whose files.info may declare another size."""

    def __post_init__(self):
        super().__post_init__()
        self.declared: dict[str, int] = {}

    def respond(self, method, args, token):
        body = super().respond(method, args, token)
        if method == "files.info" and body.get("ok") and args.get("file") in self.declared:
            body["file"]["size"] = self.declared[args["file"]]
        return body


@pytest.fixture()
def standin():
    s = FileStandIn(locales={"USV": "sv-SE", "UEN": "en-US", "UDE": "de-DE"})
    yield s
    s.close()


@pytest.fixture()
def folder(tmp_path, corpus) -> Path:
    root = tmp_path / "transcripts"
    root.mkdir()
    for rel in IN_FOLDER:
        shutil.copyfile(corpus / rel, root / Path(rel).name)
    return root


@pytest.fixture()
def settings(standin, tmp_path, folder):
    return SlackSettings(bot_token="xoxb-test", app_token="xapp-test", signing_secret=SECRET,
                         api_url=standin.api_url, feedback_db=tmp_path / "feedback.sqlite3", admins=[ADMIN],
                         transcripts=folder, upload_max_mb=0.5)


@pytest.fixture()
def answerer(index_copy, embedder, settings_for):
    """A real engine over a private copy of the small index (these tests change it)."""
    eng = Engine.open(settings=settings_for(index_copy), embedder=embedder)
    yield eng
    eng.close()


def send(bot, event) -> None:
    status, text, _ = post(bot.url, json.dumps(event_body(event)), JSON, SECRET)
    assert status == 200, text


def slash(bot, command: str, user: str, channel: str = "C0001") -> None:
    status, text, _ = post(bot.url, command_form(command, "", user=user, channel=channel), FORM, SECRET)
    assert status == 200, text


def file_shared(file_id: str, user: str, channel: str = "D0001") -> dict:
    return {"type": "file_shared", "file_id": file_id, "user_id": user, "file": {"id": file_id},
            "channel_id": channel, "event_ts": f"{time.time():.6f}"}


def text_of(call) -> str:
    return html.unescape(call.args.get("text") or "")


def sources(index_dir: Path) -> set[str]:
    gen = open_current(index_dir)
    try:
        return {r[0] for r in gen.db.execute("SELECT source FROM files")}
    finally:
        gen.close()


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# ---- /reindex -------------------------------------------------------------------------------------

def test_reindex_by_an_admin_tells_them_privately_then_summarises(http_bot, standin, answerer, folder):
    before = sources(answerer.index_dir)
    slash(http_bot, "/reindex", ADMIN)
    done = t("en", "reindex_done", summary="")
    standin.wait_for(lambda: any(text_of(c).startswith(done) for c in standin.of("chat.postEphemeral")), 120)
    assert http_bot.app.onrecord.idle(20)
    started, final = standin.of("chat.postEphemeral")  # privately, to the admin: started, then the summary
    assert text_of(started) == t("en", "reindex_started")
    assert {started.args["user"], final.args["user"]} == {ADMIN} and started.args["channel"] == "C0001"
    assert standin.of("chat.postMessage") == [] and standin.of("chat.update") == []  # nothing in the channel
    summary = text_of(final)
    assert "2 added" in summary and "removed" in summary and "skipped" in summary
    after = sources(answerer.index_dir)
    assert {str(folder / Path(rel).name) for rel in IN_FOLDER} <= after and before <= after
    # the running engine answers from it at once
    new = folder / Path(IN_FOLDER[0]).name
    line = max(new.read_text(encoding="utf-8").splitlines(), key=len).strip()[:120]
    assert any(q.source == str(new) for q in answerer.quote(line).quotes)


def test_reindex_by_someone_else_is_refused_in_their_language(http_bot, standin, answerer):
    generation = current_name(answerer.index_dir)
    slash(http_bot, "/reindex", "USV")
    [refusal] = standin.wait_for(lambda: standin.of("chat.postEphemeral"))
    assert text_of(refusal) == t("sv", "reindex_denied") != t("en", "reindex_denied")
    assert refusal.args["user"] == "USV"
    assert http_bot.app.onrecord.idle(20)
    assert standin.of("chat.update") == [] and standin.of("chat.postMessage") == []
    assert current_name(answerer.index_dir) == generation


# ---- files shared with the bot -------------------------------------------------------------------

def test_a_transcript_shared_by_an_admin_is_saved_indexed_and_summarised(http_bot, standin, answerer, folder, corpus):
    data = (corpus / UPLOAD).read_bytes()
    standin.files["F100"] = ("Stepanov: comment (Feb 4).txt", data)
    send(http_bot, file_shared("F100", ADMIN))
    # Slack also delivers the DM message carrying the file: answered once
    send(http_bot, message("", user=ADMIN, subtype="file_share", files=[{"id": "F100"}]))
    [reply] = standin.wait_for(lambda: standin.of("chat.postMessage"), 120)
    assert http_bot.app.onrecord.idle(20)
    time.sleep(0.3)
    assert len(standin.of("chat.postMessage")) == 1
    saved = folder / "Stepanov_ comment (Feb 4).txt"
    assert saved.read_bytes() == data
    body = text_of(reply)
    assert body.startswith(t("en", "upload_done", name=saved.name, summary="")[:10])
    assert "1 document" in body and "en · Levan Dzhagaryan · " in body  # language and speaker found
    assert "passages indexed" in body
    assert [c.token for c in standin.of("files.download")] == ["xoxb-test"]  # fetched with the bot token
    assert str(saved) in sources(answerer.index_dir)
    line = max(saved.read_text(encoding="utf-8").splitlines(), key=len).strip()[:120]
    assert any(q.source == str(saved) for q in answerer.quote(line).quotes)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_a_transcript_in_a_dm_message_with_files_is_taken_too(http_bot, standin, answerer, folder, corpus):
    standin.files["F200"] = ("seed.txt", (corpus / "seed/000_7014e17accf97c28.txt").read_bytes())
    send(http_bot, message("here is one", user=ADMIN, subtype="file_share", files=[{"id": "F200"}]))
    [reply] = standin.wait_for(lambda: standin.of("chat.postMessage"), 120)
    body = text_of(reply)
    assert "2 documents" in body and "en · Sergey Lavrov" in body and "sv · Sergey Lavrov" in body
    assert "2024-12-25" in body
    assert (folder / "seed.txt").is_file()


def test_refused_transcripts_write_nothing(http_bot, standin, answerer, folder, corpus, tmp_path):
    good = (corpus / UPLOAD).read_bytes()
    before_tree, before_gen = tree(tmp_path), current_name(answerer.index_dir)
    cases = {  # file id -> (user, name, data, declared size, what the refusal says)
        "F1": ("USV", "fine.txt", good, None, t("sv", "upload_denied")),
        "F2": (ADMIN, "../../etc/passwd.txt", good, None, "path"),
        "F3": (ADMIN, "/abs/x.txt", good, None, "path"),
        "F4": (ADMIN, "evil\x00.txt", good, None, "NUL"),
        "F5": (ADMIN, "a" * 300 + ".txt", good, None, "too long"),
        "F6": (ADMIN, "photo.txt", bytes(range(256)) * 64, None, "binary"),
        "F7": (ADMIN, "huge.txt", b"x" * (3 * 2**20), 2**30, "too large"),  # declared 1 GB: never fetched
        "F8": (ADMIN, "liar.txt", b"word " * 2**20, 1000, "too large"),  # declares 1 kB, is 5 MB
        "F9": (ADMIN, "empty-ish.txt", b" \n\n \t\n", None, "no text"),
        "F10": (ADMIN, ".hidden.txt", good, None, "hidden"),
        "F11": (ADMIN, "script.sh", good, None, "not a transcript type"),
    }
    for i, (fid, (user, name, data, declared, why)) in enumerate(cases.items(), 1):
        standin.files[fid] = (name, data)
        if declared is not None:
            standin.declared[fid] = declared
        send(http_bot, file_shared(fid, user, channel=f"D{i:04d}"))
        [reply] = standin.wait_for(lambda: [c for c in standin.of("chat.postMessage") if c.args["channel"] == f"D{i:04d}"],
                                   60)
        assert why in text_of(reply), (fid, text_of(reply))
        if user == ADMIN:
            assert text_of(reply).startswith(t("en", "upload_refused", reason="")), fid
    assert http_bot.app.onrecord.idle(20)
    infos = {c.args["file"] for c in standin.of("files.info")}
    assert "F1" not in infos  # a non-admin's file is not even looked at
    downloads = {c.args["path"].rsplit("/", 1)[1] for c in standin.of("files.download")}
    assert "F7" not in downloads and not downloads & {"F1", "F2", "F3", "F4", "F5", "F10", "F11"}
    assert tree(tmp_path) == before_tree  # nothing written, inside the folder or outside it
    assert current_name(answerer.index_dir) == before_gen
    assert not Path("/abs/x.txt").exists()


def test_safe_name_and_save_into_stay_inside_the_folder(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    for bad in ["../x.txt", "..", "/etc/passwd.txt", "a/b.txt", "a\\b.txt", "x\x00.txt", ".x.txt", "x" * 200 + ".txt",
                "", "   ", "noext", "manifest.jsonl"]:
        with pytest.raises(UploadRefused):
            safe_name(bad)
    assert safe_name("  Interview: Lavrov?.txt ") == "Interview_ Lavrov_.txt"
    first = save_into(folder, "a.txt", b"one")
    second = save_into(folder, "a.txt", b"two")  # never over an existing file
    assert (first.name, second.name) == ("a.txt", "a-2.txt") and first.read_bytes() == b"one"
    os.symlink(tmp_path / "outside.txt", folder / "link.txt")  # a planted symlink is not followed
    third = save_into(folder, "link.txt", b"three")
    assert third.name == "link-2.txt" and not (tmp_path / "outside.txt").exists()
    assert {p.name for p in folder.iterdir()} == {"a.txt", "a-2.txt", "link.txt", "link-2.txt"}


# ---- serve(watch=...) ----------------------------------------------------------------------------

def test_serve_with_a_watched_folder_answers_from_new_files(standin, settings, answerer, folder, corpus):
    ready, box = threading.Event(), {}

    def on_ready(runner):
        box["runner"] = runner
        ready.set()

    updates = IndexUpdates.sharing(answerer.settings, answerer.embedder, folder=folder)
    th = threading.Thread(target=lambda: serve(http=True, port=0, answerer=answerer, settings=settings,
                                               watch=folder, updates=updates, on_ready=on_ready), daemon=True)
    th.start()
    assert ready.wait(30)
    runner = box["runner"]
    try:
        assert runner.app.onrecord.updates is updates
        watcher = updates.watcher
        assert watcher.ready.wait(120)  # the initial sync took the folder's files in
        assert {str(folder / Path(rel).name) for rel in IN_FOLDER} <= sources(answerer.index_dir)
        new = folder / "arrived.txt"
        shutil.copyfile(corpus / UPLOAD, new)
        line = max(new.read_text(encoding="utf-8").splitlines(), key=len).strip()[:120]
        end = time.monotonic() + 120
        while not any(q.source == str(new) for q in answerer.quote(line).quotes):
            assert time.monotonic() < end, "the new file was never answered from"
            time.sleep(0.5)
    finally:
        runner.stop_event.set()
        th.join(30)
    assert watcher._thread is not None and not watcher._thread.is_alive()  # stopped with the bot


def test_reindex_without_a_transcripts_folder_says_how_to_set_one(http_bot, standin, answerer, folder):
    generation = current_name(answerer.index_dir)
    shutil.rmtree(folder)
    slash(http_bot, "/reindex", ADMIN)
    [reply] = standin.wait_for(lambda: standin.of("chat.postEphemeral"))
    assert text_of(reply) == t("en", "reindex_no_folder") and "ONRECORD_TRANSCRIPTS" in text_of(reply)
    assert http_bot.app.onrecord.idle(20)
    assert standin.of("chat.postMessage") == [] and current_name(answerer.index_dir) == generation
