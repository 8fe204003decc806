"""The driver: runs the pipeline (ir/pipeline.py) from source text to running code.

In:  source text and options. Out: a ``CompiledProgram`` (LLVM IR, warnings)
     that can be run in process (``run_in_process``) or written as an object /
     executable by ``backend.aot``.

It is also where errors change shape: frontend ``CompileError``s pass through,
runtime outcomes become ``FluentAIError``, and anything unexpected inside the
compiler becomes an ``InternalCompilerError`` naming the user's location.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Optional

from .diagnostics import CompileError, Diagnostic, format_diagnostic
from .errors import FluentAIError, InternalCompilerError


@dataclass
class CompiledProgram:
    filename: str
    source: str
    llvm_ir: str
    ir_text: Optional[str] = None
    warnings: list = field(default_factory=list)
    global_slots: dict = field(default_factory=dict)   # name -> slot


def decode_source(data: bytes | str, filename: str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # The frontend reports the position of the first bad byte.
        from .frontend import parse_program
        parse_program(data, filename)
        raise


def compile_source(source: bytes | str, filename: str, **options) -> CompiledProgram:
    """Frontend + IR passes + LLVM IR generation (no LLVM optimisation yet).

    The passes recurse on the nesting of the program; nesting up to 10,000
    levels must compile (LANGUAGE.md section 2), so they run on a thread with a
    large stack and a matching recursion limit.
    """
    return run_with_deep_stack(_compile_source, source, filename, **options)


DEEP_STACK_BYTES = 512 * 1024 * 1024
DEEP_RECURSION_LIMIT = 200_000


def run_with_deep_stack(fn, *args, **kwargs):
    import threading
    result: dict = {}

    def target():
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(DEEP_RECURSION_LIMIT)
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc
        finally:
            sys.setrecursionlimit(old)

    old_size = threading.stack_size(DEEP_STACK_BYTES)
    try:
        worker = threading.Thread(target=target, name="fluentai-compile")
        worker.start()
    finally:
        threading.stack_size(old_size)
    worker.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _compile_source(source: bytes | str, filename: str, *, print_value: bool = False,
                    verify: bool = False, dump_after: Optional[str] = None,
                    handled_effects=(), session_globals: Optional[tuple] = None) -> CompiledProgram:
    from .frontend import parse_program
    from .frontend.check_effects import check_effects
    session = session_globals is not None
    program = parse_program(source, filename, predeclared=tuple(session_globals or ()))
    check_effects(program, handled_effects)
    text = program.source
    try:
        from .backend.codegen import generate_module
        from .ir.pipeline import build_ir
        from .ir.printer import format_module
        module, dump = build_ir(program, verify=verify, dump_after=dump_after, session=session)
        if dump_after == "final":
            dump = format_module(module)
        llvm_ir = str(generate_module(module, print_value=print_value, session=session))
    except CompileError:
        raise
    except RecursionError:
        raise InternalCompilerError(filename, None, "the program is nested too deeply for the compiler")
    except Exception as exc:  # a bug in the compiler: report it as one, at the form it hit
        span = getattr(exc, "fluentai_span", None)
        raise InternalCompilerError(filename, span, f"{type(exc).__name__}: {exc}") from exc
    slots = {b.name: b.slot for b in program.globals}     # in slot order
    return CompiledProgram(filename, text, llvm_ir, dump, list(program.warnings), slots)


def format_warnings(compiled: CompiledProgram) -> str:
    return "".join(format_diagnostic(w, compiled.source) + "\n" for w in compiled.warnings)


def print_warnings(compiled: CompiledProgram, stream=None) -> None:
    stream = stream or sys.stderr
    stream.write(format_warnings(compiled))
    stream.flush()


def format_compile_error(err: CompileError, source: str) -> str:
    return "\n".join(format_diagnostic(d, source) for d in err.diagnostics) + "\n"


__all__ = ["CompiledProgram", "compile_source", "print_warnings", "format_compile_error",
           "CompileError", "Diagnostic", "FluentAIError", "InternalCompilerError"]
