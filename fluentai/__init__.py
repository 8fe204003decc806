"""FluentAI: a Lisp-family language compiled to native code (LANGUAGE.md section 9).

    import fluentai
    fluentai.run("(+ 1 2)")                 # -> 3
    fluentai.run_file("prog.fl")
    mod = fluentai.load(source)             # compile and run the top level once
    mod["make-adder"](5)(1)                 # FluentAI functions are Python callables

Errors raise ``CompileError`` or ``FluentAIError`` and never end the interpreter;
Ctrl-C while a program runs raises ``Interrupted``, a ``KeyboardInterrupt``.
"""
from __future__ import annotations

from typing import Any

# Imported on first use (PEP 562): `fluentai jit` of a cached program must
# start fast, and it imports this package before anything else.
_LAZY = {"CompileError": "diagnostics", "FluentAIError": "errors",
         "InternalCompilerError": "errors", "Interrupted": "errors", "ProgramExit": "errors",
         "Data": "runner", "Keyword": "runner", "Symbol": "runner"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fluentai' has no attribute {name!r}")

__all__ = ["run", "run_file", "load", "CompileError", "FluentAIError", "InternalCompilerError",
           "Interrupted", "ProgramExit", "Keyword", "Symbol", "Data", "Module"]
__version__ = "0.1.0"


class Module:
    """A loaded program: its top level has run; globals are readable by name."""

    def __init__(self, loaded, value):
        self._loaded = loaded
        self.value = value

    def __getitem__(self, name: str) -> Any:
        return self._loaded.global_value(name)

    def __contains__(self, name: str) -> bool:
        try:
            self[name]
            return True
        except KeyError:
            return False


def _load(source, filename: str, opt: int, handlers) -> Module:
    from .driver import compile_source
    from .runner import LoadedProgram
    if handlers:
        from .pyhandlers import check_handlers
        check_handlers(handlers)   # a bad mapping fails before the compile
    compiled = compile_source(source, filename, handled_effects=tuple(handlers or ()))
    # Python handlers (pyhandlers.py): outermost, above the defaults, for every
    # call into this program; an "error" handler gives the value of a failed run.
    loaded = LoadedProgram(compiled, opt, handlers=handlers)
    return Module(loaded, loaded.run())


def run(source, *, filename: str = "<string>", opt: int = 2, handlers=None) -> Any:
    """Compile and run ``source``; returns the value of its last form."""
    return _load(source, filename, opt, handlers).value


def run_file(path, *, opt: int = 2, handlers=None, filename: str | None = None) -> Any:
    with open(path, "rb") as f:
        data = f.read()
    return _load(data, filename or str(path), opt, handlers).value


def load(source, *, filename: str = "<string>", opt: int = 2, handlers=None) -> Module:
    """Compile ``source`` once and run its top level; index the result by name."""
    return _load(source, filename, opt, handlers)
