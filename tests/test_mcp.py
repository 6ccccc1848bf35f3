"""`onrecord mcp` through the `mcp` package's own client, over stdio, against the real server process on
the small real index: tool schemas, verbatim quotes in the language asked, abstention, quote lookup,
document resources, and bad arguments answered with errors while the server keeps serving."""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client

REPO = Path(__file__).resolve().parents[1]
CURLY_QUOTED = re.compile(r"“(.*?)”", re.S)


class Session:
    """The client session, called synchronously from the tests (one server for the module)."""

    def __init__(self, portal, client, log_path: Path):
        self.portal, self.client, self.log_path = portal, client, log_path

    def call(self, tool: str, arguments: dict):
        return self.portal.call(self.client.call_tool, tool, arguments)

    def __getattr__(self, name):  # list_tools, read_resource, ...
        method = getattr(self.client, name)
        return lambda *args: self.portal.call(method, *args)


@pytest.fixture(scope="module")
def served_index(small_index, tmp_path_factory) -> Path:
    """The module's own copy of the small index: the hot-swap test adds a transcript to it."""
    dst = tmp_path_factory.mktemp("mcp-index") / "index"
    shutil.copytree(small_index, dst, ignore=shutil.ignore_patterns("writer.lock"))
    return dst


@pytest.fixture(scope="module")
def mcp(served_index, settings_for, tmp_path_factory):
    home = tmp_path_factory.mktemp("mcp-home")
    env = dict(os.environ, ONRECORD_INDEX=str(served_index), ONRECORD_HOME=str(home),
               ONRECORD_MODEL=str(settings_for(served_index).model), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("ONRECORD_LLM", None)
    params = StdioServerParameters(command=sys.executable, args=["-m", "bot.cli", "mcp"], env=env, cwd=str(REPO))
    log_path = home / "server-stderr.log"
    with open(log_path, "w", encoding="utf-8") as errlog, start_blocking_portal() as portal:
        # a guard against a hung server, not a timing assertion
        client = Client(stdio_client(params, errlog=errlog), read_timeout_seconds=600)
        with portal.wrap_async_context_manager(client) as c:
            yield Session(portal, c, log_path)


def _result(r) -> dict:
    assert not r.is_error, r.content[0].text
    return r.structured_content


def _verbatim(q: dict) -> bool:
    return open(q["source"], encoding="utf-8").read()[q["start"] : q["end"]] == q["text"]


def _quoted_only_slices(r) -> None:
    """Nothing stands in quotation marks in the result's text but the quotes' verified texts."""
    data = r.structured_content
    texts = {q["text"] for q in data["quotes"]} | {v["text"] for q in data["quotes"] for v in q.get("versions", [])}
    for shown in (r.content[0].text, data["answer"]):
        spans = CURLY_QUOTED.findall(shown)
        assert len(spans) >= len(data["quotes"])
        assert set(spans) <= texts, set(spans) - texts


def test_tools_and_document_template_are_listed_with_schemas(mcp):
    tools = {t.name: t for t in mcp.list_tools().tools}
    assert set(tools) == {"ask", "quote", "check", "verify"}
    ask, quote = tools["ask"], tools["quote"]
    assert "verbatim" in ask.description and "found" in ask.description
    props = ask.input_schema["properties"]
    assert ask.input_schema["required"] == ["question"]
    assert props["question"]["type"] == "string" and props["question"]["minLength"] == 1
    assert props["question"]["maxLength"] == 2000
    assert props["limit"]["type"] == "integer" and (props["limit"]["minimum"], props["limit"]["maximum"]) == (1, 10)
    assert {"type": "string", "pattern": "^[a-z]{2}$"} in props["lang"]["anyOf"]
    assert quote.input_schema["required"] == ["fragment"] and "limit" in quote.input_schema["properties"]
    for tool in (ask, quote):
        assert tool.annotations.read_only_hint is True
        out = tool.output_schema
        assert {"question", "language", "found", "answer", "quotes"} <= set(out["required"])
        quote_fields = out["$defs"]["QuoteResult"]["properties"]
        assert {"text", "language", "source", "speaker", "date", "url", "location", "start", "end",
                "document"} <= set(quote_fields)
    templates = mcp.list_resource_templates().resource_templates
    assert [t.uri_template for t in templates] == ["onrecord://document/{id}"]


@pytest.mark.parametrize("question, lang, word", [
    ("What did Lavrov say about a ceasefire?", "en", "truce"),
    ("Vad sa Lavrov om vapenvila?", "sv", "vapenvila"),
])
def test_ask_returns_verbatim_quotes_in_the_language_asked(mcp, question, lang, word):
    r = mcp.call("ask", {"question": question})
    data = _result(r)
    assert (data["question"], data["language"], data["found"]) == (question, lang, True)
    assert 1 <= len(data["quotes"]) <= 3
    # the seed statement answers, in the language asked (the learnt ranker may put another of
    # Lavrov's statements first)
    first = next(q for q in data["quotes"] if "seed" in q["source"] and word in q["text"].lower())
    assert first["language"] == lang
    assert first["speaker"] == "Sergey Lavrov" and first["date"] == "2024-12-25"
    assert first["document"].startswith("onrecord://document/")
    for q in data["quotes"]:
        assert _verbatim(q), q
        if "seed" in q["source"]:  # the statement exists in both languages: quoted in the one asked
            assert q["language"] == lang
    _quoted_only_slices(r)
    assert first["text"] in r.content[0].text
    links = [c.uri for c in r.content if c.type == "resource_link"]
    assert links and links[0] == first["document"] and set(links) == {q["document"] for q in data["quotes"]}


def test_limit_and_language_hint_are_used(mcp):
    data = _result(mcp.call("ask", {"question": "What did Lavrov say about a ceasefire?", "limit": 1}))
    assert data["found"] and len(data["quotes"]) == 1
    data = _result(mcp.call("ask", {"question": "Lavrov vapenvila", "lang": "sv", "limit": 2}))
    assert data["language"] == "sv" and data["found"] and 1 <= len(data["quotes"]) <= 2
    assert data["quotes"][0]["language"] == "sv" and all(_verbatim(q) for q in data["quotes"])


def test_unanswerable_question_returns_found_false_and_no_quotes(mcp):
    r = mcp.call("ask", {"question": "Vad sa Lavrov om pingvinerna i Antarktis?"})
    data = _result(r)
    assert (data["found"], data["quotes"], data["language"]) == (False, [], "sv")
    assert data["answer"] and not CURLY_QUOTED.search(r.content[0].text)


def test_quote_finds_a_misspelled_fragment_with_its_versions(mcp):
    r = mcp.call("quote", {"fragment": "history is a strict lady, she doesnt forgive such short memories"})
    data = _result(r)
    assert data["found"]
    q = data["quotes"][0]
    assert q["text"] == "History is a strict lady. She does not forgive such short memories."
    assert _verbatim(q)
    _quoted_only_slices(r)

    data = _result(mcp.call("quote", {"fragment": "we are not interestd in escalting the issue of nuclaer weapons usage"}))
    q = data["quotes"][0]
    assert q["text"] == "We are not interested in escalating the issue of nuclear weapons usage risks."
    assert [(v["language"], v["text"]) for v in q["versions"]] == [
        ("sv", "Vi är inte intresserade av att eskalera frågan om kärnvapenanvändning.")]
    assert all(_verbatim(v) for v in q["versions"])


def test_a_quote_document_resource_returns_the_document(mcp):
    q = _result(mcp.call("ask", {"question": "Vad sa Lavrov om vapenvila?"}))["quotes"][0]
    read = mcp.read_resource(q["document"])
    (content,) = read.contents
    assert content.mime_type == "application/json"
    doc = json.loads(content.text)
    assert doc["uri"] == q["document"]
    assert (doc["title"], doc["speaker"], doc["date"], doc["language"]) == (q["title"], "Sergey Lavrov", "2024-12-25", "sv")
    assert doc["source"] == q["source"]
    # the document's text is its part of the file; a quote's offsets, less the document's start, find it
    assert open(doc["source"], encoding="utf-8").read()[doc["start"] : doc["end"]] == doc["text"]
    assert doc["text"][q["start"] - doc["start"] : q["end"] - doc["start"]] == q["text"]
    assert doc["text"].lstrip().startswith("🎙") and "Läs hela" in doc["text"]

    for uri, message in [("onrecord://document/999999", "no document"), ("onrecord://document/abc", "not a document id"),
                         ("onrecord://document/123456789012345678901234567890", "not a document id")]:
        with pytest.raises(MCPError, match=message):
            mcp.read_resource(uri)


@pytest.mark.parametrize("tool, arguments, message", [
    ("ask", {"question": ""}, "at least 1 character"),
    ("ask", {"question": "   \n\t "}, "question is empty"),
    ("ask", {"question": "?!…"}, "question is empty"),
    ("ask", {"question": 42}, "valid string"),
    ("ask", {"question": ["What did Lavrov say?"]}, "valid string"),
    ("ask", {"question": None}, "valid string"),
    ("ask", {}, "required"),
    ("ask", {"question": "Lavrov " * 14_286}, "at most 2000 characters"),  # 100,002 characters
    ("ask", {"question": "What did Lavrov say?", "limit": "3"}, "valid integer"),
    ("ask", {"question": "What did Lavrov say?", "limit": 0}, "greater than or equal to 1"),
    ("ask", {"question": "What did Lavrov say?", "limit": 1000}, "less than or equal to 10"),
    ("ask", {"question": "What did Lavrov say?", "lang": "Swedish"}, "pattern"),
    ("ask", {"question": "What did Lavrov say?", "lang": "xx"}, "not a language On Record answers in"),
    ("quote", {"fragment": ""}, "at least 1 character"),
    ("quote", {"fragment": "🙂🙂"}, "fragment is empty"),
    ("quote", {"fragment": {"text": "history is a strict lady"}}, "valid string"),
    ("quote", {"fragment": "x" * 100_000}, "at most 2000 characters"),
])
def test_bad_arguments_get_an_error_with_a_clear_message(mcp, tool, arguments, message):
    r = mcp.call(tool, arguments)
    assert r.is_error and r.structured_content is None
    text = r.content[0].text
    assert message in text
    assert "Traceback" not in text and "pydantic.dev" not in text and len(text) < 1000


def test_the_server_keeps_serving_after_bad_calls(mcp):
    for bad in ({"question": ""}, {"question": 7}, {"question": "x" * 100_000}):
        assert mcp.call("ask", bad).is_error
    unknown = mcp.call("answer_anything", {"question": "What did Lavrov say?"})
    assert unknown.is_error and "answer_anything" in unknown.content[0].text
    with pytest.raises(MCPError):
        mcp.read_resource("onrecord://document/abc")
    data = _result(mcp.call("ask", {"question": "What did Lavrov say about a ceasefire?"}))
    assert data["found"] and all(_verbatim(q) for q in data["quotes"])
    # every failure above was an anticipated error: nothing crashed inside the server
    assert "Traceback" not in mcp.log_path.read_text(encoding="utf-8")


NEW_TRANSCRIPT = """🎙Press conference of the Mayor of Tromsø (3 March 2026)
💬 Jens Hansen: The new harbour bridge will open to cyclists in May. Ferry fares will be halved for students from the autumn.
"""


def test_a_transcript_indexed_while_serving_is_answered_at_the_next_call(mcp, served_index, settings_for,
                                                                         embedder, tmp_path):
    from index.indexer import run_index

    question = {"question": "What did Jens Hansen say about the harbour bridge?"}
    before = _result(mcp.call("ask", question))
    assert (before["found"], before["quotes"]) == (False, [])
    path = tmp_path / "tromso-2026-03-03.txt"
    path.write_text(NEW_TRANSCRIPT, encoding="utf-8")
    run_index([path], settings_for(served_index), embedder=embedder, progress=False)
    # the same server process, no restart: the next call reads the new index generation
    after = _result(mcp.call("ask", question))
    assert after["found"]
    q = after["quotes"][0]
    assert q["source"] == str(path) and q["speaker"] == "Jens Hansen"
    assert q["text"].startswith("The new harbour bridge will open to cyclists in May.") and _verbatim(q)


def test_check_and_verify_tools(mcp):
    d = _result(mcp.call("check", {"claim": "We will be satisfied with a truce.", "speaker": "Lavrov"}))
    assert d["verdict"]["kind"] == "altered" and d["found"]
    [q] = d["quotes"]
    assert _verbatim(q) and q["document"].startswith("onrecord://document/")
    assert {"op": "delete", "claim": "", "record": "not"} in d["verdict"]["diff"]
    v = _result(mcp.call("verify", {"ref": q["ref"]}))
    assert v["status"] == "intact" and v["quote"]["text"] == q["text"]
    bad = mcp.call("verify", {"ref": "https://example.org"})
    assert bad.is_error and "reference" in bad.content[0].text
