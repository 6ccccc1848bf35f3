"""Unit tests: Block Kit rendering (escaping, Slack's limits), de-duplication, settings, serve --check."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from bot.answer.types import Answer, Quote
from bot.answer.compose import compose
from index.store.feedback import FeedbackStore
from bot.messages import t
from bot.render.slack import MAX_BLOCKS, SECTION_LIMIT, escape, render_answer, render_versions
from bot.slack.buttons import ACTION_MORE, ACTION_SHARE, VALUE_LIMIT, ButtonState
from bot.slack.dedupe import Dedupe
from bot.slack.runtime import locale_to_lang, strip_mentions
from bot.slack.serve import serve
from index.settings import SlackSettings
from index.errors import MissingSettings

HOSTILE = "Ask <!channel> and <@U12345> & <!here>: see <https://evil.example|your bank> > now"


def slice_quote(path: Path, needle: str, **kw) -> Quote:
    text = path.read_text(encoding="utf-8")
    start = text.index(needle)
    return Quote(text=text[start:start + len(needle)], language=kw.pop("language", "en"), source=str(path),
                 title=kw.pop("title", "Hostile <b> & title"), speaker=kw.pop("speaker", "<@U999>"),
                 date="2024-12-25", url=kw.pop("url", None), location="¶ 1", start=start, end=start + len(needle),
                 score=1.0, **kw)


@pytest.fixture()
def hostile_file(tmp_path) -> Path:
    p = tmp_path / "hostile.txt"
    p.write_text("Title line\n" + HOSTILE + "\nAnother line.\n", encoding="utf-8")
    return p


def all_text(msg: dict) -> str:
    return json.dumps(msg, ensure_ascii=False)


def test_quoted_text_cannot_ping_mention_or_link(hostile_file):
    q = slice_quote(hostile_file, HOSTILE)
    assert open(q.source, encoding="utf-8").read()[q.start:q.end] == q.text
    msg = render_answer(compose("who?", "en", [q], kind="ask"), answer_id="ab12")
    dumped = all_text(msg)
    for bad in ("<!channel>", "<@U12345>", "<!here>", "<https://evil", "<@U999>", "<b>"):
        assert bad not in dumped
    quote_block = msg["blocks"][1]["text"]["text"]
    assert quote_block == "> " + escape(HOSTILE)
    assert "&lt;!channel&gt;" in quote_block and "&lt;@U12345&gt;" in quote_block and "&amp;" in quote_block
    assert "&lt;!channel&gt;" in msg["text"] and "<!channel>" not in msg["text"]
    context = msg["blocks"][2]["elements"][0]["text"]
    assert "&lt;@U999&gt;" in context and "Hostile &lt;b&gt; &amp; title" in context


def test_escape_order():
    assert escape("a & <b> &amp;") == "a &amp; &lt;b&gt; &amp;amp;"


def test_citation_parts_and_safe_links(hostile_file):
    good = slice_quote(hostile_file, "Another line.", speaker="Sergey Lavrov", title="Interview",
                       url="https://t.me/MFARussia/1?a=1&b=2")
    bad = slice_quote(hostile_file, "Title line", speaker="X", url="javascript:alert(1)|<!channel>")
    msg = render_answer(compose("q", "sv", [good, bad], kind="ask"), answer_id="ab12")
    contexts = [b["elements"][0]["text"] for b in msg["blocks"] if b["type"] == "context"]
    assert contexts[0] == ("Sergey Lavrov · _Interview_ · 2024-12-25 · <https://t.me/MFARussia/1?a=1&amp;b=2|t.me> · "
                           "¶ 1 · " + t("sv", "original_in", language="engelska"))
    assert "javascript" not in contexts[1] and "<!channel>" not in all_text(msg)


def test_citation_says_a_translated_speech_was_spoken_in_another_language(hostile_file):
    q = slice_quote(hostile_file, "Another line.", speaker="Kyösti Virrankoski", title="Milk quotas",
                    spoken_language="fi", speaker_role="ALDE <group>")
    msg = render_answer(compose("q", "de", [q], kind="ask"), answer_id="ab12")
    context = [b["elements"][0]["text"] for b in msg["blocks"] if b["type"] == "context"][0]
    assert context.endswith("¶ 1 · gesprochen auf Finnisch; zitiert aus der Übersetzung des Protokolls (Englisch)")
    assert "Original auf" not in context  # one label says both languages
    assert context.startswith("Kyösti Virrankoski, ALDE &lt;group&gt; · _Milk quotas_")
    assert q.to_json()["spoken_language"] == "fi"
    assert "spoken_language" not in slice_quote(hostile_file, "Another line.").to_json()


def test_long_quote_split_within_section_limit(tmp_path):
    text = " ".join(f"word{i} <@U1>" for i in range(3000))
    p = tmp_path / "long.txt"
    p.write_text(text, encoding="utf-8")
    q = slice_quote(p, text)
    msg = render_answer(compose("q", "en", [q], kind="ask"), answer_id="ab12")
    sections = [b["text"]["text"] for b in msg["blocks"] if b["type"] == "section"][1:]
    assert len(sections) > 1
    assert all(len(s) <= SECTION_LIMIT for s in sections)
    assert all(s.startswith("> ") for s in sections)
    joined = " ".join(s[2:] for s in sections)
    assert joined.split() == escape(text).split()  # nothing lost
    assert len(msg["blocks"]) <= MAX_BLOCKS
    assert len(msg["text"]) <= 3000


def test_many_quotes_trimmed_with_more_button(tmp_path):
    lines = [f"Sentence number {i} said on record." for i in range(60)]
    p = tmp_path / "many.txt"
    p.write_text("\n".join(lines), encoding="utf-8")
    quotes = [slice_quote(p, line) for line in lines]
    answer = compose("q" * 5000, "de", quotes, kind="ask")
    msg = render_answer(answer, answer_id="ab12", share=True)
    assert len(msg["blocks"]) <= MAX_BLOCKS
    actions = msg["blocks"][-1]
    assert actions["type"] == "actions"
    ids = [e["action_id"] for e in actions["elements"]]
    assert ACTION_MORE in ids and ACTION_SHARE in ids
    assert t("de", "more_omitted") in all_text(msg)
    more = ButtonState.parse(actions["elements"][ids.index(ACTION_MORE)]["value"])
    shown = sum(1 for b in msg["blocks"] if b["type"] == "context" and "¶" in b["elements"][0]["text"])
    assert more.offset == shown < 60
    assert all(len(e["value"]) <= VALUE_LIMIT for e in actions["elements"])


def test_not_found_and_empty_use_the_engine_text():
    msg = render_answer(compose("Vad sa han om Mars?", "sv", [], kind="ask"), answer_id="ab12")
    assert msg["text"] == t("sv", "not_found")
    assert not any(b["type"] == "actions" for b in msg["blocks"])
    msg = render_answer(compose("?", "ru", [], kind="empty"), answer_id="ab12")
    assert msg["text"] == t("ru", "empty_question")


def test_versions_rendering(hostile_file):
    v = slice_quote(hostile_file, "Another line.", language="sv")
    q = slice_quote(hostile_file, HOSTILE, versions=[v])
    msg = render_versions(Answer("q", "en", True, "", [q]))
    assert msg["blocks"][1]["text"]["text"] == "> Another line."
    assert render_versions(Answer("q", "en", True, "", [v]))["text"] == t("en", "no_versions")


def test_dedupe_ttl_and_threads():
    now = [0.0]
    d = Dedupe(ttl=10, clock=lambda: now[0])
    assert d.first(("e", 1), ("m", "C", "1.0"))
    assert not d.first(("e", 2), ("m", "C", "1.0"))  # same message, another event id
    assert not d.first(("e", 1))
    now[0] = 11
    assert d.first(("e", 1))
    d2 = Dedupe()
    wins = []
    barrier = threading.Barrier(16)

    def race():
        barrier.wait()
        wins.append(d2.first(("e", "same")))

    ts = [threading.Thread(target=race) for _ in range(16)]
    [x.start() for x in ts]
    [x.join() for x in ts]
    assert wins.count(True) == 1


def test_helpers():
    assert strip_mentions("<@UBOT> what  about <@U2>?", "UBOT") == "what about <@U2>?"
    assert locale_to_lang("sv-SE") == "sv" and locale_to_lang(None) is None


def test_settings_missing_named(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for k in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "ONRECORD_ADMINS"):
        monkeypatch.delenv(k, raising=False)
    s = SlackSettings()
    with pytest.raises(MissingSettings) as e:
        s.require(http=False)
    assert "SLACK_BOT_TOKEN" in str(e.value) and "SLACK_APP_TOKEN" in str(e.value)
    assert "SLACK_SIGNING_SECRET" not in str(e.value)
    with pytest.raises(MissingSettings) as e:
        s.require(http=True)
    assert "SLACK_SIGNING_SECRET" in str(e.value)
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-1\nSLACK_APP_TOKEN=xapp-1\nONRECORD_ADMINS=U1, U2\n")
    s = SlackSettings()
    assert s.require(http=False).admins == ["U1", "U2"]
    monkeypatch.setenv("ONRECORD_ADMINS", '["U3"]')
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:1/api")
    s = SlackSettings()
    assert s.admins == ["U3"] and s.api_url == "http://127.0.0.1:1/api/"
    assert all(f.description for f in SlackSettings.model_fields.values())


def test_serve_check(monkeypatch, tmp_path, capsys, answerer):
    monkeypatch.chdir(tmp_path)
    for k in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(k, raising=False)
    assert serve(check=True, answerer=answerer) == 2
    assert "SLACK_BOT_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")  # never contacted by --check
    assert serve(check=True, answerer=answerer) == 0
    assert serve(check=True, index=tmp_path / "no-index") == 1
    assert "index" in capsys.readouterr().err.lower()
    assert serve(http=True, check=True, answerer=answerer) == 2  # HTTP mode needs the signing secret


def test_feedback_store(tmp_path):
    store = FeedbackStore(tmp_path / "x" / "fb.sqlite3")
    store.add(vote=-5, question="q", quotes=[{"text": "a"}], user="U1", channel="C1", language="en")
    [row] = store.all()
    assert row["vote"] == -1 and row["quotes"] == [{"text": "a"}]


def test_docs_list_every_slack_setting():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "slack.md").read_text(encoding="utf-8")
    for field in SlackSettings.model_fields.values():
        name = field.validation_alias.choices[0]
        assert f"| `{name}` |" in docs, name
