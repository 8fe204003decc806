"""The driver: runs the pipeline (ir/pipeline.py) from source text to running code.

In:  source text and options. Out: a ``CompiledProgram`` (LLVM IR, warnings)
     that can be run in process (``run_in_process``) or written as an object /
     executable by ``backend.aot``.

It is also where errors change shape: frontend ``CompileError``s pass through,
runtime outcomes become ``FluentAIError``, and anything unexpected inside the
compiler becomes an ``InternalCompilerError`` naming the user's location.
"""
from __future__ import annotations

import contextlib
import gc
import re
import sys
from dataclasses import dataclass, field
from typing import Optional

from .diagnostics import CompileError, Diagnostic, format_diagnostics
from .errors import FluentAIError, InternalCompilerError
from .timing import phase


@dataclass
class CompiledProgram:
    filename: str
    source: str
    llvm_ir: str
    ir_text: Optional[str] = None
    warnings: list = field(default_factory=list)
    global_slots: dict = field(default_factory=dict)   # name -> slot
    function_spans: dict = field(default_factory=dict)  # LLVM function name -> Span

    def llvm_rejection(self, exc: Exception) -> InternalCompilerError:
        """LLVM refused what codegen produced (a compiler bug), reported at the
        function it names."""
        return InternalCompilerError(self.filename, self.span_of_llvm_error(str(exc)), str(exc))

    def span_of_llvm_error(self, message: str):
        """Where a failure LLVM reports about our generated code comes from: the
        source of the first of our functions its message names (``@fl_fn2_fib``),
        else None. Only compiler bugs produce such messages."""
        for name in re.findall(r"@\"?([A-Za-z_.$][\w.$]*)", message):
            span = self.function_spans.get(name)
            if span is not None:
                return span
        return None


@contextlib.contextmanager
def _few_collections():
    """Python's cyclic GC with a 100x larger young generation, a 10x larger middle one and
    the objects alive before compilation frozen out of it, as mypy does: a 1 MiB source
    makes millions of long-lived AST and IR objects, and the default thresholds spent a
    third of compiling it scanning them again and again (docs/bench.md). Restored afterwards, so that an
    embedding program keeps its own settings. The gc module can only unfreeze all at
    once, so where the embedder has frozen objects of its own we do not freeze (and so
    never unfreeze theirs): only the thresholds change then."""
    thresholds = gc.get_threshold()
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    gc.set_threshold(100_000, 100, thresholds[2])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if freeze:
            gc.unfreeze()


def compile_source(source: bytes | str, filename: str, **options) -> CompiledProgram:
    """Frontend + IR passes + LLVM IR generation (no LLVM optimisation yet); the options
    are those of ``_compile_source``."""
    with _few_collections():
        return _compile_source(source, filename, **options)


def _compile_source(source: bytes | str, filename: str, *, print_value: bool = False,
                   verify: bool = False, dump_after: Optional[str] = None,
                   handled_effects=(), session_globals: Optional[tuple] = None,
                   debug: bool = False, closed: bool = False) -> CompiledProgram:
    """Frontend + IR passes + LLVM IR generation (no LLVM optimisation yet).

    ``handled_effects``: effect names handled from outside (Python handlers);
    ``session_globals``: the names a REPL session has defined so far;
    ``debug``: DWARF line tables and function names (``-g``);
    ``closed``: a whole program, run as it is (the command line), whose
    globals no host calls by name afterwards as the Python API's can.
    """
    from .frontend import call_with_deep_stack, parse_program
    from .frontend.check_effects import check_effects
    session = session_globals is not None
    program = parse_program(source, filename, predeclared=tuple(session_globals or ()))
    with phase("check-effects"):
        check_effects(program, handled_effects)
    text = program.source
    try:
        from .backend.codegen import generate_module
        from .ir.pipeline import build_ir
        from .ir.printer import format_module
        def lower_and_generate():
            module, dump = build_ir(program, verify=verify, dump_after=dump_after, session=session,
                                    closed=closed)
            if dump_after == "final":
                dump = format_module(module)
            with phase("codegen"):
                llvm_module = generate_module(module, print_value=print_value, session=session,
                                              debug=debug)
            spans = {fn.name: fn.span for fn in module.functions if fn.span is not None}
            with phase("codegen-ir-text"):
                return dump, str(llvm_module), spans

        # The passes recurse on the program's nesting, up to the 10,000 levels
        # the language allows: give them the room the frontend had.
        dump, llvm_ir, spans = call_with_deep_stack(program.nesting_depth, lower_and_generate)
    except CompileError:
        raise
    except RecursionError:
        raise InternalCompilerError(filename, None, "the program is nested too deeply for the compiler")
    except Exception as exc:  # a bug in the compiler: report it as one, at the form it hit
        span = getattr(exc, "fluentai_span", None)
        raise InternalCompilerError(filename, span, f"{type(exc).__name__}: {exc}") from exc
    slots = {b.name: b.slot for b in program.globals}     # in slot order
    return CompiledProgram(filename, text, llvm_ir, dump, list(program.warnings), slots, spans)


def format_warnings(compiled: CompiledProgram) -> str:
    if not compiled.warnings:
        return ""
    return format_diagnostics(compiled.warnings, compiled.source) + "\n"


def print_warnings(compiled: CompiledProgram, stream=None) -> None:
    stream = stream or sys.stderr
    stream.write(format_warnings(compiled))
    stream.flush()


def format_compile_error(err: CompileError, source: str) -> str:
    return format_diagnostics(err.diagnostics, source) + "\n"


__all__ = ["CompiledProgram", "compile_source", "print_warnings", "format_compile_error",
           "CompileError", "Diagnostic", "FluentAIError", "InternalCompilerError"]
