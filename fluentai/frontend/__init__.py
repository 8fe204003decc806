"""The frontend: FluentAI source in, a resolved ``ast.Program`` out.

    parse_program(source, filename) -> Program

runs decode -> read (reader.py) -> parse and desugar (parser.py) -> resolve (resolve.py).
It raises ``CompileError`` with every error found: the first reader error alone (nothing
after a broken bracket can be trusted), otherwise every malformed form and every
undefined variable together, in source order. Warnings (``arity-error`` of a known call)
are returned in ``Program.warnings`` and do not stop compilation.

The parser and resolver recurse once per nesting level. ``call_with_deep_stack`` gives
them (and any later pass over the same tree) room for the 10,000 levels the language
allows, by raising Python's recursion limit and running on a thread with a large stack.
"""
from __future__ import annotations

import gc
import sys
import threading
from typing import Callable, TypeVar, Union

from fluentai.diagnostics import CompileError, Diagnostic
from fluentai.timing import phase
from fluentai.frontend.ast import Program
from fluentai.frontend.parser import parse
from fluentai.frontend.reader import MAX_NESTING, decode_source, read
from fluentai.frontend.resolve import resolve

__all__ = ["parse_program", "call_with_deep_stack", "CompileError", "MAX_NESTING"]

T = TypeVar("T")

# Below this nesting depth the default recursion limit (1000) is plenty.
_SHALLOW_DEPTH = 40
# Python frames a pass may use per nesting level, with room to spare.
_FRAMES_PER_LEVEL = 12
# Reserved address space, only touched as it is used; smaller if the system refuses.
_DEEP_STACK_SIZES = (1 << 30, 1 << 28)


def parse_program(source: Union[str, bytes], filename: str,
                  predeclared: tuple[str, ...] = ()) -> Program:
    """The resolved program of ``source``; raises CompileError listing every error.
    ``predeclared`` names globals that already exist (a REPL session's)."""
    # The frontend builds large trees without cycles: the cyclic collector only costs time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with phase("decode"):
            text = decode_source(source, filename)
        with phase("read"):
            result = read(text, filename)
        program = call_with_deep_stack(result.max_depth,
                                       lambda: _parse_and_resolve(result.data, text, filename, predeclared))
        program.nesting_depth = max(result.max_depth, program.nesting_depth)
        return program
    finally:
        if collecting:
            gc.enable()


def _parse_and_resolve(data: list, text: str, filename: str,
                       predeclared: tuple[str, ...] = ()) -> Program:
    with phase("parse"):
        parsed = parse(data, filename, text, predeclared)
    diagnostics: list[Diagnostic] = parsed.diagnostics
    with phase("resolve"):
        diagnostics += resolve(parsed.program, parsed.globals_by_name)
    diagnostics.sort(key=Diagnostic.sort_key)
    errors = [d for d in diagnostics if d.is_error]
    if errors:
        raise CompileError(errors, text)
    parsed.program.warnings = diagnostics
    return parsed.program


def call_with_deep_stack(nesting_depth: int, work: Callable[[], T]) -> T:
    """``work()``, with enough recursion room for a tree ``nesting_depth`` levels deep."""
    if nesting_depth <= _SHALLOW_DEPTH:
        return work()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:        # re-raised in the calling thread
            outcome["error"] = exc

    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, old_limit + nesting_depth * _FRAMES_PER_LEVEL))
    try:
        worker = _start_with_big_stack(run)
        if worker is None:      # no thread to be had: Python >= 3.11 recurses on the heap
            run()
        else:
            worker.join()
    finally:
        sys.setrecursionlimit(old_limit)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _start_with_big_stack(run: Callable[[], None]) -> "threading.Thread | None":
    old_stack_size = threading.stack_size()
    try:
        for size in _DEEP_STACK_SIZES:
            try:
                threading.stack_size(size)
                worker = threading.Thread(target=run, name="fluentai-deep")
                worker.start()
                return worker
            except (RuntimeError, ValueError, MemoryError):
                continue
        return None
    finally:
        threading.stack_size(old_stack_size)
