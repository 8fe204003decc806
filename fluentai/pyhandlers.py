"""Python functions as effect handlers (LANGUAGE.md sections 7 and 9).

In:  the ``handlers`` mapping given to ``fluentai.run`` / ``load`` / ``run_file``:
     ``{"io:print": fn, "random": fn, "error": fn}`` -- an operation, a whole
     effect (``fn`` then gets the operation's short name first, e.g. ``"int"``),
     or ``"error"`` / ``"error:raise"``.
Out: a ``HostHandlers`` that the runner installs around every call into the
     program (``call_scope``), as the outermost handlers: above the built-in
     defaults, below every ``handler`` form, in every task.

How a call crosses over. Each Python function becomes a FluentAI closure whose
code is one cffi callback shared by all of them and whose free slot holds the
function's index in a Python-side table. The runtime's dispatch checks the
stack headroom before calling it and runs it with only the defaults active
(a Python handler that calls back into FluentAI does not see itself).
Arguments become Python values and the result a FluentAI value (the
``Converter`` of runner.py); values made here stay pinned in runtime-owned
memory until the runtime holds them. A Python exception cannot unwind through
the runtime's frames: the callback records it with ``fl_host_fail`` (or
``fl_host_exit`` for ``ProgramExit``) and returns; the perform site raises it.
An exception becomes a ``python-error`` whose message is ``str(exc)`` and whose
data is the exception's class name; a ``FluentAIError`` (from a FluentAI call
made by the handler) keeps its own type, message and data.

An ``"error"`` handler is the program's outermost error clause: when an error
ends a run or a call from Python, the handler gets the error as a dict
``{"type", "message", "data"}`` and its result is the value of the run.
``error:catch`` and handler forms inside the program come first.
"""
from __future__ import annotations

import contextlib
import re
from typing import Any, Callable, Iterator, Optional

from .backend import abi
from .errors import FluentAIError, ProgramExit

_NAME = re.compile(r"[^\s:()\[\]{}\"';]+(:[^\s:()\[\]{}\"';]+)?")
ERROR_KEYS = ("error", "error:raise")
_ARGC_MASK = (1 << abi.ARGC_BITS) - 1   # the argument count's bits of a call's argc


class PinStack:
    """Runtime-owned slots (Boehm scans them) for values Python made and the
    runtime does not hold yet; released in stack order by ``release(mark)``."""

    BLOCK = 4096

    def __init__(self, lib):
        self.lib = lib
        self.blocks = [lib.fl_constants_new(self.BLOCK)]
        self.top = 0

    def push(self, value: int) -> int:
        block, slot = divmod(self.top, self.BLOCK)
        if block == len(self.blocks):
            self.blocks.append(self.lib.fl_constants_new(self.BLOCK))
        self.blocks[block][slot] = value
        self.top += 1
        return value

    def mark(self) -> int:
        return self.top

    def release(self, mark: int) -> None:
        """Drop the values pushed since ``mark`` (cleared: no false retention)."""
        for index in range(mark, self.top):
            block, slot = divmod(index, self.BLOCK)
            self.blocks[block][slot] = abi.NIL
        self.top = mark


_pin_stacks: dict[int, PinStack] = {}


def pins_for(lib) -> PinStack:
    """The pin stack shared by every crossing into this runtime (calls nest)."""
    key = id(lib)
    if key not in _pin_stacks:
        _pin_stacks[key] = PinStack(lib)
    return _pin_stacks[key]


class _Bridge:
    """The one cffi callback every Python handler closure runs through."""

    def __init__(self, conv):
        self.conv = conv
        self.ffi, self.lib = conv.ffi, conv.lib
        self.pins = pins_for(self.lib)
        self.functions: dict[int, tuple[Callable, Any]] = {}   # index -> (fn, program)
        self.next_index = 0
        self.callback = self.ffi.callback("fl_code", self._on_perform, onerror=self._on_broken_callback)

    def register(self, fn: Callable, program) -> int:
        index = self.next_index
        self.next_index += 1
        self.functions[index] = (fn, program)
        return index

    def unregister(self, index: int) -> None:
        self.functions.pop(index, None)

    def make_closure(self, index: int) -> int:
        closure = self.lib.fl_make_closure(self.callback, 0, abi.CLOSURE_HAS_REST, abi.NIL, 1)
        self.ffi.cast("fl_closure *", closure - 1).free[0] = index << 1
        return closure

    # ---- the callback ----

    def _on_perform(self, closure, argc, a0, a1, a2, rest):
        mark = self.pins.mark()
        try:
            index = self.ffi.cast("fl_closure *", closure - 1).free[0] >> 1
            fn, program = self.functions[index]
            count = argc & _ARGC_MASK
            raw = [a0, a1, a2][:min(count, abi.REG_ARGS)]
            raw += [rest[i] for i in range(max(0, count - abi.REG_ARGS))]
            args = [self.conv.to_python(v, program) for v in raw]
            return self.conv.from_python(fn(*args), self.pins)
        except ProgramExit as exit_request:
            self.lib.fl_host_exit(exit_request.code & 0xFF)
        except BaseException as exc:  # every failure goes back to the program as an error
            self.lib.fl_host_fail(self._error_value(exc))
        finally:
            self.pins.release(mark)
        return abi.NIL

    def _on_broken_callback(self, exc_type, exc, traceback):
        """Only reached if the callback machinery itself fails (not the handler)."""
        try:
            self.lib.fl_host_fail(self._error_value(exc))
        except BaseException:
            pass
        return abi.NIL

    def _error_value(self, exc: BaseException) -> int:
        """A FluentAI error map for ``exc``, pinned by the runtime once handed over."""
        if isinstance(exc, FluentAIError):
            parts = (exc.type, exc.message, exc.data)
        else:
            parts = ("python-error", str(exc) or type(exc).__name__, type(exc).__name__)
        values = []
        for part in parts:
            try:
                values.append(self.conv.from_python(part, self.pins))
            except (TypeError, OverflowError):
                values.append(self.conv.from_python(repr(part), self.pins))
        return self.pins.push(self.lib.fl_make_error(*values))


