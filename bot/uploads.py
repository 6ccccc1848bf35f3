"""Transcripts handed to the bot (a file shared in Slack): name, size and content checks, then a
write that can only land inside the transcripts folder.

    safe_name(name)                      the file name to save under, or UploadRefused(reason)
    download(url, token, limit, ...)     the bytes, streamed, never more than `limit`, from Slack only
    check_transcript(data, name)         the documents it holds (parsed from the bytes), or UploadRefused
    save_into(folder, name, data)        written atomically under a free name inside `folder`

Nothing is written into the transcripts folder before every check has passed.
"""
from __future__ import annotations

import os
import re
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from index.document import Document
from index.errors import SkipFile, UploadRefused
from index.ingest.formats import SIDECAR_NAMES, TRANSCRIPT_SUFFIXES

MAX_NAME_CHARS = 120
_UNSAFE_CHARS = re.compile(r'[<>:"|?*\\]')
_CHUNK = 64 * 1024
MAX_REDIRECTS = 5
# Where Slack serves files from: the token is only ever sent there, over https.
SLACK_FILE_HOSTS = ("slack.com", ".slack.com", ".slack-edge.com")


def safe_name(name: str | None, max_chars: int = MAX_NAME_CHARS) -> str:
    """A plain file name for `name`, or UploadRefused: path tricks (`../`, absolute paths, folders), NUL,
    hidden names, overlong names and non-transcript types are refused; control and bidi characters are
    taken out, odd characters replaced and Unicode normalised (NFC), so the name shows as it is."""
    if not name or not name.strip():
        raise UploadRefused("the file has no name")
    if "\x00" in name:
        raise UploadRefused("the file name contains a NUL character")
    if "/" in name or "\\" in name or name.strip() in (".", ".."):
        raise UploadRefused("the file name contains a path (folders, `../` or an absolute path are not accepted)")
    # Controls and invisible format characters (bidi overrides and isolates, zero-width marks) make a
    # name display as something it is not ("report\u202etxt.exe"): they are taken out.
    name = "".join(" " if c.isspace() else c for c in unicodedata.normalize("NFC", name)
                   if c.isspace() or unicodedata.category(c) not in ("Cc", "Cf"))
    name = name.strip()
    if not name:
        raise UploadRefused("the file has no name")
    if len(name) > max_chars or len(name.encode("utf-8")) > 240:
        raise UploadRefused(f"the file name is too long ({len(name)} characters; at most {max_chars})")
    if name.startswith("."):
        raise UploadRefused("hidden file names (starting with a dot) are not accepted")
    name = _UNSAFE_CHARS.sub("_", name)
    name = re.sub(r"\s+", " ", name)
    suffix = Path(name).suffix.lower()
    if suffix not in TRANSCRIPT_SUFFIXES:
        kinds = ", ".join(sorted(TRANSCRIPT_SUFFIXES))
        raise UploadRefused(f"{suffix or 'no extension'} is not a transcript type ({kinds})")
    if name.lower() in SIDECAR_NAMES:
        raise UploadRefused("metadata manifests cannot be uploaded")
    if not Path(name).stem.strip(" ._-"):
        raise UploadRefused("the file name has no stem")
    return name


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of `url`, the port made explicit for http and https."""
    parts = urllib.parse.urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return scheme, host, -1
    return scheme, host, port or {"http": 80, "https": 443}.get(scheme)


def from_slack(url: str, trusted: set[tuple] = frozenset()) -> bool:
    """Is `url` an https address on Slack's file hosts, or exactly one of the `trusted` origins (the Web
    API's own, which already receives the token: a stand-in in tests)?"""
    scheme, host, port = origin(url)
    if (scheme, host, port) in trusted:
        return True
    return scheme == "https" and port == 443 and (host == SLACK_FILE_HOSTS[0] or host.endswith(SLACK_FILE_HOSTS[1:]))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx comes back as an HTTPError; download() decides whether to follow it


# http and https only (no file:, ftp:, data:), redirects not followed by urllib.
_OPENER = urllib.request.OpenerDirector()
for _handler in (urllib.request.ProxyHandler(), urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(),
                 urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor(), _NoRedirects()):
    _OPENER.add_handler(_handler)


