"""The in-process JIT: optimised LLVM module -> machine code linked to the runtime.

In: LLVM IR text. Out: a ``JitProgram`` holding the MCJIT engine (kept alive as
long as the program's code may run) and the address of ``fl_program_entry``.

Every runtime symbol is registered once with ``llvm.add_symbol`` (one runtime
instance shared with Python). MCJIT silently turns an unresolved external into
a null call, so before finalising we check that every declaration resolves and
raise ``MissingRuntimeSymbol`` otherwise (DESIGN.md "JIT and AOT"). The engine
sits behind this small interface so ORC LLJIT can replace it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import llvmlite.binding as llvm

from ..timing import phase
from . import llvm_passes
from .rt_build import load_runtime, symbol_addresses


class MissingRuntimeSymbol(Exception):
    pass


@functools.lru_cache(maxsize=None)
def register_runtime_symbols() -> None:
    ffi, lib = load_runtime()
    llvm_passes.initialize()
    for name, addr in symbol_addresses(ffi, lib).items():
        llvm.add_symbol(name, addr)
    lib.fl_init()


@dataclass
class JitProgram:
    engine: "llvm.ExecutionEngine"
    module: "llvm.ModuleRef"
    entry_address: int

    def global_address(self, name: str) -> int:
        return self.engine.get_global_value_address(name)


def check_externals(mod: "llvm.ModuleRef") -> None:
    missing = [f.name for f in mod.functions
               if f.is_declaration and not f.name.startswith("llvm.")
               and llvm.address_of_symbol(f.name) is None]
    if missing:
        raise MissingRuntimeSymbol("runtime symbols not found: " + ", ".join(sorted(missing)))


def compile_object(llvm_ir: str, opt: int) -> bytes:
    """Optimise and compile to an in-memory object for this machine (what the
    compile cache stores). Every external must resolve to a runtime symbol."""
    with phase("runtime-load"):
        register_runtime_symbols()
    with phase("llvm-optimize"):
        mod = llvm_passes.optimize(llvm_ir, opt, jit=True)
    check_externals(mod)
    with phase("llvm-codegen"):
        return llvm_passes.target_machine(opt, True).emit_object(mod)


def load_object(obj: bytes, opt: int) -> JitProgram:
    """Link an object from ``compile_object`` (fresh or cached) into this process."""
    register_runtime_symbols()
    with phase("load"):
        return _load_object(obj, opt)


def _load_object(obj: bytes, opt: int) -> JitProgram:
    tm = llvm_passes.new_target_machine(opt, True)    # owned by the engine from here on
    mod = llvm.parse_assembly("")
    mod.triple = tm.triple
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    return JitProgram(engine, mod, engine.get_function_address("fl_program_entry"))


def jit_compile(llvm_ir: str, opt: int) -> JitProgram:
    return load_object(compile_object(llvm_ir, opt), opt)
