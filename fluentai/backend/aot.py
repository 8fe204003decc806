"""Ahead-of-time output: LLVM IR -> object file, assembly, or standalone executable.

In:  LLVM IR text from ``codegen``. Out: files. Objects are position independent
with the small code model (PROTOTYPES.md section 2) so they link into the
system's default PIE executables. Executables link the runtime archive and
Boehm's ``libgc.a`` statically: they need nothing installed to run.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from ..timing import phase
from . import codegen, llvm_passes

LIBGC_CANDIDATES = ["/usr/lib/x86_64-linux-gnu/libgc.a", "/usr/lib/aarch64-linux-gnu/libgc.a",
                    "/usr/lib64/libgc.a", "/usr/lib/libgc.a", "/usr/local/lib/libgc.a"]


class LinkError(Exception):
    pass


def emit_object(llvm_ir: str, opt: int, executable: bool = False) -> bytes:
    """An object file; ``executable``: only for ``link_executable`` (it assumes
    the runtime archive is linked into the same image: codegen.for_executable)."""
    if executable:
        llvm_ir = codegen.for_executable(llvm_ir)
    with phase("llvm-optimize"):
        mod = llvm_passes.optimize(llvm_ir, opt, jit=False)
    with phase("llvm-codegen"):
        return writable_stackmaps(llvm_passes.target_machine(opt, False).emit_object(mod))


def emit_assembly(llvm_ir: str, opt: int, executable: bool = False) -> str:
    if executable:
        llvm_ir = codegen.for_executable(llvm_ir)
    with phase("llvm-optimize"):
        mod = llvm_passes.optimize(llvm_ir, opt, jit=False)
    with phase("llvm-codegen"):
        return llvm_passes.target_machine(opt, False).emit_assembly(mod)


STACKMAP_SECTION = b".llvm_stackmaps"
SHF_WRITE = 0x1


def writable_stackmaps(obj: bytes) -> bytes:
    """The object with its ``.llvm_stackmaps`` section marked writable.

    LLVM makes the section read-only although it holds absolute code addresses,
    so linking it into a PIE or a shared object leaves relocations in a read-only
    segment (DT_TEXTREL; llvm-project issue 55622). Writable, the linker puts it
    with the other relocated data. The section is not written at run time.
    Objects that are not 64-bit little-endian ELF come back unchanged."""
    if obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
        return obj
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", obj, 0x3A)
    strtab_offset, = struct.unpack_from("<Q", obj, shoff + shstrndx * shentsize + 24)
    patched = bytearray(obj)
    for i in range(shnum):
        header = shoff + i * shentsize
        name_offset, = struct.unpack_from("<I", obj, header)
        start = strtab_offset + name_offset
        if obj[start:start + len(STACKMAP_SECTION) + 1] == STACKMAP_SECTION + b"\0":
            flags, = struct.unpack_from("<Q", obj, header + 8)
            struct.pack_into("<Q", patched, header + 8, flags | SHF_WRITE)
    return bytes(patched)


def find_c_compiler() -> str:
    cc = os.environ.get("CC") or "cc"
    path = shutil.which(cc)
    if path is None:
        raise LinkError(f"no C compiler found (looked for `{cc}`; set $CC): "
                        "`fluentai compile -c` still writes an object file")
    return path


def find_libgc() -> str:
    for p in LIBGC_CANDIDATES:
        if os.path.exists(p):
            return p
    raise LinkError("Boehm GC's static library libgc.a was not found: install `libgc-dev` "
                    "(Debian/Ubuntu: apt-get install libgc-dev)")


def link_executable(obj: bytes, out_path: str, opt: int) -> None:
    from .rt_build import static_runtime_archive, system_libraries
    cc = find_c_compiler()
    libgc = find_libgc()
    with phase("runtime-archive"):
        archive = static_runtime_archive()
    with phase("link"), tempfile.TemporaryDirectory(prefix="fluentai-link-") as tmp:
        obj_path = Path(tmp) / "program.o"
        obj_path.write_bytes(obj)
        tmp_out = Path(tmp) / "a.out"
        cmd = [cc, str(obj_path), str(archive), libgc, *system_libraries(), "-o", str(tmp_out)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise LinkError(f"linking failed ({' '.join(cmd)}):\n{proc.stderr.strip()}")
        try:
            shutil.move(str(tmp_out), out_path)
        except OSError as e:
            raise LinkError(f"cannot write {out_path}: {e.strerror}") from None


def link_shared_object(obj: bytes) -> bytes:
    """The program as a shared object for the compile cache of ``fluentai jit``.
    Its runtime references stay undefined: they bind, when it is loaded, to
    the runtime extension already in the process (loaded RTLD_GLOBAL)."""
    cc = find_c_compiler()
    with phase("link"), tempfile.TemporaryDirectory(prefix="fluentai-so-") as tmp:
        obj_path = Path(tmp) / "program.o"
        obj_path.write_bytes(obj)
        so_path = Path(tmp) / "program.so"
        cmd = [cc, "-shared", str(obj_path), "-o", str(so_path)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise LinkError(f"linking failed ({' '.join(cmd)}):\n{proc.stderr.strip()}")
        return so_path.read_bytes()
