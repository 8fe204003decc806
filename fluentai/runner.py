"""Running compiled programs in this process, and converting values both ways.

In:  a ``CompiledProgram`` (driver.py). Out: the program's value as a Python
     object, or a ``FluentAIError`` / ``ProgramExit``; or, for the CLI, the
     outcome as text and an exit status.

Values cross the boundary only through runtime calls; a FluentAI heap value
kept by Python (a function returned to Python) is pinned in runtime-owned
uncollectable memory, because Boehm does not scan Python objects.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .backend import abi
from .errors import FluentAIError, Interrupted, ProgramExit

FL_OK, FL_ERROR, FL_DEADLOCK, FL_EXIT, FL_INTERRUPTED = 0, 1, 2, 3, 4


class Keyword(str):
    """A FluentAI keyword (``:name``) seen from Python; ``Keyword("year")``."""

    def __repr__(self) -> str:
        return f"Keyword({str(self)!r})"


class Symbol(str):
    """A FluentAI symbol (from ``quote``) seen from Python."""

    def __repr__(self) -> str:
        return f"Symbol({str(self)!r})"


@dataclass(frozen=True)
class Data:
    """A data value ``(Some 5)`` seen from Python: ``Data("Some", (5,))``."""
    tag: str
    fields: tuple = ()


def _rt():
    from .backend.rt_build import load_runtime
    return load_runtime()


class Roots:
    """A stack of GC roots in uncollectable memory for values under construction."""

    def __init__(self, lib, size: int = 1024):
        self.lib = lib
        self.slots = lib.fl_constants_new(size)
        self.size = size
        self.top = 0

    def push(self, v: int) -> int:
        if self.top == self.size:
            raise MemoryError("too many values converted in one call")
        self.slots[self.top] = v
        self.top += 1
        return v


class Converter:
    def __init__(self):
        self.ffi, self.lib = _rt()

    # ---- FluentAI -> Python ----

    def string_of(self, v: int) -> str:
        s = self.lib.fl_string_flat(v)
        return bytes(self.ffi.buffer(s.bytes, s.nbytes)).decode("utf-8", "surrogateescape")

    def to_python(self, v: int, program=None) -> Any:
        lib = self.lib
        if v & 1 == 0:
            return v >> 1
        if v == abi.NIL:
            return None
        if v == abi.TRUE:
            return True
        if v == abi.FALSE:
            return False
        if v == abi.EMPTY:
            return []
        kind = lib.fl_kind_of(v)
        if kind == 1:
            return lib.fl_int_value(v)
        if kind == 2:
            return lib.fl_float_value(v)
        if kind == 3:
            return self.string_of(v)
        if kind == 4:
            out = []
            while v != abi.EMPTY:
                pair = self.ffi.cast("fl_pair *", v - 1)
                out.append(self.to_python(pair.head, program))
                v = pair.tail
            return out
        if kind in (6, 7):
            name = self.string_of(self.ffi.cast("fl_value *", v - 1)[1])
            return Keyword(name) if kind == 6 else Symbol(name)
        if kind == 8:
            return {_hashable(self.to_python(lib.fl_map_key_at(v, i), program)):
                    self.to_python(lib.fl_map_value_at(v, i), program)
                    for i in range(lib.fl_map_size(v))}
        if kind == 9:
            words = self.ffi.cast("fl_value *", v - 1)
            n = self.ffi.cast("fl_header *", v - 1).aux
            return Data(self.string_of(words[1]),
                        tuple(self.to_python(words[2 + i], program) for i in range(n)))
        if kind == 5:
            return FluentAIFunction(self, v, program)
        return _Opaque(self.written(v))

    def written(self, v: int) -> str:
        return self.string_of(self.lib.fl_show(v))

    # ---- Python -> FluentAI ----

    def from_python(self, x: Any, roots: Roots) -> int:
        lib = self.lib
        if x is None:
            return abi.NIL
        if x is True:
            return abi.TRUE
        if x is False:
            return abi.FALSE
        if isinstance(x, FluentAIFunction):
            return roots.push(x.value)
        if isinstance(x, int):
            if not -(1 << 63) <= x < (1 << 63):
                raise OverflowError(f"{x} does not fit a FluentAI int (64 bits)")
            return roots.push(lib.fl_make_int(x))
        if isinstance(x, float):
            return roots.push(lib.fl_make_float(x))
        if isinstance(x, (Keyword, Symbol)):
            data = str(x).encode()
            maker = lib.fl_intern_keyword if isinstance(x, Keyword) else lib.fl_intern_symbol
            return roots.push(maker(data, len(data)))
        if isinstance(x, str):
            data = x.encode("utf-8", "surrogateescape")
            return roots.push(lib.fl_make_string(data, len(data)))
        if isinstance(x, (list, tuple)):
            items = [self.from_python(i, roots) for i in x]
            acc = abi.EMPTY
            for item in reversed(items):
                acc = roots.push(lib.fl_cons(item, acc, 0))
            return acc
        if isinstance(x, dict):
            m = roots.push(lib.fl_map_empty())
            for k, val in x.items():
                kv, vv = self.from_python(k, roots), self.from_python(val, roots)
                m = roots.push(lib.fl_map_set(m, kv, vv))
            return m
        if isinstance(x, Data):
            tag = self.from_python(x.tag, roots)
            fields = [self.from_python(f, roots) for f in x.fields]
            arr = self.ffi.new("fl_value[]", max(1, len(fields)))
            for i, f in enumerate(fields):
                arr[i] = f
            return roots.push(lib.fl_make_data(tag, len(fields), arr))
        if callable(x):
            # A FluentAI function (any arity) that calls back into Python through
            # the same bridge as Python effect handlers; errors raised there come
            # back to the program as FluentAI errors.
            from .pyhandlers import _bridge
            bridge = _bridge(self)
            index = bridge.register(x, None)
            return roots.push(self.lib.fl_make_host_function(bridge.callback, index))
        raise TypeError(f"cannot pass a Python {type(x).__name__} to FluentAI")

    # ---- outcomes ----

    def error_from_outcome(self, out, program=None):
        """The ``FluentAIError`` of a failed outcome (``Interrupted`` for Ctrl-C)."""
        lib = self.lib
        err = out.error
        fields = {}
        for key in ("type", "message", "data"):
            data = key.encode()
            k = lib.fl_make_string(data, len(data))
            fields[key] = lib.fl_map_get(err, k, abi.NIL) if err else abi.NIL
        etype = self.to_python(fields["type"])
        message = self.to_python(fields["message"])
        data = self.to_python(fields["data"])
        report = self.ffi.string(out.report).decode("utf-8", "replace") if out.report else ""
        location = report.split(": error[", 1)[0] if ": error[" in report else None
        if out.status == FL_DEADLOCK:
            etype, message = "deadlock", report
        kind = Interrupted if out.status == FL_INTERRUPTED else FluentAIError
        return kind(str(etype) if etype is not None else "error",
                             message if isinstance(message, str) else str(message), data,
                             location, report)

    def check(self, out, program=None) -> int:
        if out.status == FL_OK:
            return out.value
        if out.status == FL_EXIT:
            raise ProgramExit(out.exit_code)
        raise self.error_from_outcome(out, program)


def _checked_value(conv: Converter, out, program, host) -> Any:
    """The outcome as a Python value; an error goes to the Python "error"
    handler of an outermost call when there is one, else raises."""
    try:
        return conv.to_python(conv.check(out, program), program)
    except FluentAIError as error:
        if host is None or host.error_handler is None or out.status != FL_ERROR:
            raise
        return host.handle_error(error)


def _hashable(x):
    if isinstance(x, list):
        return tuple(_hashable(i) for i in x)
    if isinstance(x, dict):
        return tuple((k, _hashable(v)) for k, v in x.items())
    return x


class _Opaque:
    """A value with no Python counterpart (promise, channel): its written form."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


