"""Reading a transcript file into text: size and existence checks first, then UTF-8 (with or
without BOM), then legacy encodings detected by charset-normalizer. Newlines are normalised the
way Python's text mode does it (universal newlines), so for a UTF-8 file the returned text equals
`open(path, encoding="utf-8").read()` exactly (a BOM stays as the character U+FEFF at 0).

A file holding a NUL character anywhere is binary, not text: it is refused with that reason (a NUL
after the first 8 KB is not let through into stored text)."""
from __future__ import annotations

import codecs
import errno
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

from ..errors import SkipFile

_SNIFF = 8192
# Control bytes that never occur in text (TAB, LF, VT, FF, CR and ESC are allowed).
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27)) + b"\x7f"


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


@contextmanager
def _as_skip():
    """File-system errors as the reasons a file is skipped."""
    try:
        yield
    except FileNotFoundError:
        raise SkipFile("file vanished before it could be read") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SkipFile("symlink loop") from None
        raise SkipFile(f"cannot read file: {exc.strerror or exc}") from None


def stat_checked(path: Path, max_bytes: int, allow_empty: bool = False) -> int:
    """Size of a regular file, or SkipFile (vanished, not a file, empty unless `allow_empty`, too
    large). Reads nothing."""
    with _as_skip():
        st = path.stat()
    import stat as _stat

    if not _stat.S_ISREG(st.st_mode):
        raise SkipFile("not a regular file")
    if st.st_size == 0 and not allow_empty:
        raise SkipFile("empty file")
    if st.st_size > max_bytes:
        raise SkipFile(f"too large ({_mb(st.st_size)}; limit {_mb(max_bytes)})")
    return st.st_size


def _opened_inside(fd: int, within: Sequence[str]) -> bool:
    """Whether the file open as `fd` really lies inside one of the folders `within` (real paths):
    asked of the open file itself, so a path swapped for a symbolic link after it was checked is seen."""
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc: discovery's own check of the path stands
        return True
    return any(real == b or real.startswith(b.rstrip(os.sep) + os.sep) for b in within)


def read_bytes(path: Path, max_bytes: int, allow_empty: bool = False, within: Sequence[str] | None = None) -> bytes:
    """The content of a regular file of at most `max_bytes`, read once; SkipFile otherwise (and when
    empty, unless `allow_empty`: the indexer hashes empty files too, parsing then refuses them).
    With `within` (real folder paths), a file that turns out to lie elsewhere once open (a symbolic
    link put in its place) is not read."""
    stat_checked(path, max_bytes, allow_empty)
    with _as_skip(), open(path, "rb") as fh:
        if within is not None and not _opened_inside(fh.fileno(), within):
            raise SkipFile("symbolic link to a file outside the folders being indexed, put in place while "
                           "indexing: not followed")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew between stat and read
        raise SkipFile(f"too large (over {_mb(max_bytes)})")
    if not data and not allow_empty:
        raise SkipFile("empty file")
    return data


def normalize_newlines(text: str) -> str:
    """What text mode with newline=None does: CRLF and lone CR become LF."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def looks_binary(data: bytes) -> bool:
    head = data[:_SNIFF]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    if b"\x00" in head:
        return True
    if not head:
        return False
    ctrl = sum(head.count(bytes([b])) for b in _CONTROL)
    return ctrl / len(head) > 0.05


def _no_nul(text: str) -> str:
    at = text.find("\x00")
    if at >= 0:
        raise SkipFile(f"binary file (a NUL character at character {at})")
    return text


def decode_bytes(data: bytes) -> tuple[str, str]:
    """(text, encoding) with universal newlines, encoding being "utf-8", "utf-8-sig" (the BOM kept
    in the text), "utf-16" or the legacy codec's name; SkipFile if the bytes are binary or no
    encoding fits."""
    text, encoding = _decode(data)
    return _no_nul(text), encoding


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return normalize_newlines(data.decode("utf-16")), "utf-16"
        except UnicodeDecodeError:
            raise SkipFile("undecodable: bad UTF-16") from None
    if looks_binary(data):
        raise SkipFile("binary file")
    nul = data.find(b"\x00")
    if nul >= 0:  # past the sniffed head: text never holds one
        raise SkipFile(f"binary file (a NUL byte at byte {nul})")
    try:
        text = data.decode("utf-8")  # a BOM is kept as U+FEFF, as open(..., encoding="utf-8") does
        return normalize_newlines(text), ("utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = _pick(list(from_bytes(data)))
    if best is None:
        raise SkipFile("undecodable: not UTF-8 and no known encoding fits")
    text = str(best)
    if not text or text.count("\ufffd") > max(3, len(text) // 100):
        raise SkipFile("undecodable: not UTF-8 and no known encoding fits")
    ctrl = sum(1 for ch in text[:_SNIFF] if ord(ch) < 32 and ch not in "\t\n\r\x0b\x0c\x1b")
    if ctrl > len(text[:_SNIFF]) * 0.05:
        raise SkipFile("binary file")
    return normalize_newlines(text), best.encoding


# When several encodings read the bytes equally cleanly (a French text is as "clean" in cp1250 as
# in cp1252, only with the wrong accents), the most common legacy encodings win, in this order.
_PREFERRED = ["cp1252", "latin_1", "iso8859_15", "cp1251", "koi8_r", "cp1250", "iso8859_2", "mac_roman", "cp1257"]


def _pick(results):
    if not results:
        return None
    best = results[0]
    ties = [r for r in results if r.chaos <= best.chaos + 0.001]
    for name in _PREFERRED:
        for r in ties:
            if r.encoding == name:
                return r
    return best
