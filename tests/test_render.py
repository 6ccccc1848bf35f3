"""Rendering from data: one citation formatter, the answer text, the terminal, and (issue 12 row 6) one
sanitiser for everything `onrecord` prints from the index: escape sequences (CSI, OSC), C0/C1 controls
and direction overrides in transcript text, titles and file names never reach the terminal, piped or not."""
from __future__ import annotations

import json
import unicodedata

from typer.testing import CliRunner

from bot.cli import app

EVIL_TITLE = r"Title \e]0;pwned\a \e[2J\u202eevil"  # YAML escapes: ESC, BEL, RLO
EVIL_TEXT = ("The harbour master said the \x1b[31mred\x1b[0m buoys \x9b2J stay until spring \u202eregdirb\u202c "
             "and the ferry \x1b]8;;https://evil.example\x1b\\timetable\x1b]8;;\x1b\\ will not change.")


BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _unsafe(text: str) -> list[str]:
    """What a terminal acts on: controls but newline and tab (C0, DEL, C1, hence ESC), and bidi controls."""
    return [c for c in text if (unicodedata.category(c) == "Cc" and c not in "\n\t") or c in BIDI]


def test_cli_prints_no_escape_sequences_or_controls(tmp_path, monkeypatch):
    folder = tmp_path / "t"
    folder.mkdir()
    name = "all 12 files indexed OK\x1b[1A\x1b[2K\u202etxt.md"
    (folder / name).write_text(f"---\ntitle: \"{EVIL_TITLE}\"\nspeaker: Harbour Master\nlanguage: en\n---\n"
                               f"{EVIL_TEXT}\n", encoding="utf-8")
    (folder / "skipped \x1b[2J.txt").write_bytes(bytes(range(256)) * 8)
    index = tmp_path / "index"
    runner = CliRunner()
    out = runner.invoke(app, ["index", str(folder), "--index", str(index)])
    assert out.exit_code == 0, out.output
    assert "skipped" in out.output and _unsafe(out.output) == [], repr(out.output)
    for cmd in (["ask", "What did the harbour master say about the buoys?"],
                ["quote", "the harbour master said the red buoys stay until spring"]):
        out = runner.invoke(app, [*cmd, "--index", str(index)])
        assert out.exit_code == 0, out.output
        assert "buoys" in out.output and "Harbour Master" in out.output
        assert _unsafe(out.output) == [], repr(out.output)
        assert "\x1b" not in out.output
        js = runner.invoke(app, [*cmd, "--index", str(index), "--json"])  # JSON stays as stored (escaped by JSON)
        assert js.exit_code == 0 and json.loads(js.output)["quotes"]


# ---- rendering from data ---------------------------------------------------------------------------

def _quote(tmp_path, **kw):
    from bot.answer.types import Quote

    text = "We will not be satisfied with a truce."
    p = tmp_path / "q.txt"
    p.write_text("Title\n" + text + "\n", encoding="utf-8")
    return Quote(text=text, language=kw.pop("language", "en"), source=str(p), title="Milk quotas", speaker="Kyösti Virrankoski",
                 date="2006-11-30", url=kw.pop("url", "https://europarl.europa.eu/x"), location="¶ 2", start=6,
                 end=6 + len(text), score=1.0, **kw)


def test_one_citation_in_every_renderer(tmp_path):
    from bot.answer.compose import compose
    from bot.messages import language_name, t
    from bot.render.slack import render_answer
    from bot.render.text import terminal_text

    q = _quote(tmp_path, speaker_role="MEP (ALDE)", spoken_language="fi")
    answer = compose("What about milk?", "sv", [q], kind="ask", notes=[("truncated", {"n": 10})])
    spoken = t("sv", "spoken_in", language=language_name("fi", "sv"), text_language=language_name("en", "sv"))
    slack = render_answer(answer, answer_id="ab")
    for shown in (answer.answer, terminal_text(answer), slack["text"],
                  json.dumps(slack["blocks"], ensure_ascii=False)):
        assert "Kyösti Virrankoski, MEP (ALDE)" in shown and spoken in shown, shown  # role and language everywhere
        assert "2006-11-30" in shown and "¶ 2" in shown
    assert answer.answer.splitlines()[:2] == [t("sv", "truncated", n=10), t("sv", "found")]
    assert terminal_text(answer).splitlines()[:2] == answer.answer.splitlines()[:2]
    assert slack["blocks"][0]["text"]["text"] == t("sv", "found")
    assert "<https://europarl.europa.eu/x|europarl.europa.eu>" in json.dumps(slack["blocks"])


def test_found_is_decided_once(tmp_path):
    from bot.answer.compose import compose
    from bot.messages import t
    from bot.render.slack import render_answer
    from bot.render.text import terminal_text

    for kind, quotes, key in (("ask", [], "not_found"), ("quote", [], "not_found_quote"),
                              ("empty", [_quote(tmp_path)], "empty_question"), ("quote", [_quote(tmp_path)], "found_quote")):
        answer = compose("q", "de", quotes, kind=kind)
        assert answer.found == (key.startswith("found"))
        assert answer.answer.splitlines()[0] == terminal_text(answer).splitlines()[0] == t("de", key)
        assert render_answer(answer)["blocks"][0]["text"]["text"] == t("de", key)


def test_links_only_for_http(tmp_path):
    from bot.answer.compose import compose
    from bot.render.slack import render_answer

    for url in ("javascript:alert(1)", "file:///etc/passwd", "data:text/html,x", "https://", "https://a b.org/"):
        answer = compose("q", "en", [_quote(tmp_path, url=url)], kind="ask")
        assert url not in answer.answer
        assert url not in json.dumps(render_answer(answer), ensure_ascii=False)


def test_safe_text():
    from bot.render.text import safe_json, safe_text

    assert safe_text("a\x1b[2Jb\x1b]0;title\x07c\x1b]8;;http://x\x1b\\d\x9b31me\u202ef\x1bcg\r\n\th") == "abcdef" + "g\n\th"
    assert safe_text("Zakharova: «нет» — 明白 ✓") == "Zakharova: «нет» — 明白 ✓"
    assert json.loads(safe_json({"t": "x\x1b[2J\u202e\x9by"})) == {"t": "x\x1b[2J\u202e\x9by"}
    assert not _unsafe(safe_json({"t": "x\x1b[2J\u202e\x9by"}))
