"""Build and load the C runtime (runtime_c/ at the top of the source tree) for the JIT and for AOT linking.

In: the runtime sources (``*.c``, ``*.S`` and the header ``fluentai.h``).
Out:
- ``load_runtime() -> (ffi, lib)``: the runtime as a cffi API-mode extension,
  compiled on first use into ``$XDG_CACHE_HOME/fluentai/rt-<hash>/`` (default
  ``~/.cache``), keyed by a hash of the sources and the build flags, and
  imported from there afterwards. The cdef is the header's CDEF block.
- ``exported_symbols() -> list[str]``: the function names of that cdef, for
  ``llvm.add_symbol``; ``symbol_addresses(ffi, lib)`` gives them with their
  addresses, builtins' C symbols included.
- ``static_runtime_archive(opt) -> Path``: the runtime (with ``main.c``)
  compiled into ``libfluentai.a`` in the same cache, for linking executables.
- ``runtime_c_dir() -> Path``.

With ``FLUENTAI_SANITIZE=1`` both are built with AddressSanitizer and
UndefinedBehaviorSanitizer (``SANITIZE_FLAGS``) into their own cache
directories (``rt-asan-*``, ``rt-aot-asan-*``), never mixed with the normal
build; the extension then loads only into a process that has the sanitizer
runtimes preloaded (``sanitizer_env()``), and executables link them
(``system_libraries()``). docs/testing.md says how ``make test-asan`` uses it.

``python -m fluentai.backend.rt_build`` builds both; with ``--sanitizer-env`` it
prints ``sanitizer_env()`` as NAME=VALUE words for env(1). The fast path (already
built) imports nothing but hashlib and importlib: it runs at every start-up.
Builds are safe against concurrent processes: each builds in a private
temporary directory, then renames it into place; the loser discards its copy.
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

MODULE_NAME = "_fluentai_rt"
# https:// in the network effect needs OpenSSL's headers (Debian's libssl-dev) when the
# runtime is built; without them the runtime is built without TLS and says so at the fetch.
OPENSSL_HEADER_DIRS = [Path("/usr/include"), Path("/usr/local/include")]
TLS_AVAILABLE = any((d / "openssl" / "ssl.h").is_file() for d in OPENSSL_HEADER_DIRS)
TLS_FLAGS = ["-DFL_HAVE_TLS=1"] if TLS_AVAILABLE else ["-DFL_HAVE_TLS=0"]
# Frame pointers everywhere: the call chain of an error is walked through the
# runtime's frames too (runtime_c/callchain.c).
COMMON_FLAGS = ["-std=gnu11", "-fno-strict-aliasing", "-fno-omit-frame-pointer", "-Wall",
                "-Wno-unused-parameter"] + TLS_FLAGS
# FLUENTAI_SANITIZE=1: ASan + UBSan, and any undefined behaviour stops the program (a report
# that scrolls by in a passing test is no use). Read once: a process builds one variant.
SANITIZE = os.environ.get("FLUENTAI_SANITIZE", "") not in ("", "0")
SANITIZE_FLAGS = (["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                   "-fno-sanitize-recover=undefined"] if SANITIZE else [])
COMMON_FLAGS += SANITIZE_FLAGS
VARIANT = "asan-" if SANITIZE else ""
EXTENSION_FLAGS = ["-O2"] + COMMON_FLAGS
LIBRARIES = ["gc"] + (["ssl", "crypto"] if TLS_AVAILABLE else [])
ARCHIVE_NAME = "libfluentai.a"
SYSTEM_LIBGC = Path("/usr/lib/x86_64-linux-gnu/libgc.a")
# Sources that only make sense inside an executable, never in the extension.
AOT_ONLY_SOURCES = {"main.c"}
_BUILD_FORMAT_VERSION = "1"   # bump when this file changes how things are built


class RuntimeBuildError(Exception):
    """The C runtime could not be compiled (no C compiler, no libgc, a C error)."""


def runtime_c_dir() -> Path:
    """The runtime sources: FLUENTAI_RUNTIME_DIR when set (to test a runtime being
    worked on); else ``fluentai/runtime_c`` inside an installed wheel, where the
    build copies them as package data; else ``runtime_c/`` beside the package in
    the source tree (an editable install)."""
    override = os.environ.get("FLUENTAI_RUNTIME_DIR")
    if override:
        return Path(override).resolve()
    package_dir = Path(__file__).resolve().parent.parent
    installed = package_dir / "runtime_c"
    if (installed / "fluentai.h").is_file():
        return installed
    return package_dir.parent / "runtime_c"


def _sources(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".c", ".S", ".h"))


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fluentai"


def _sources_hash(extra: str) -> str:
    digest = hashlib.sha256()
    for path in _sources(runtime_c_dir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(extra.encode())
    return digest.hexdigest()[:16]


def _extension_key() -> str:
    flags = " ".join(EXTENSION_FLAGS + LIBRARIES)
    abi = importlib.machinery.EXTENSION_SUFFIXES[0]
    return _sources_hash(f"ext|{flags}|{abi}|{sys.version_info[:2]}|{_BUILD_FORMAT_VERSION}")


def cdef_text() -> str:
    """The declarations between the CDEF-BEGIN and CDEF-END markers of fluentai.h."""
    header = (runtime_c_dir() / "fluentai.h").read_text()
    match = re.search(r"/\* ---- CDEF-BEGIN ---- \*/(.*?)/\* ---- CDEF-END ---- \*/", header, re.S)
    if not match:
        raise RuntimeBuildError("fluentai.h has no CDEF-BEGIN/CDEF-END block")
    return match.group(1)


def exported_symbols() -> list[str]:
    """Names of the functions the cdef declares (what generated code may call)."""
    text = re.sub(r"/\*.*?\*/", "", cdef_text(), flags=re.S)
    names = []
    for declaration in text.split(";"):
        declaration = " ".join(declaration.split())
        if declaration.startswith(("typedef", "enum", "struct")) or "(" not in declaration:
            continue
        match = re.match(r"[\w\s\*]*?\**\s*(\w+)\s*\(", declaration)
        if match:
            names.append(match.group(1))
    return names


# Runtime data (not functions) that generated code reads directly.
EXPORTED_DATA = ["fl_small_free", "fl_interrupt_pending"]


def symbol_addresses(ffi, lib) -> dict[str, int]:
    """Every runtime symbol generated code may reference, with its address:
    the cdef's functions, EXPORTED_DATA and each builtin's C symbol
    (fluentai/builtins.py)."""
    from fluentai.builtins import BUILTINS

    addresses = {name: int(ffi.cast("uintptr_t", ffi.addressof(lib, name)))
                 for name in exported_symbols() + EXPORTED_DATA}
    for i in range(lib.fl_builtin_count()):
        definition = lib.fl_builtin_at(i)
        builtin = BUILTINS.get(ffi.string(definition.name).decode())
        if builtin is not None:
            addresses[builtin.c_symbol] = int(ffi.cast("uintptr_t", definition.code))
    return addresses


# ---- the cffi extension ----

def _import_extension(directory: Path):
    candidates = sorted(directory.glob(MODULE_NAME + ".*.so")) + sorted(directory.glob(MODULE_NAME + ".so"))
    if not candidates:
        return None
    spec = importlib.util.spec_from_file_location(MODULE_NAME, candidates[0])
    # RTLD_GLOBAL (the dlopen happens in module_from_spec): programs cached as
    # shared objects (fluentai/cache.py) bind their runtime references to this
    # very instance when they are loaded.
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | os.RTLD_GLOBAL)
    try:
        module = importlib.util.module_from_spec(spec)
    finally:
        sys.setdlopenflags(flags)
    spec.loader.exec_module(module)
    return module


def _publish(build_dir: Path, final_dir: Path) -> None:
    """Move a finished build into place; another process may have won the race."""
    try:
        os.rename(build_dir, final_dir)
    except OSError:
        if not final_dir.exists():
            raise
        shutil.rmtree(build_dir, ignore_errors=True)


def check_libgc() -> None:
    """RuntimeBuildError naming the package to install when the C compiler cannot find
    Boehm GC's gc.h: clearer than the compiler's own error, deep in a build log."""
    probe = subprocess.run(c_compiler().split() + ["-E", "-x", "c", "-", "-o", os.devnull],
                           input=b"#include <gc.h>\n", capture_output=True)
    if probe.returncode != 0:
        raise RuntimeBuildError(
            "cannot build the FluentAI runtime: Boehm GC's header gc.h was not found; install "
            "libgc-dev (Debian/Ubuntu: apt-get install libgc-dev; `make setup` does it), "
            "then run again")


def _compile_extension(build_dir: Path) -> None:
    check_libgc()
    import cffi  # only when building: cffi's compiler machinery is slow to import

    source_dir = build_dir / "src"
    source_dir.mkdir()
    sources = []
    for path in _sources(runtime_c_dir()):
        shutil.copy(path, source_dir / path.name)
        if path.suffix != ".h" and path.name not in AOT_ONLY_SOURCES:
            sources.append(os.path.join("src", path.name))
    ffi = cffi.FFI()
    ffi.cdef(cdef_text())
    ffi.set_source(MODULE_NAME, '#include "fluentai.h"', sources=sources,
                   include_dirs=[str(source_dir)], libraries=LIBRARIES,
                   extra_compile_args=EXTENSION_FLAGS, extra_link_args=SANITIZE_FLAGS)
    try:
        ffi.compile(tmpdir=str(build_dir), verbose=False)
    except Exception as error:  # distutils raises several unrelated types
        raise RuntimeBuildError(f"cannot compile the FluentAI runtime: {error}") from error
    for leftover in build_dir.iterdir():   # keep only the extension in the cache
        if leftover.suffix != ".so":
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()


def runtime_extension_path() -> Path:
    """The file of the loaded runtime extension (tests dlopen it RTLD_GLOBAL)."""
    load_runtime()
    return _loaded_path[0]


_loaded_path: list[Path] = []


@lru_cache(maxsize=1)
def load_runtime():
    """Return (ffi, lib) of the runtime extension, building it first if needed."""
    if SANITIZE:
        _require_preloaded_sanitizers()
    final_dir = _cache_root() / f"rt-{VARIANT}{_extension_key()}"
    module = _import_extension(final_dir) if final_dir.is_dir() else None
    if module is None:
        final_dir.parent.mkdir(parents=True, exist_ok=True)
        build_dir = Path(tempfile.mkdtemp(prefix="build-", dir=final_dir.parent))
        try:
            _compile_extension(build_dir)
            _publish(build_dir, final_dir)
        finally:
            shutil.rmtree(build_dir, ignore_errors=True)
        module = _import_extension(final_dir)
        if module is None:
            raise RuntimeBuildError(f"the runtime build left no extension in {final_dir}")
    module.lib.fl_init()
    _loaded_path.append(Path(module.__file__))
    return module.ffi, module.lib


# ---- the static archive for AOT executables ----

def c_compiler() -> str:
    """$CC, else cc; RuntimeBuildError when there is none."""
    compiler = os.environ.get("CC") or "cc"
    if shutil.which(compiler.split()[0]) is None:
        raise RuntimeBuildError(f"no C compiler found (tried `{compiler}`); install gcc or set $CC")
    return compiler


def _archive_flags(opt: int) -> list[str]:
    return [f"-O{opt}"] + COMMON_FLAGS


def _compile_archive(build_dir: Path, opt: int) -> None:
    compiler = c_compiler().split()
    check_libgc()
    source_dir = runtime_c_dir()
    jobs = []
    for path in _sources(source_dir):
        if path.suffix == ".h":
            continue
        obj = build_dir / (path.stem + ".o")
        command = compiler + _archive_flags(opt) + ["-I", str(source_dir), "-c", str(path), "-o", str(obj)]
        jobs.append((path, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)))
    failures = []
    for path, job in jobs:
        output, _ = job.communicate()
        if job.returncode != 0:
            failures.append(f"{path.name}:\n{output.decode(errors='replace')}")
    if failures:
        raise RuntimeBuildError("cannot compile the FluentAI runtime:\n" + "\n".join(failures))
    objects = sorted(str(p) for p in build_dir.glob("*.o"))
    result = subprocess.run(["ar", "rcs", str(build_dir / ARCHIVE_NAME)] + objects,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise RuntimeBuildError("cannot archive the FluentAI runtime: " + result.stdout.decode(errors="replace"))
    for obj in objects:
        os.unlink(obj)


def static_runtime_archive(opt: int = 2) -> Path:
    """libfluentai.a (runtime + main.c) for `cc prog.o libfluentai.a libgc.a -lpthread -lm`."""
    compiler = os.environ.get("CC") or "cc"
    key = _sources_hash(f"aot|{' '.join(_archive_flags(opt))}|{compiler}|{_BUILD_FORMAT_VERSION}")
    final_dir = _cache_root() / f"rt-aot-{VARIANT}{key}"
    archive = final_dir / ARCHIVE_NAME
    if archive.is_file():
        return archive
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    build_dir = Path(tempfile.mkdtemp(prefix="build-", dir=final_dir.parent))
    try:
        _compile_archive(build_dir, opt)
        _publish(build_dir, final_dir)
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)
    return archive


# ---- the sanitizer variant ----

def sanitizer_runtimes() -> list[str]:
    """The shared ASan and UBSan runtimes of the C compiler, for LD_PRELOAD."""
    found = []
    for name in ("libasan.so", "libubsan.so"):
        path = subprocess.run(c_compiler().split() + [f"-print-file-name={name}"],
                              capture_output=True, text=True).stdout.strip()
        if not os.path.isabs(path):
            raise RuntimeBuildError(f"the C compiler has no {name}: install its sanitizer "
                                    "runtimes (Debian: libasan8 and libubsan1, with gcc)")
        found.append(os.path.realpath(path))
    return found


# Boehm allocates its heap with mmap and finds pointers by scanning stacks: ASan's leak
# checker would report every object Boehm frees, and its fake stacks (use-after-return
# detection) would hide pointers from the collector. handle_segv with allow_user_segv_handler
# lets the runtime's own SIGSEGV handler turn guard-page hits into stack-overflow errors; a
# fault it does not own goes back to ASan's handler, which reports it.
ASAN_OPTIONS = ("detect_leaks=0:detect_stack_use_after_return=0:allow_user_segv_handler=1:"
                "handle_segv=1:abort_on_error=0:exitcode=86")
UBSAN_OPTIONS = "print_stacktrace=1:halt_on_error=1:exitcode=86"
# A sanitizer's report exits with this status, which no FluentAI program gives by itself
# unless it calls (exit 86).
SANITIZER_EXIT_STATUS = 86


def sanitizer_env() -> dict[str, str]:
    """What a process that loads the sanitized extension needs in its environment."""
    return {"FLUENTAI_SANITIZE": "1", "LD_PRELOAD": ":".join(sanitizer_runtimes()),
            "ASAN_OPTIONS": ASAN_OPTIONS, "UBSAN_OPTIONS": UBSAN_OPTIONS}


def _require_preloaded_sanitizers() -> None:
    import ctypes
    if not hasattr(ctypes.CDLL(None), "__asan_init"):
        raise RuntimeBuildError(
            "FLUENTAI_SANITIZE=1 needs the sanitizer runtimes loaded first: run under "
            "LD_PRELOAD=\"$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)\" "
            "(`make test-asan` does), or unset FLUENTAI_SANITIZE")


def link_libraries() -> list[str]:
    """What an executable links after its object and libfluentai.a (libgc statically when present)."""
    gc = [str(SYSTEM_LIBGC)] if SYSTEM_LIBGC.is_file() else ["-lgc"]
    return gc + system_libraries()


def system_libraries() -> list[str]:
    """The shared system libraries every executable links (OpenSSL dynamically: the system's;
    the sanitizer runtimes in the sanitizer build)."""
    tls = ["-lssl", "-lcrypto"] if TLS_AVAILABLE else []
    sanitizers = ["-fsanitize=address,undefined"] if SANITIZE else []
    return tls + ["-lpthread", "-lm"] + sanitizers


def main() -> int:
    if sys.argv[1:] == ["--sanitizer-env"]:   # for `make test-asan`: NAME=VALUE words for env(1)
        try:
            print(" ".join(f"{name}={value}" for name, value in sanitizer_env().items()))
        except RuntimeBuildError as error:
            print(f"fluentai: {error}", file=sys.stderr)
            return 1
        return 0
    try:
        ffi, lib = load_runtime()
        archive = static_runtime_archive(2)
    except RuntimeBuildError as error:
        print(f"fluentai: {error}", file=sys.stderr)
        return 1
    print(f"runtime extension: {lib.fl_builtin_count()} builtins, {len(exported_symbols())} exported functions")
    print(f"runtime archive:   {archive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
