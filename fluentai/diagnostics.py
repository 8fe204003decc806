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

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Optional

if TYPE_CHECKING:   # a runtime import would be circular (the frontend imports us)
    from fluentai.frontend.ast import Span

ERROR = "error"
WARNING = "warning"
_GUTTER = f"{'':>5} | "
_NOTE_PREFIX = "      = note: "
_HELP_PREFIX = "      = help: "
# A long source line is shown as this many characters around the column, this many of them
# before it, so that an error in a 1 MiB line prints a short excerpt.
EXCERPT_WIDTH = 100
EXCERPT_CONTEXT = 40
_CUT = "..."
# Source text quoted in a message (a name, a token) is cut to about this many characters.
QUOTED_WIDTH = 60
_LONG_QUOTED = re.compile("`([^`]{%d,})`" % (QUOTED_WIDTH + len(_CUT) + 1))


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
    return _format(diag, SourceLines(source_text))


# The errors `fluentai jit`/`compile` print by default (`--max-errors`): a 1 MiB source can
# hold 524K undefined names, and printing them all took half a minute; the first 100 say
# what is wrong. Warnings are not counted and always shown.
DEFAULT_MAX_ERRORS = 100


def format_diagnostics(diags: Iterable[Diagnostic], source_text: Optional[str],
                       max_errors: int = 0) -> str:
    """Several diagnostics, one block each, separated by newlines (no final newline).
    With ``max_errors`` > 0 only the first that many errors are shown, then one line
    saying how many more there are."""
    lines = SourceLines(source_text)
    shown: list[str] = []
    errors = 0
    for d in diags:
        if d.severity == ERROR:
            errors += 1
            if max_errors and errors > max_errors:
                continue
        shown.append(_format(d, lines))
    if max_errors and errors > max_errors:
        more = errors - max_errors
        shown.append(f"note: {more} more error{'s' if more != 1 else ''} not shown "
                     f"(--max-errors N shows the first N, 0 all)")
    return "\n".join(shown)


class SourceLines:
    """The lines of a source text, found through one index so that formatting many
    diagnostics of a large source stays linear."""

    def __init__(self, text: Optional[str]):
        self.text = text
        self._starts: Optional[list[int]] = None
        # The last line asked for: the errors of one long line (524K in a 1 MiB one)
        # would each copy it again.
        self._last: tuple[int, Optional[str]] = (0, None)

    def line(self, number: int) -> Optional[str]:
        """Line ``number`` (1-based) without its line break, or None past the end."""
        if self.text is None or number < 1:
            return None
        if self._last[0] == number:
            return self._last[1]
        if self._starts is None:
            self._starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        if number > len(self._starts):
            return None
        start = self._starts[number - 1]
        end = self._starts[number] - 1 if number < len(self._starts) else len(self.text)
        # Text that did not come through the reader may still end its lines with CRLF.
        line = self.text[start:end].removesuffix("\r")
        self._last = (number, line)
        return line


def _format(diag: Diagnostic, lines: SourceLines) -> str:
    out = [_header(diag)]
    source_line = lines.line(diag.span.line) if diag.span is not None else None
    if source_line is not None:
        shown, carets = excerpt(source_line, diag.span)
        out.append(f"{diag.span.line:>5} | {shown}")
        out.append(_GUTTER + carets)
    out.extend(_NOTE_PREFIX + note for note in diag.notes)
    out.extend(_HELP_PREFIX + text for text in diag.helps)
    return "\n".join(out)


class CompileError(Exception):
    """Compilation failed; ``diagnostics`` lists every error found, in source order."""

    def __init__(self, diagnostics: Iterable[Diagnostic], source_text: Optional[str] = None):
        self.diagnostics = list(diagnostics)
        self.source_text = source_text
        super().__init__()

    def __str__(self) -> str:
        # Formatted when asked for, not when raised: the command line formats the
        # errors itself, under its --max-errors limit.
        return format_diagnostics(self.diagnostics, self.source_text)


def _header(diag: Diagnostic) -> str:
    label = f"{diag.severity}[{diag.code}]: {_clip_quoted(diag.message)}"
    if diag.span is None:
        return label
    return f"{diag.span}: {label}"


def _clip_quoted(message: str) -> str:
    """``message`` with every `quoted` source text longer than ``QUOTED_WIDTH`` cut in the
    middle: a 100 KiB identifier is named, not printed."""
    def clip(found: "re.Match[str]") -> str:
        text = found.group(1)
        keep = QUOTED_WIDTH // 2
        return f"`{text[:keep]}{_CUT}{text[-keep:]}`"
    return _LONG_QUOTED.sub(clip, message)


def _acts_on_terminal(ch: str) -> bool:
    code = ord(ch)
    return ((code < 0x20 and ch != "\t") or 0x7F <= code <= 0x9F
            or 0x2028 <= code <= 0x202E or 0x2066 <= code <= 0x2069)


_ACTS_ON_TERMINAL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069]")


def excerpt(line: str, span: "Span") -> tuple[str, str]:
    """The source line as printed and the caret line under it.

    Characters that a terminal would act on (C0 and C1 controls, DEL, the line and
    paragraph separators, the bidirectional controls) are shown as ``\\u{1b}``, the way
    written strings show control characters; tabs are kept, and the
    caret line's padding copies them so the carets line up. A line longer than
    ``EXCERPT_WIDTH`` characters is clipped to a window around the span's start, with
    ``...`` marking each cut. At least one caret is printed, past the end of the line if
    the span starts there. The runtime's reports (``runtime_c/error.c``) do the same.
    """
    start = max(span.col - 1, 0)
    end = span.end_col - 1 if span.end_line == span.line else len(line)
    end = max(min(end, len(line)), start + 1)
    low, high = 0, len(line)
    if high > EXCERPT_WIDTH:
        low = max(0, min(start - EXCERPT_CONTEXT, high - EXCERPT_WIDTH))
        high = low + EXCERPT_WIDTH
    if not _ACTS_ON_TERMINAL.search(line, low, high):
        # Nothing to escape (almost every line): slices instead of a loop per character,
        # which cost 80 us per report of a long line (524K reports: 40 s).
        before = line[low:min(start, high)]
        padding_text = (" " * len(before) if "\t" not in before
                        else "".join("\t" if ch == "\t" else " " for ch in before))
        carets_text = "^" * max(min(end, high) - start, 1)
        return ((_CUT if low > 0 else "") + line[low:high] + (_CUT if high < len(line) else ""),
                (" " * len(_CUT) if low > 0 else "") + padding_text
                + (" " * (start - high) if start >= high else "") + carets_text)
    shown: list[str] = []
    padding: list[str] = []
    if low > 0:
        shown.append(_CUT)
        padding.append(" " * len(_CUT))
    carets = 0
    for index in range(low, high):
        ch = line[index]
        visible = f"\\u{{{ord(ch):x}}}" if _acts_on_terminal(ch) else ch
        shown.append(visible)
        if index < start:
            padding.append("\t" if ch == "\t" else " " * len(visible))
        elif index < end:
            carets += len(visible)
    if high < len(line):
        shown.append(_CUT)
    if start >= high:
        padding.append(" " * (start - high))
    return "".join(shown), "".join(padding) + "^" * max(carets, 1)