def download(url: str, token: str | None, limit: int, trusted: set[tuple] = frozenset(), timeout: float = 30) -> bytes:
    """GET a file Slack holds, with the bot token, refusing anything over `limit` bytes without reading
    it all. Every address, the first and each redirect's, must be Slack's (`from_slack`): a redirect
    elsewhere is refused, so the token never leaves Slack and nothing else is fetched."""
    if not url:
        raise UploadRefused("Slack gave no download address for the file")
    for _ in range(MAX_REDIRECTS + 1):
        if not from_slack(url, set(trusted)):
            raise UploadRefused("the file is not hosted by Slack (only https addresses on Slack's own hosts are fetched)")
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                return _read(resp, limit)
        except urllib.error.HTTPError as exc:
            location = exc.headers.get("Location") if exc.code in (301, 302, 303, 307, 308) else None
            exc.close()
            if not location:
                raise UploadRefused(f"the file could not be downloaded (HTTP {exc.code})") from None
            url = urllib.parse.urljoin(url, location)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise UploadRefused(f"the file could not be downloaded ({type(exc).__name__})") from None
    raise UploadRefused("the download was redirected too many times")


def _read(resp, limit: int) -> bytes:
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise UploadRefused(f"the file is too large ({_mb(int(declared))}; the limit is {_mb(limit)})")
    chunks, got = [], 0
    while True:
        chunk = resp.read(_CHUNK)
        if not chunk:
            break
        got += len(chunk)
        if got > limit:
            raise UploadRefused(f"the file is too large (over {_mb(limit)})")
        chunks.append(chunk)
    data = b"".join(chunks)
    if data[:15].lower().startswith((b"<!doctype html", b"<html")):
        raise UploadRefused("Slack returned a web page instead of the file (missing files:read scope?)")
    return data


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def check_transcript(data: bytes, name: str, languages: list[str] | None = None,
                     max_bytes: int = 50 * 2**20) -> list[Document]:
    """The documents `data` holds, parsed as file `name` (nothing is written); UploadRefused if it is empty,
    binary, undecodable or has no transcript text."""
    from index.ingest import parse_bytes

    if not data:
        raise UploadRefused("the file is empty")
    if len(data) > max_bytes:
        raise UploadRefused(f"the file is too large ({_mb(len(data))}; the limit is {_mb(max_bytes)})")
    try:
        docs = parse_bytes(data, Path(name), source=name, languages=languages, sidecars=False)
    except SkipFile as exc:
        raise UploadRefused(f"not a usable transcript ({exc.reason})") from None
    except Exception as exc:  # noqa: BLE001 - a parser bug is a refusal, not a crash
        raise UploadRefused(f"the file could not be parsed ({type(exc).__name__})") from None
    if not docs:
        raise UploadRefused("no transcript text found in the file")
    return docs


def save_into(folder: Path, name: str, data: bytes) -> Path:
    """Write `data` as `name` inside `folder` (never elsewhere, never over an existing file: a free
    name `stem-2.ext`, `stem-3.ext`… is taken instead). The file appears complete or not at all."""
    name = safe_name(name)
    root = Path(folder).resolve(strict=True)
    tmp = root / f".upload-{uuid.uuid4().hex}.part"  # hidden: watchers and the indexer skip it
    stem, suffix = Path(name).stem, Path(name).suffix
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        for i in range(1, 1000):
            candidate = root / (name if i == 1 else f"{stem}-{i}{suffix}")
            if os.path.lexists(candidate):  # taken (a planted symlink too: it is never followed)
                continue
            if candidate.parent.resolve() != root or candidate.name != Path(candidate.name).name:
                raise UploadRefused("the file name would leave the transcripts folder")
            try:
                os.link(tmp, candidate)  # atomic, never follows or replaces what is there
            except FileExistsError:
                continue
            return candidate
        raise UploadRefused("too many files with this name already")
    finally:
        tmp.unlink(missing_ok=True)
