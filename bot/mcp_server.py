"""`onrecord mcp`: On Record for AI assistants, over the Model Context Protocol.

Tools `ask` and `quote` return the JSON contract of `onrecord ask --json` as structured content (each
quote with a `document` URI), and as content the answer's text plus links to the quoted documents
(`check` and `verify`, from bot/factcheck, return `onrecord check --json` and `verify --json`);
the resource template
`onrecord://document/{id}` returns an indexed document (title, speaker, date, language, text) so an
assistant can read the context around a quote. Built on the `mcp` package's `MCPServer`; stdio by
default, streamable HTTP with `--http`.

One engine per process: the model and the index are opened once, in the background as the server
starts, and each call reads the live index generation (a re-index is picked up between calls).
Every quote in a result is checked again here against its document's stored text: a result never
carries quote text that is not the exact slice at its offsets.

Errors reach the client as MCP errors with a message, never a traceback: a tool call with bad
arguments (or no index) returns `isError: true` with what to fix, as the protocol asks for errors an
assistant can correct; an unknown or malformed document URI is a JSON-RPC invalid-params error.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import CallToolResult, ResourceLink, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from index.embedder import Embedder
from index.question_encoder import load_question_embedder
from index.errors import OnRecordError
from index.settings import Settings

from .answer.types import Answer, Quote
from .answer import Engine  # the one place this module names the engine
from .answer.question import MAX_QUESTION_CHARS, clean

log = logging.getLogger(__name__)

NAME = "onrecord"
DOCUMENT_URI = "onrecord://document/{id}"
MAX_LIMIT = 10

INSTRUCTIONS = """\
On Record searches a collection of transcripts (interviews, speeches, press statements, debates) and
answers with verbatim quotes and their citations, in the language the question is asked in.
Use `ask` for questions about what someone said, `quote` to find the exact wording and source of a
remembered or misquoted sentence, `check` for a verdict on a quote circulating elsewhere, `verify` to
re-check a quote's `ref` against the record as it is now. Every `quotes[].text` is an exact slice of the stored source
(`source`, `start`, `end`): quote only those texts, word for word, with their speaker, date and source.
`found: false` means nothing on record answers: say so instead of guessing. Read
`onrecord://document/{id}` (each quote's `document`) for the context around a quote."""


# -- the structured result: the JSON contract of `onrecord ask --json`, plus a document link ---------
class QuoteResult(BaseModel):
    model_config = ConfigDict(extra="allow")

    text: str = Field(description="The quoted words: exactly source_text[start:end], never paraphrased.")
    language: str | None = Field(description="ISO 639-1 code of the quote's language.")
    source: str = Field(description="Path of the transcript file as indexed.")
    title: str | None
    speaker: str | None
    date: str | None = Field(description="ISO date of the statement, when the record gives one.")
    url: str | None
    location: str = Field(description="Paragraph (¶ 3) or timestamp (00:01:23) in the transcript.")
    start: int = Field(description="Start offset of `text` in the document text (and, for a plain-text "
                                   "or Markdown source, in the file).")
    end: int
    score: float
    document: str = Field(description="URI of the document resource holding the quote, for its context.")
    speaker_role: str | None = Field(None, description="What the record calls the speaker (office, party).")
    spoken_language: str | None = Field(None, description="Language the words were spoken in, when the "
                                                          "text is the record's translation.")
    versions: list["QuoteResult"] | None = Field(None, description="The same words in the statement's "
                                                                   "other-language versions, where aligned.")


class AnswerResult(BaseModel):
    model_config = ConfigDict(extra="allow")

    question: str
    language: str = Field(description="ISO 639-1 code of the question's language; the answer is in it.")
    found: bool = Field(description="False when nothing on record answers: then `quotes` is empty.")
    answer: str = Field(description="The answer in the question's language: the quotes with citations.")
    quotes: list[QuoteResult]


class CheckResult(AnswerResult):
    verdict: dict = Field(description="kind (exact, altered, different_speaker, out_of_context, translation_only, "
                                      "not_found), share_on_record, diff (operations from the claim to the record), "
                                      "record, record_speaker, cue and context, nearest (each matching: false), original.")


class VerifyResultModel(BaseModel):
    model_config = ConfigDict(extra="allow")

    ref: str
    status: str = Field(description="intact (same words, same place), moved (new offsets), or gone.")
    source: str | None
    notes: list[str] = Field(description="index_behind, file_missing, file_unreadable.")


# -- the engine, opened once ---------------------------------------------------------------------------
class EngineHolder:
    """The process's one engine, opened on first need (or by `warm_up` as the server starts). An
    opening that fails (no index yet, wrong model) is retried on the next call, with the model kept
    loaded, so building the index while the server runs needs no restart."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._engine: Engine | None = None
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()

    def get(self) -> Engine:
        with self._lock:
            if self._engine is None:
                try:
                    if self._embedder is None:
                        self._embedder = load_question_embedder(self.settings)
                    self._engine = Engine.open(settings=self.settings, embedder=self._embedder)
                except OnRecordError as exc:
                    raise ToolError(str(exc)) from None
            return self._engine

    def warm_up(self) -> None:
        """Load the model, open the index and answer a warm-up question now, in the background, so the
        first call is quick."""
        def run() -> None:
            try:
                self.get().warm_up()
            except ToolError as exc:
                log.warning("On Record cannot answer yet: %s", exc)
            except Exception:  # reported to clients on their first call; logged here in full
                log.exception("opening the On Record engine failed")

        threading.Thread(target=run, name="onrecord-warm-up", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None


@dataclass
class DocumentView:
    id: int
    title: str | None
    speaker: str | None
    date: str | None
    language: str | None
    url: str | None
    source: str
    start: int  # where `text` starts in the document text the quotes' offsets index
    end: int
    full_text: str  # the text all of the document's offsets index (for a text file: the whole file)

    @property
    def text(self) -> str:
        return self.full_text[self.start : self.end]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "uri": document_uri(self.id), "title": self.title, "speaker": self.speaker,
            "date": self.date, "language": self.language, "url": self.url, "source": self.source,
            "start": self.start, "end": self.end, "text": self.text,
        }


def read_document(engine: Engine, doc_id: int) -> DocumentView | None:
    """A document of the live index generation by id: the one place this module reads the store."""
    with engine.live.reader() as reader:  # the live generation, as the engine's own questions read it
        record = reader.document(doc_id)
        if record is None:
            return None
        return DocumentView(
            id=record.id, title=record.title, speaker=record.speaker, date=record.date,
            language=record.language, url=record.url, source=record.source,
            start=record.start, end=record.end, full_text=reader.document_text(doc_id),
        )


def document_uri(doc_id: int) -> str:
    return DOCUMENT_URI.format(id=doc_id)


# -- results -----------------------------------------------------------------------------------------
def _checked(engine: Engine, quotes: list[Quote]) -> None:
    """Every quote (and version) is the exact slice of its document's stored text at its offsets."""
    texts: dict[int, str | None] = {}
    for q in [*quotes, *(v for q in quotes for v in q.versions)]:
        if q.document_id not in texts:
            doc = read_document(engine, q.document_id)
            texts[q.document_id] = doc.full_text if doc else None
        full = texts[q.document_id]
        if full is None or full[q.start : q.end] != q.text:
            log.error("quote failed the slice check: document %s [%s:%s]", q.document_id, q.start, q.end)
            raise ToolError("a quote could not be verified against its source (the index may have just "
                            "been updated): please ask again.")


def _quote_json(q: Quote) -> dict[str, Any]:
    d = q.to_json()
    d["document"] = document_uri(q.document_id)
    if q.versions:
        d["versions"] = [_quote_json(v) for v in q.versions]
    return d


def content(answer: Answer) -> list[TextContent | ResourceLink]:
    """What clients that show text get: the answer as `onrecord ask` words it (the contract's `answer`:
    the headline in the question's language, each verified quote in quotation marks with its
    citation), then a link to each quoted document."""
    links, seen = [], set()
    for q in answer.quotes:
        if q.document_id not in seen:
            seen.add(q.document_id)
            links.append(ResourceLink(type="resource_link", uri=document_uri(q.document_id),
                                      name=f"document-{q.document_id}", title=q.title,
                                      mime_type="application/json"))
    return [TextContent(type="text", text=answer.answer), *links]


def tool_result(engine: Engine, answer: Answer) -> CallToolResult:
    _checked(engine, answer.quotes)
    structured = answer.to_json()
    structured["quotes"] = [_quote_json(q) for q in answer.quotes]
    return CallToolResult(content=content(answer), structured_content=structured)


def _askable(text: str, what: str) -> None:
    if clean(text).empty:
        raise ToolError(f"the {what} is empty: give words to look for, e.g. "
                        "“What did the foreign minister say about a ceasefire?”")


# -- the server ----------------------------------------------------------------------------------------
Question = Annotated[str, Field(
    min_length=1, max_length=MAX_QUESTION_CHARS, strict=True,
    description="The question, in any language; the answer and, where a version exists, the quotes come "
                "in that language. Name the speaker or topic, e.g. “What did Lavrov say about a ceasefire?”")]
Fragment = Annotated[str, Field(
    min_length=1, max_length=MAX_QUESTION_CHARS, strict=True,
    description="A remembered, possibly misspelled or paraphrased fragment of a sentence, "
                "e.g. “history is a strict lady, she doesnt forgive”.")]
Lang = Annotated[str | None, Field(
    pattern=r"^[a-z]{2}$", strict=True,
    description="ISO 639-1 code of the question's language (e.g. sv), used when detection is unsure.")]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, strict=True, description="Most quotes to return.")]
