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

Size cap: after each store, least recently used entries (a hit refreshes the
mtime of its .json) are evicted until the cache holds at most
``$FLUENTAI_CACHE_MAX_MB`` MiB (default ``DEFAULT_MAX_MB``). ``info()`` and
``clear()`` serve ``fluentai cache info`` / ``fluentai cache clear``.

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
DEFAULT_MAX_MB = 256
MAX_MB_VARIABLE = "FLUENTAI_CACHE_MAX_MB"


def enabled(no_cache_flag: bool) -> bool:
    return not no_cache_flag and os.environ.get("FLUENTAI_NO_CACHE", "") in ("", "0")


def cache_dir() -> Path:
    if os.environ.get("FLUENTAI_CACHE_DIR"):
        return Path(os.environ["FLUENTAI_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fluentai" / "jit"


def compiler_fingerprint() -> str:
    """A hash of every file that can change generated code or the runtime: the
    package's sources and the runtime's (inside the package in a wheel, beside
    it in a source tree)."""
    global _fingerprint
    if _fingerprint is None:
        from .backend.rt_build import runtime_c_dir
        h = hashlib.sha256()
        runtime = runtime_c_dir()
        files = [(p.relative_to(_PACKAGE), p) for p in _PACKAGE.rglob("*")
                 if p.suffix in (".py", ".lark") and "__pycache__" not in p.parts]
        files += [(Path("runtime_c") / p.name, p) for p in runtime.iterdir()
                  if p.suffix in (".c", ".h", ".S")]
        for name, path in sorted(files):
            h.update(str(name).encode() + b"\0")
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
    try:
        os.utime(meta_path)     # recently used: last in line for eviction
    except OSError:
        pass
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
    evict(max_bytes(), keep=key)
    return so_path


def max_bytes() -> int:
    """The size cap: $FLUENTAI_CACHE_MAX_MB MiB (a bad value means the default)."""
    try:
        megabytes = float(os.environ.get(MAX_MB_VARIABLE, DEFAULT_MAX_MB))
    except ValueError:
        megabytes = DEFAULT_MAX_MB
    return max(int(megabytes * 1024 * 1024), 0)


def _entries() -> list[tuple[float, int, str]]:
    """(last use, bytes, key) of every entry, least recently used first. An
    orphan .so (its writer died before the .json) counts, with its own mtime."""
    groups: dict[str, list[os.stat_result]] = {}
    used: dict[str, float] = {}
    try:
        listing = list(os.scandir(cache_dir()))
    except OSError:
        return []
    for item in listing:
        stem, dot, suffix = item.name.rpartition(".")
        if not dot or suffix not in ("so", "json") or item.name.startswith(".tmp-"):
            continue
        try:
            st = item.stat()
        except OSError:
            continue
        groups.setdefault(stem, []).append(st)
        if suffix == "json" or stem not in used:
            used[stem] = st.st_mtime
    return sorted((used[k], sum(st.st_size for st in v), k) for k, v in groups.items())


def _remove(key: str) -> None:
    so_path, meta_path = _paths(key)
    for path in (meta_path, so_path):     # the .json first: the entry stops being valid at once
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def evict(limit: int, keep: Optional[str] = None) -> int:
    """Remove least recently used entries until the cache holds at most ``limit``
    bytes (``keep``, the entry just written, stays). Returns how many went."""
    entries = _entries()
    total = sum(size for _, size, _ in entries)
    removed = 0
    for _, size, key in entries:
        if total <= limit:
            break
        if key == keep:
            continue
        try:
            _remove(key)
        except OSError:
            continue
        total -= size
        removed += 1
    return removed


def info() -> dict:
    """Where the cache is, its entries and bytes, and its cap."""
    entries = _entries()
    return {"directory": str(cache_dir()), "entries": len(entries),
            "bytes": sum(size for _, size, _ in entries), "max_bytes": max_bytes()}


def clear() -> tuple[int, int]:
    """Remove every entry (and leftover temporary files); returns (entries, bytes)."""
    entries = _entries()
    for _, _, key in entries:
        _remove(key)
    try:
        for item in os.scandir(cache_dir()):
            if item.name.startswith(".tmp-"):
                os.unlink(item.path)
    except OSError:
        pass
    return len(entries), sum(size for _, size, _ in entries)
