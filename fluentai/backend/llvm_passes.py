"""LLVM-level work: parse, verify, optimise, and build target machines.

In: LLVM IR text from ``codegen``. Out: an optimised, verified
``llvmlite.binding.ModuleRef``. The module is always verified and run through
the pass pipeline before machine code is generated: an LLVM fatal error aborts
the process and cannot be caught (DESIGN.md "Errors").
"""
from __future__ import annotations

import functools

import llvmlite.binding as llvm


@functools.lru_cache(maxsize=None)
def initialize() -> None:
    # llvm.initialize() raises in llvmlite 0.50; these are all we need.
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    # The module asm that exports the stack-map label (codegen.ProgramModule)
    # needs the assembly parser: without it LLVM aborts the process.
    llvm.initialize_native_asmparser()


@functools.lru_cache(maxsize=None)
def target_machine(opt: int, jit: bool) -> "llvm.TargetMachine":
    """A shared target machine for optimising and emitting code. Never hand
    it to an execution engine: MCJIT takes ownership of its target machine
    and frees it with the engine (use ``new_target_machine`` there)."""
    return new_target_machine(opt, jit)


def new_target_machine(opt: int, jit: bool) -> "llvm.TargetMachine":
    initialize()
    target = llvm.Target.from_default_triple()
    # MCJIT keeps LLVM's JIT default, the large code model: it loads each object's sections
    # wherever its memory manager finds room, so after many programs in one process a
    # 32-bit PC-relative reference between them can overflow (RuntimeDyldELF's
    # "isInt<32>(RealOffset)" assertion aborts the whole process). PROTOTYPES.md 2.
    if jit:
        return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                             features=llvm.get_host_cpu_features().flatten(),
                                             opt=opt, codemodel="jitdefault")
    # Objects for `cc`: position independent, small code model (PROTOTYPES.md 2).
    return target.create_target_machine(opt=opt, reloc="pic", codemodel="default")


def optimize(llvm_ir: str, opt: int, jit: bool) -> "llvm.ModuleRef":
    tm = target_machine(opt, jit)
    mod = llvm.parse_assembly(llvm_ir)
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    mod.verify()
    pto = llvm.create_pipeline_tuning_options(speed_level=opt)
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    mod.verify()
    return mod
