"""Exceptions of the Python API (LANGUAGE.md section 9).

``CompileError`` (frontend diagnostics) lives in ``diagnostics.py``; this module
holds the run-time and internal ones.
"""
from __future__ import annotations

from typing import Any, Optional


class _ProgramErrorFields:
    """What a FluentAI error that reached Python carries, whichever Python
    exception class it takes the place of."""

    def __init__(self, type: str, message: str, data: Any = None,
                 location: Optional[str] = None, report: str = ""):
        super().__init__(f"{type}: {message}" + (f" at {location}" if location else ""))
        self.type = type
        self.message = message
        self.data = data
        self.location = location
        self.report = report


class FluentAIError(_ProgramErrorFields, Exception):
    """A FluentAI run-time error that reached Python: ``type`` ("type-error",
    "config"...), ``message``, ``data`` (converted) and ``location``
    ("file:line:col" or None). ``report`` is the text the CLI prints."""


class Interrupted(_ProgramErrorFields, KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped a FluentAI program that did not catch its
    ``interrupted`` error. A ``KeyboardInterrupt``, as Python code expects of
    Ctrl-C (``except Exception`` does not swallow it), with the attributes of
    ``FluentAIError``: ``type`` ("interrupted"), ``message``, ``data``,
    ``location`` (where the program was) and ``report`` (with the call chain)."""


class ProgramExit(Exception):
    """The program called ``(exit n)``."""

    def __init__(self, code: int):
        super().__init__(f"program exited with status {code}")
        self.code = code


class InternalCompilerError(Exception):
    """A bug in the compiler itself (exit status 70)."""

    def __init__(self, filename: str, span, detail: str):
        where = f"{filename}:{span.line}:{span.col}" if span is not None else filename
        super().__init__(f"{where}: internal compiler error: {detail}\n"
                         "  = note: this is a bug in FluentAI, not in your program")
        self.filename = filename
        self.span = span
        self.detail = detail