class FluentAIFunction:
    """A FluentAI function callable from Python (pinned while Python holds it)."""

    def __init__(self, conv: Converter, value: int, program=None):
        self.conv = conv
        self.pin = conv.lib.fl_constants_new(1)
        self.pin[0] = value
        self.program = program      # keeps the machine code alive

    @property
    def value(self) -> int:
        return self.pin[0]

    def __call__(self, *args):
        from .pyhandlers import call_scope, pins_for
        conv = self.conv
        host = getattr(self.program, "host", None)
        pins = pins_for(conv.lib)
        mark = pins.mark()
        try:
            values = [conv.from_python(a, pins) for a in args]
            argv = conv.ffi.new("fl_value[]", max(1, len(values)))
            for i, v in enumerate(values):
                argv[i] = v
            out = conv.ffi.new("fl_outcome *")
            with call_scope(conv.lib, host) as outermost:
                conv.lib.fl_run_call(self.value, len(values), argv, out)
        finally:
            pins.release(mark)
        return _checked_value(conv, out, self.program, host if outermost else None)

    def __repr__(self) -> str:
        return self.conv.written(self.value)


@dataclass
class SharedProgram:
    """A program loaded from a cached shared object (cache.py); the ctypes
    handle keeps it mapped."""
    handle: object
    entry_address: int


def load_shared_program(path) -> SharedProgram:
    import ctypes
    import os
    _rt()     # the runtime first, RTLD_GLOBAL: the program's references bind to it
    handle = ctypes.CDLL(str(path), mode=os.RTLD_NOW | os.RTLD_LOCAL)
    entry = ctypes.cast(handle.fl_program_entry, ctypes.c_void_p).value
    return SharedProgram(handle, entry)


class LoadedProgram:
    """A program compiled into this process; ``run()`` executes its top level."""

    def __init__(self, compiled, opt: int = 2, jit=None, handlers=None):
        self.compiled = compiled
        if jit is None:
            from .backend.jit import jit_compile
            jit = jit_compile(compiled.llvm_ir, opt)
        self.jit = jit
        self.conv = Converter()
        self.host = None
        if handlers:
            # Python effect handlers (pyhandlers.py), installed around every call into the program
            from .pyhandlers import HostHandlers
            self.host = HostHandlers(self.conv, handlers, self)

    def run_raw(self):
        from .pyhandlers import call_scope
        ffi, lib = self.conv.ffi, self.conv.lib
        out = ffi.new("fl_outcome *")
        entry = ffi.cast("fl_value(*)(void)", self.jit.entry_address)
        with call_scope(lib, self.host, program_start=True) as outermost:
            lib.fl_run(entry, out)
        self.ran_outermost = outermost
        return out

    def run(self) -> Any:
        out = self.run_raw()
        return _checked_value(self.conv, out, self, self.host if self.ran_outermost else None)

    def global_value(self, name: str) -> Any:
        slot = self.compiled.global_slots.get(name)
        if slot is None:
            raise KeyError(name)
        ffi = self.conv.ffi
        table_addr = ffi.cast("fl_value **", self.jit.global_address("fl_globals"))[0]
        v = table_addr[slot]
        if v == abi.UNBOUND:
            raise KeyError(name)
        return self.conv.to_python(v, self)