_bridges: dict[int, _Bridge] = {}


def _bridge(conv) -> _Bridge:
    key = id(conv.lib)
    if key not in _bridges:
        _bridges[key] = _Bridge(conv)
    return _bridges[key]


def check_handlers(handlers) -> dict[str, Callable]:
    if not isinstance(handlers, dict):
        raise TypeError(f"handlers must be a dict of effect names to functions, "
                        f"not {type(handlers).__name__}")
    for name, fn in handlers.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"handler name {name!r} is not an effect (`io`) or an "
                             f"operation (`io:print`)")
        if not callable(fn):
            raise TypeError(f"the handler for {name!r} is not callable: {fn!r}")
    return dict(handlers)


class HostHandlers:
    """The Python handlers of one program, as a clause list the runtime keeps."""

    def __init__(self, conv, handlers, program=None):
        handlers = check_handlers(handlers)
        self.conv = conv
        self.bridge = _bridge(conv)
        self.error_handler: Optional[Callable] = next(
            (handlers[k] for k in ERROR_KEYS if k in handlers), None)
        self.indices = [self.bridge.register(fn, program)
                        for name, fn in handlers.items() if name not in ERROR_KEYS]
        names = [name for name in handlers if name not in ERROR_KEYS]
        self.pin = conv.lib.fl_constants_new(1)     # the clause list, for the program's life
        self.pin[0] = self._clause_list(names)

    def _clause_list(self, names: list[str]) -> int:
        lib, pins = self.conv.lib, self.bridge.pins
        mark = pins.mark()
        try:
            items = []
            for name, index in zip(names, self.indices):
                items.append(self.conv.from_python(name, pins))
                items.append(pins.push(self.bridge.make_closure(index)))
            acc = abi.EMPTY
            for item in reversed(items):
                acc = pins.push(lib.fl_cons(item, acc, 0))
            return acc
        finally:
            pins.release(mark)

    @property
    def clause_list(self) -> int:
        return self.pin[0]

    def handle_error(self, error: FluentAIError) -> Any:
        """The outermost error clause: its result is the value of the run."""
        return self.error_handler({"type": error.type, "message": error.message, "data": error.data})

    def __del__(self):
        bridge = getattr(self, "bridge", None)
        for index in getattr(self, "indices", ()):
            bridge.unregister(index)


# ---- scopes of calls into FluentAI ----

_depth = 0
_current_host: Optional[HostHandlers] = None


def _install(lib, host: Optional[HostHandlers]) -> None:
    global _current_host
    if host is not _current_host:
        lib.fl_set_host_handlers(host.clause_list if host else abi.EMPTY)
        _current_host = host


@contextlib.contextmanager
def call_scope(lib, host: Optional[HostHandlers], program_start: bool = False) -> Iterator[bool]:
    """Around ``fl_run`` / ``fl_run_call``; yields True for the outermost call.

    The outermost call starts from a clean handler stack (a run that ended in
    an error or ``exit`` may have left frames behind) with ``host`` installed,
    and a program's top level also from a fresh state store, error:catch
    table, clock and random seed; the Python handlers are removed when it
    returns, so nothing else that runs FluentAI code later meets them. A
    nested call (from inside a Python handler) keeps the program's state and
    gets the handler stack and the outer Python handlers back afterwards.
    """
    global _depth
    outer_host = _current_host
    outermost = _depth == 0
    _install(lib, host)
    saved = None
    if outermost:
        lib.fl_handlers_reset()
        if program_start:
            lib.fl_effects_program_start()
    else:
        saved = lib.fl_handlers_save()
    _depth += 1
    try:
        yield outermost
    finally:
        _depth -= 1
        if outermost:
            _install(lib, None)
        else:
            lib.fl_handlers_restore(saved)
            _install(lib, outer_host)