Claim = Annotated[str, Field(
    min_length=1, max_length=MAX_QUESTION_CHARS, strict=True,
    description="The claimed quote, word for word as it circulates; `NAME: \"WORDS\"` names the speaker.")]
Speaker = Annotated[str | None, Field(max_length=200, strict=True, description="Who the claim says said it.")]
Ref = Annotated[str, Field(min_length=1, max_length=4000, strict=True,
                           description="A quote's `ref` (onrecord://quote/...), from an earlier result.")]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)


def build_server(settings: Settings, holder: EngineHolder | None = None) -> MCPServer:
    holder = holder or EngineHolder(settings)
    server = MCPServer(NAME, title="On Record", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(title="Ask what was said on record", annotations=READ_ONLY)
    def ask(question: Question, lang: Lang = None, limit: Limit = 3) -> Annotated[CallToolResult, AnswerResult]:
        """Answer a question about what was said in the indexed transcripts, with verbatim quotes.

        Returns the quotes that answer it, best first: each quote's `text` is the exact wording, with
        speaker, date, title, source file, location and offsets, in the question's language where the
        statement exists in it (otherwise the original, with its language). `found` is false, with no
        quotes, when nothing on record answers: then say so rather than answer from memory."""
        _askable(question, "question")
        if lang is not None and lang not in settings.languages:
            raise ToolError(f"lang {lang!r} is not a language On Record answers in: use one of "
                            f"{', '.join(settings.languages)}, or leave it out")
        engine = holder.get()
        return tool_result(engine, engine.ask(question, lang_hint=lang, limit=limit))

    @server.tool(title="Find the exact wording of a quote", annotations=READ_ONLY)
    def quote(fragment: Fragment, limit: Limit = 3) -> Annotated[CallToolResult, AnswerResult]:
        """Find the exact sentence a remembered fragment comes from, and where it was said.

        Tolerates typos, a swapped or missing word, and a fragment running over two sentences. Each
        quote has the exact wording and its citation, plus `versions`: the same words in the
        statement's other languages. `found` is false when no sentence on record matches."""
        _askable(fragment, "fragment")
        engine = holder.get()
        return tool_result(engine, engine.quote(fragment, limit=limit))

    @server.tool(title="Check a claimed quote against the record", annotations=READ_ONLY)
    def check(claim: Claim, speaker: Speaker = None) -> Annotated[CallToolResult, CheckResult]:
        """Did they really say this? The verdict on a claimed quote: exact, altered (with a word diff and
        the share of the claim on record), different_speaker, out_of_context (the sentence around it
        changes its sense), translation_only (only a translation could be compared), or not_found (the
        nearest statements, which do not match). `quotes` holds the record's words when they are on record."""
        from .factcheck.render import verdict_json
        from .factcheck.verdict import check as check_claim

        _askable(claim, "claim")
        engine = holder.get()
        verdict = check_claim(engine, claim, speaker=speaker)
        data = verdict_json(verdict, claim)
        shown = [q for q in (verdict.context if verdict.kind == "out_of_context" and verdict.context else verdict.quote,)
                 if q is not None and data["quotes"]]
        _checked(engine, shown + verdict.nearest)
        data["quotes"] = [_quote_json(q) for q in shown]
        return CallToolResult(content=[TextContent(type="text", text=data["answer"])], structured_content=data)

    @server.tool(title="Re-verify a quote reference", annotations=READ_ONLY)
    def verify(ref: Ref) -> Annotated[CallToolResult, VerifyResultModel]:
        """Is a quote (its `ref`) still on record, word for word? intact, moved (the file changed; new
        offsets), or gone (and what stands there now), checked against the index and the file as they are now."""
        from .factcheck.refs import BadRef
        from .factcheck.render import verify_text
        from .factcheck.verify import verify as verify_ref

        engine = holder.get()
        try:
            result = verify_ref(engine, ref)
        except BadRef as exc:
            raise ToolError(f"not an On Record quote reference: {exc}") from None
        return CallToolResult(content=[TextContent(type="text", text=verify_text(result))],
                              structured_content=result.to_json())

    @server.resource(DOCUMENT_URI, name="document", title="Transcript document", mime_type="application/json")
    def document(id: str) -> str:
        """An indexed transcript: id, title, speaker, date, language, url, source, and its text. A
        quote's `start`/`end` minus this document's `start` locate the quote in `text`."""
        if not (id.isascii() and id.isdigit() and len(id) <= 18):
            raise ResourceNotFoundError(f"not a document id: {id!r} (use the `document` URI of a quote)")
        try:
            engine = holder.get()
        except ToolError as exc:
            raise ResourceError(str(exc)) from None
        doc = read_document(engine, int(id))
        if doc is None:
            raise ResourceNotFoundError(f"no document {document_uri(int(id))} in the index")
        return json.dumps(doc.to_json(), ensure_ascii=False)

    return server


def serve(settings: Settings, http: bool = False, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until the client goes away (stdio) or the process is stopped (HTTP at /mcp)."""
    # argument errors go to an assistant: the validation message without pydantic's documentation links
    os.environ.setdefault("PYDANTIC_ERRORS_INCLUDE_URL", "0")
    holder = EngineHolder(settings)
    server = build_server(settings, holder)
    holder.warm_up()
    try:
        if http:
            server.run("streamable-http", host=host, port=port)
        else:
            server.run("stdio")
    finally:
        holder.close()
