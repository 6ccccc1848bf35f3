"""Sidecar metadata: a `manifest.jsonl`, `manifest.csv` or `metadata.csv` in the file's folder or
any parent folder up to the indexed root, one record per file keyed by its path relative to the
sidecar's folder ("path" or "file" column/key). Fields override what was extracted: title,
speaker, date, language (or lang), url. The nearest sidecar that names the file wins.

The product never needs a sidecar; it only lets users correct or complete metadata.
"""
from __future__ import annotations

import csv
import json
import os
import threading
from pathlib import Path

SIDECAR_NAMES = ("manifest.jsonl", "manifest.csv", "metadata.csv")
FIELDS = ("title", "speaker", "date", "language", "url")
_MAX_LEVELS = 12

_cache: dict[Path, tuple[tuple[int, int], dict[str, dict]]] = {}
_lock = threading.Lock()


def _norm_key(k: str) -> str:
    k = k.strip().replace("\\", "/")
    while k.startswith("./"):
        k = k[2:]
    return k


def _record(raw: dict) -> tuple[str | None, dict]:
    low = {str(k).strip().lower(): v for k, v in raw.items() if k is not None}
    key = low.get("path") or low.get("file") or low.get("filename")
    if not isinstance(key, str) or not key.strip():
        return None, {}
    rec = {}
    for f in FIELDS:
        v = low.get(f)
        if f == "language" and v in (None, ""):
            v = low.get("lang")
        if v is None or (isinstance(v, str) and not v.strip()):
            continue
        rec[f] = v.strip() if isinstance(v, str) else v
    return _norm_key(key), rec


def _load(path: Path) -> dict[str, dict]:
    try:
        st = path.stat()
    except OSError:
        return {}
    sig = (st.st_mtime_ns, st.st_size)
    with _lock:
        hit = _cache.get(path)
        if hit and hit[0] == sig:
            return hit[1]
    table: dict[str, dict] = {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            if path.suffix == ".jsonl":
                for line in fh:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if isinstance(obj, dict):
                        k, rec = _record(obj)
                        if k:
                            table[k] = rec
            else:
                for row in csv.DictReader(fh):
                    k, rec = _record(row)
                    if k:
                        table[k] = rec
    except (OSError, UnicodeDecodeError, csv.Error):
        table = {}
    with _lock:
        _cache[path] = (sig, table)
    return table


def find_sidecar(path: Path, root: Path | None = None) -> tuple[Path, dict] | None:
    """(sidecar file, record) of the nearest sidecar naming `path`, searching up to `root`."""
    path = Path(os.path.abspath(path))
    root_abs = Path(os.path.abspath(root)) if root is not None else None
    folder = path.parent
    for _ in range(_MAX_LEVELS):
        for name in SIDECAR_NAMES:
            sc = folder / name
            if sc.is_file() and sc != path:
                table = _load(sc)
                if table:
                    rel = path.relative_to(folder).as_posix()
                    rec = table.get(rel)
                    if rec is not None:
                        return sc, rec
        if root_abs is not None and folder == root_abs:
            break
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


def is_sidecar(path: Path) -> bool:
    return path.name in SIDECAR_NAMES
