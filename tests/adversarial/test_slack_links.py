"""Issue 12, row 11: a transcript's front-matter `url` is a link only when it is http(s), and then it
says which host it leads to; any other scheme is not shown. Against the real serve() over HTTP, the real
engine over a private index holding such transcripts, and the local Web API stand-in."""
from __future__ import annotations

import html
import json

import pytest

import slack_path  # noqa: F401  (tests/slack on sys.path)
from slack_fixtures import http_bot, settings, standin, updates  # noqa: F401  (pytest fixtures)
from standin import command_form, post

from bot.answer import Engine
from index.indexer import run_index

SECRET = "test-signing-secret"
SENTENCES = {
    "https://evil.example/login?next=%2F": "Ambassador Quill said the lighthouse treaty will be signed on a windy Tuesday.",
    "javascript:alert(document.cookie)": "Minister Pelham said the orchard tariffs will be lifted before the harvest fair.",
    "file:///etc/passwd": "Senator Varga said the canal bridge repairs will finish before the first frost.",
}


@pytest.fixture()
def answerer(index_copy, embedder, settings_for, tmp_path):
    folder = tmp_path / "linked"
    folder.mkdir()
    for i, (url, sentence) in enumerate(SENTENCES.items()):
        (folder / f"linked-{i}.md").write_text(
            f"---\ntitle: Statement {i}\nspeaker: Speaker {i}\ndate: 2025-01-0{i + 1}\nlanguage: en\nurl: '{url}'\n---\n"
            f"{sentence}\n", encoding="utf-8")
    s = settings_for(index_copy)
    run_index([folder], s, embedder=embedder, progress=False)
    eng = Engine.open(settings=s, embedder=embedder)
    yield eng
    eng.close()


@pytest.mark.parametrize("url", list(SENTENCES))
def test_front_matter_links(http_bot, standin, url):
    form = command_form("/quote", SENTENCES[url], user="UEN", channel="C0001")
    status, text, _ = post(http_bot.url, form, "application/x-www-form-urlencoded", SECRET)
    assert status == 200, text
    [reply] = standin.wait_for(lambda: standin.replies(), 60)
    blocks = json.dumps(reply.args["blocks"], ensure_ascii=False)
    assert html.escape(SENTENCES[url], quote=False) in blocks  # the quote is there
    shown = blocks + reply.args["text"]
    if url.startswith("https://"):
        assert "<https://evil.example/login?next=%2F|evil.example>" in blocks  # the label is the host
        assert "|link>" not in shown
    else:
        scheme = url.split(":")[0]
        assert f"{scheme}:" not in shown and "/etc/passwd" not in shown and "alert(" not in shown
