"""The transcript formats: one module each in this folder, found when the registry is first used.

A format module declares `FORMAT = Format(...)`: its name, the file suffixes it reads, how it
recognises a file of its own among the files with those suffixes (`sniff`), and how it parses the
decoded text into Documents (`parse`). Adding a format is adding one module here; nothing else
changes (the indexer's discovery, the folder watcher, Slack uploads and `parse_file` all ask this
registry). Modules whose name starts with "_" are not formats.

    suffixes()                 the suffixes of every registered format (".txt", ".srt", ...)
    TRANSCRIPT_SUFFIXES        the same, as a live read-only set (`".srt" in TRANSCRIPT_SUFFIXES`)
    is_candidate(path)         whether a file is one to index: a registered suffix, not hidden, not a
                               sidecar manifest, not a folder's README/LICENSE
    choose(path, text)         the format that reads a decoded file, with its front matter split off
    register(fmt) / unregister(name)   add or remove a format at run time (tests, plug-ins)

Several formats may share suffixes (plain text, Europarl and Bundestag records are all `.txt`):
they are tried in descending `priority`, and the first whose `sniff` accepts the text parses it; a
format without `sniff` accepts every file it is offered, so it is the fallback for its suffixes.
"""
from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ...document import Document
from ...errors import SkipFile
from ..frontmatter import split_front_matter
from ..sidecar import SIDECAR_NAMES, is_sidecar

__all__ = ["Format", "TRANSCRIPT_SUFFIXES", "SIDECAR_NAMES", "all_formats", "candidates", "choose", "is_candidate",
           "register", "suffixes", "unregister"]

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".text")


@dataclass(frozen=True)
class Format:
    """One transcript format.

    `parse(text, source, path, body_start)` turns the decoded file text into Documents whose
    offsets index the text they carry (raising SkipFile with a short reason when the file is not
    usable); `body_start` is where the text after YAML front matter begins (0 without it).
    `sniff(text, body_start)` says whether a file with one of `suffixes` is of this format.
    `front_matter`: the format honours YAML front matter (split off before sniffing and parsing,
    its fields override extracted metadata).
    """

    name: str
    suffixes: tuple[str, ...]
    parse: Callable[[str, str, Path, int], list[Document]]
    sniff: Callable[[str, int], bool] | None = None
    priority: int = 0
    front_matter: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        bad = [s for s in self.suffixes if not (s.startswith(".") and s == s.lower() and len(s) > 1)]
        if bad or not self.suffixes:
            raise ValueError(f"format {self.name!r}: suffixes must be lower-case and start with a dot, got {bad or '()'}")


_lock = threading.RLock()
_formats: dict[str, Format] | None = None


def _load() -> dict[str, Format]:
    global _formats
    with _lock:
        if _formats is None:
            found: dict[str, Format] = {}
            for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
                if info.name.startswith("_"):
                    continue
                module = importlib.import_module(f"{__name__}.{info.name}")
                fmt = getattr(module, "FORMAT", None)
                if not isinstance(fmt, Format):
                    raise TypeError(f"{module.__name__} declares no FORMAT = Format(...)")
                found[fmt.name] = fmt
            _formats = found
        return _formats


def all_formats() -> list[Format]:
    """Every registered format, in the order they are tried (highest priority first, then by name)."""
    return sorted(_load().values(), key=lambda f: (-f.priority, f.name))


def register(fmt: Format) -> Format:
    """Add (or replace) a format; returns it."""
    with _lock:
        _load()[fmt.name] = fmt
    return fmt


def unregister(name: str) -> None:
    with _lock:
        _load().pop(name, None)


def suffixes() -> frozenset[str]:
    return frozenset(s for f in _load().values() for s in f.suffixes)


class _LiveSuffixes(Set):
    """The registered suffixes as a read-only set that follows later registrations."""

    def __contains__(self, suffix: object) -> bool:
        return suffix in suffixes()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(suffixes()))

    def __len__(self) -> int:
        return len(suffixes())

    def __repr__(self) -> str:
        return f"TRANSCRIPT_SUFFIXES({sorted(suffixes())})"


TRANSCRIPT_SUFFIXES: Set = _LiveSuffixes()


# A folder's own documentation, not transcripts (README.md, LICENSE.txt, CHANGELOG.md...).
NOT_TRANSCRIPTS = ("readme", "license", "licence", "changelog", "contributing")


def is_candidate(path: Path) -> bool:
    """A file to index (discovery and the watcher ask this): a registered suffix, not hidden, not a
    sidecar manifest, not a folder's README/LICENSE/CHANGELOG."""
    path = Path(path)
    name = path.name
    if name.startswith(".") or is_sidecar(path) or name.lower().startswith(NOT_TRANSCRIPTS):
        return False
    return path.suffix.lower() in suffixes()


def candidates(path: Path) -> list[Format]:
    """The formats that may read `path`, in the order they are tried; SkipFile when none does."""
    path = Path(path)
    if is_sidecar(path):
        raise SkipFile("metadata sidecar, not a transcript")
    ext = path.suffix.lower()
    found = [f for f in all_formats() if ext in f.suffixes]
    if not found:
        raise SkipFile(f"unsupported file type ({ext or 'no extension'})")
    return found


def choose(path: Path, text: str) -> tuple[Format, dict, int]:
    """(format, front matter, body start) for the decoded text of `path`; SkipFile when no format
    with the file's suffix recognises it."""
    meta_body: tuple[dict, int] | None = None
    for fmt in candidates(path):
        meta, body = {}, 0
        if fmt.front_matter:
            if meta_body is None:
                meta_body = split_front_matter(text)
            meta, body = meta_body
        if fmt.sniff is None or fmt.sniff(text, body):
            return fmt, meta, body
    raise SkipFile(f"not a transcript format this indexer knows ({path.suffix.lower()})")
