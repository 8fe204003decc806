"""The compile cache of ``fluentai jit``: object code keyed by everything that shapes it.

In:  source bytes, file name and flags. Out: a cached object file plus the
warnings to replay, or nothing. The key hashes the source, the file name
(errors name it), the optimisation level and flags, the compiler's own
sources and the runtime's sources, so any change to any of them misses.

Entries live under ``$FLUENTAI_CACHE_DIR`` when set, else
``$XDG_CACHE_HOME/fluentai/jit`` (default ``~/.cache/fluentai/jit``). Each file carries a magic line and a SHA-256 of its
payload: a truncated or corrupt entry is detected and rebuilt. Writes go to a
temporary file in the same directory and are renamed into place, so
concurrent runs never see half an entry. ``--no-cache`` or
``FLUENTAI_NO_CACHE=1`` turns the cache off.

This module is on the warm start-up path: it imports nothing heavy.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Optional

MAGIC = b"FLUENTAI-JIT-CACHE 1\n"
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


def load(key: str) -> Optional[tuple[bytes, dict]]:
    """The cached (object, metadata), or None when absent or damaged."""
    path = cache_dir() / f"{key}.bin"
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 32 + 8:
        return None
    digest = data[len(MAGIC):len(MAGIC) + 32]
    payload = data[len(MAGIC) + 32:]
    if hashlib.sha256(payload).digest() != digest:
        return None
    (meta_len,) = struct.unpack("<Q", payload[:8])
    try:
        meta = json.loads(payload[8:8 + meta_len])
    except ValueError:
        return None
    return payload[8 + meta_len:], meta


def store(key: str, obj: bytes, meta: dict) -> None:
    """Best effort: a read-only or full cache directory only costs speed."""
    meta_bytes = json.dumps(meta).encode()
    payload = struct.pack("<Q", len(meta_bytes)) + meta_bytes + obj
    data = MAGIC + hashlib.sha256(payload).digest() + payload
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".bin")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, directory / f"{key}.bin")
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass
