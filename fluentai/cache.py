"""The compile cache of ``fluentai jit``: compiled programs keyed by everything that shapes them.

In:  source bytes, file name and flags. Out: a cached program (a shared object
that links against the runtime extension when loaded) plus the warnings to
replay, or nothing. Loading a shared object needs neither LLVM nor the
compiler: a warm ``fluentai jit`` imports only this module, the runtime and
ctypes. The key hashes the source, the file name
(errors name it), the optimisation level and flags, the compiler's own
sources and the runtime's sources, so any change to any of them misses.

Entries live under ``$FLUENTAI_CACHE_DIR`` when set, else
``$XDG_CACHE_HOME/fluentai/jit`` (default ``~/.cache/fluentai/jit``): ``KEY.so``
and ``KEY.json`` (warnings, and the SHA-256 of the .so, so a truncated or
corrupt entry is detected and rebuilt). Writes go to a temporary file in the
same directory and are renamed into place, the .json last, so concurrent runs
never see half an entry. ``--no-cache`` or
``FLUENTAI_NO_CACHE=1`` turns the cache off.

This module is on the warm start-up path: it imports nothing heavy.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Optional

_PACKAGE = Path(__file__).resolve().parent
_fingerprint: Optional[str] = None


def enabled(no_cache_flag: bool) -> bool:
    return not no_cache_flag and os.environ.get("FLUENTAI_NO_CACHE", "") in ("", "0")


def cache_dir() -> Path:
    if os.environ.get("FLUENTAI_CACHE_DIR"):
        return Path(os.environ["FLUENTAI_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fluentai" / "jit"


def compiler_fingerprint() -> str:
    """A hash of every file that can change generated code or the runtime."""
    global _fingerprint
    if _fingerprint is None:
        h = hashlib.sha256()
        for path in sorted(_PACKAGE.rglob("*")):
            if path.suffix in (".py", ".lark", ".c", ".h", ".S") and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(_PACKAGE)).encode())
                h.update(path.read_bytes())
        _fingerprint = h.hexdigest()
    return _fingerprint


def key_for(source: bytes, filename: str, opt: int, flags: str) -> str:
    h = hashlib.sha256()
    for part in (compiler_fingerprint().encode(), filename.encode("utf-8", "surrogateescape"),
                 f"O{opt};{flags}".encode(), source):
        h.update(struct.pack("<Q", len(part)))
        h.update(part)
    return h.hexdigest()


def _paths(key: str) -> tuple[Path, Path]:
    d = cache_dir()
    return d / f"{key}.so", d / f"{key}.json"


def load(key: str) -> Optional[tuple[Path, dict]]:
    """The cached program (a shared object's path) and its metadata, or None
    when absent or damaged (its recorded SHA-256 no longer matches)."""
    so_path, meta_path = _paths(key)
    try:
        meta = json.loads(meta_path.read_bytes())
        data = so_path.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        return None
    return so_path, meta


def store(key: str, shared_object: bytes, meta: dict) -> Optional[Path]:
    """Write an entry (the shared object first, its metadata last: an entry is
    complete once its .json exists). Best effort: returns None when the cache
    directory cannot be written, which only costs speed."""
    import tempfile
    so_path, meta_path = _paths(key)
    meta = dict(meta, sha256=hashlib.sha256(shared_object).hexdigest())
    try:
        so_path.parent.mkdir(parents=True, exist_ok=True)
        for path, data in ((so_path, shared_object), (meta_path, json.dumps(meta).encode())):
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
    except OSError:
        return None
    return so_path
