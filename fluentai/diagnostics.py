"""Compile-time diagnostics: what went wrong, where, and how it is shown to the user.

In: a ``Diagnostic`` (code, message, span, severity, notes, helps) built by any stage of the
compiler, plus the source text it points into.
Out: the text block of LANGUAGE.md section 10, exactly::

    prog.fl:3:21: error[division-by-zero]: division by zero
        3 | (define (ratio a b) (/ a b))
          |                     ^^^^^^^

``CompileError`` carries every error of a failed compilation at once. The C runtime
prints runtime errors in the same layout, so changes here must be mirrored there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Optional

if TYPE_CHECKING:   # a runtime import would be circular (the frontend imports us)
    from fluentai.frontend.ast import Span

ERROR = "error"
WARNING = "warning"
_GUTTER = f"{'':>5} | "
_NOTE_PREFIX = "      = note: "
_HELP_PREFIX = "      = help: "


@dataclass
class Diagnostic:
    """One finding: ``code`` is the error type shown in brackets (``syntax-error``)."""
    code: str
    message: str
    span: Optional["Span"]
    severity: str = ERROR
    notes: list[str] = field(default_factory=list)
    helps: list[str] = field(default_factory=list)     # suggestions, shown after the notes

    def __post_init__(self) -> None:
        if self.severity not in (ERROR, WARNING):
            raise ValueError(f"severity must be 'error' or 'warning', not {self.severity!r}")

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def sort_key(self) -> tuple[int, int]:
        if self.span is None:
            return (0, 0)
        return (self.span.line, self.span.col)


def format_diagnostic(diag: Diagnostic, source_text: Optional[str]) -> str:
    """The header line, the source line with its caret line, then the notes and helps (no final newline)."""
    lines = [_header(diag)]
    source_line = _source_line(source_text, diag.span)
    if source_line is not None:
        lines.append(f"{diag.span.line:>5} | {source_line}")
        lines.append(_GUTTER + _caret_text(source_line, diag.span))
    lines.extend(_NOTE_PREFIX + note for note in diag.notes)
    lines.extend(_HELP_PREFIX + text for text in diag.helps)
    return "\n".join(lines)


def format_diagnostics(diags: Iterable[Diagnostic], source_text: Optional[str]) -> str:
    """Several diagnostics, one block each, separated by newlines (no final newline)."""
    return "\n".join(format_diagnostic(d, source_text) for d in diags)


class CompileError(Exception):
    """Compilation failed; ``diagnostics`` lists every error found, in source order."""

    def __init__(self, diagnostics: Iterable[Diagnostic], source_text: Optional[str] = None):
        self.diagnostics = list(diagnostics)
        self.source_text = source_text
        super().__init__(format_diagnostics(self.diagnostics, source_text))


def _header(diag: Diagnostic) -> str:
    label = f"{diag.severity}[{diag.code}]: {diag.message}"
    if diag.span is None:
        return label
    return f"{diag.span}: {label}"


def _source_line(source_text: Optional[str], span: Optional["Span"]) -> Optional[str]:
    if source_text is None or span is None or span.line < 1:
        return None
    lines = source_text.split("\n")
    if span.line > len(lines):
        return None
    # A CRLF file would otherwise print a carriage return before the caret line.
    return lines[span.line - 1].rstrip("\r")


def _caret_text(line: str, span: "Span") -> str:
    """Padding that copies the line's tabs (so carets align) and at least one caret."""
    start = max(span.col - 1, 0)
    end = span.end_col - 1 if span.end_line == span.line else len(line)
    end = min(end, len(line))
    width = max(end - start, 1)
    prefix = line[:start]
    padding = "".join("\t" if ch == "\t" else " " for ch in prefix)
    padding += " " * (start - len(prefix))
    return padding + "^" * width
