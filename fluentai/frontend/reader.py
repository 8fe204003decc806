"""The reader: source text in, a list of data (``Datum`` trees with spans) out.

The tokens are the terminals of ``grammar.lark``, compiled by lark; a loop with an explicit
stack of open brackets builds lists, maps and quotes from them, so reading never recurses
per nesting level (10,000 levels read fine, deeper is "nesting too deep"). Atoms are
classified here: numbers, strings (escapes decoded), keywords, ``true/false/#t/#f/nil``
and symbols; a token that starts like a number but is not one is a malformed number.

The first syntax error stops reading: ``CompileError`` with one ``syntax-error``
diagnostic at the offending token. ``decode_source`` turns bytes into text first and
reports invalid UTF-8 at the first bad byte.
"""
from __future__ import annotations

import bisect
import itertools
import operator
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import lark

from fluentai.diagnostics import CompileError, Diagnostic
from fluentai.frontend.ast import Span

MAX_NESTING = 10_000
SYNTAX_ERROR = "syntax-error"

INT_MIN = -(1 << 63)
INT_MAX = (1 << 63) - 1
_INT64_DIGITS = len(str(INT_MAX))


# ---- data ----

@dataclass(eq=False, slots=True)
class Datum:
    span: Span


@dataclass(eq=False, slots=True)
class DSymbol(Datum):
    name: str


@dataclass(eq=False, slots=True)
class DKeyword(Datum):
    name: str                      # without the colon


@dataclass(eq=False, slots=True)
class DConst(Datum):
    value: Union[int, float, str, bool, None]


@dataclass(eq=False, slots=True)
class DList(Datum):
    items: list[Datum]
    bracket: str                   # "(" for a list form, "[" for a list literal


@dataclass(eq=False, slots=True)
class DMap(Datum):
    items: list[Datum]             # keys and values alternating; always an even count


@dataclass(eq=False, slots=True)
class DQuote(Datum):
    """``'datum`` (the reader's shorthand; ``(quote datum)`` stays a DList)."""
    datum: Datum


@dataclass
class ReadResult:
    data: list[Datum]
    max_depth: int                 # deepest nesting seen, so callers can size their stack


# ---- decoding ----

def decode_source(source: Union[str, bytes], filename: str) -> str:
    """The program text, lines ending in LF; invalid UTF-8 (or a lone surrogate in a str)
    is a syntax error."""
    if isinstance(source, str):
        _check_encodable(source, filename)
        text = source
    else:
        text = _decode_utf8(source, filename)
    # Editors hide a byte-order mark, so columns are counted after it.
    if text.startswith("\ufeff"):
        text = text[1:]
    # CRLF and a lone CR end lines as LF does (in string literals too, as in R6RS), so
    # that every later stage counts lines and columns on LF alone.
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _decode_utf8(source: bytes, filename: str) -> str:
    try:
        return source.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = err.start
        line = source.count(b"\n", 0, bad) + 1
        line_start = source.rfind(b"\n", 0, bad) + 1
        col = len(source[line_start:bad].decode("utf-8")) + 1
        diag = Diagnostic(SYNTAX_ERROR, f"invalid UTF-8: unexpected byte 0x{source[bad]:02X}",
                          Span(filename, line, col, line, col + 1))
        raise CompileError([diag], source.decode("utf-8", errors="replace")) from None


def _check_encodable(text: str, filename: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        line, col = _line_col(text, err.start)
        diag = Diagnostic(SYNTAX_ERROR, "invalid UTF-8: the source contains a lone surrogate",
                          Span(filename, line, col, line, col + 1))
        raise CompileError([diag], text) from None


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


# ---- reading ----

class _Scanner:
    """The terminals of ``grammar.lark``, compiled by lark, scanned by one ``re`` pattern.

    lark's own token loop costs about 5 us a token in Python, and even ``finditer`` with
    a match object per token about 0.3 us. Here ``findall`` splits the whole text in C
    into (skipped text, token) pairs, and the Python loop in ``_scan`` only adds up their
    lengths. The skipped text is whitespace (and commas): every other character starts a
    token (an ATOM takes any character that is not a delimiter), so nothing is left
    between the pairs except whitespace at the very end. A comment is a token, which the
    loop drops, so that no token is ever found inside one. Tokens are told apart by their
    first character: each delimiter is a one-character terminal, a string starts with
    ``"`` and a comment with ``;``, and whatever else is an ATOM.
    """

    def __init__(self) -> None:
        grammar = (Path(__file__).parent / "grammar.lark").read_text(encoding="utf-8")
        parser = lark.Lark(grammar, parser="lalr", lexer="basic")
        skipped = [t for t in parser.terminals
                   if t.name in parser.ignore_tokens and re.fullmatch(t.pattern.to_regexp(), " ")]
        tokens = [t for t in parser.terminals if t not in skipped]
        # lark's order: higher priority first, so a closed STRING beats UNTERMINATED_STRING.
        # The ATOM goes first, in a group of its own: most tokens are atoms, and no other
        # token can start where an atom does.
        tokens.sort(key=lambda t: -t.priority)
        # One match of the whitespace terminal is a whole run of it (lark matches the
        # longest), so the gap is at most one match: `(?:X)*` over a run costs more.
        (gap,) = (t.pattern.to_regexp() for t in skipped)
        atom = _terminal(parser, "ATOM").pattern.to_regexp()
        others = "|".join(t.pattern.to_regexp() for t in tokens if t.name != "ATOM")
        self.pairs = re.compile(f"((?:{gap})?)(?:({atom})|({others}))")
        self.closed_string = re.compile(_terminal(parser, "STRING").pattern.to_regexp())
        # The one-character terminals (brackets, quote) by their character.
        self.delimiters = {t.pattern.value: t.name for t in tokens
                           if isinstance(t.pattern, lark.lexer.PatternStr) and len(t.pattern.value) == 1}
        self.string_start = '"'
        self.comment_start = _terminal(parser, "COMMENT").pattern.to_regexp()[0]


def _terminal(parser: lark.Lark, name: str) -> "lark.lexer.TerminalDef":
    return next(t for t in parser.terminals if t.name == name)


_scanner_cache: Optional[_Scanner] = None


def _scanner() -> _Scanner:
    global _scanner_cache
    if _scanner_cache is None:
        _scanner_cache = _Scanner()
    return _scanner_cache


def read(text: str, filename: str) -> ReadResult:
    """Every top-level datum of ``text``; raises CompileError at the first syntax error."""
    builder = _Builder(filename)
    try:
        _scan(text, filename, builder)
        return builder.finish()
    except ReadError as err:
        raise CompileError([err.diagnostic], text) from None


def _scan(text: str, filename: str, builder: "_Builder") -> None:
    """Feed every token of ``text``, with its span, to ``builder``.

    Atoms are most of any source, so they are classified (once per distinct text) and
    stored into the innermost open list right here; brackets, quotes and strings go
    through the builder's feeders.
    """
    scanner = _scanner()
    feeders = builder.feeders
    by_first = {char: feeders[name] for char, name in scanner.delimiters.items()}
    string = by_first[scanner.string_start] = builder.string
    by_first[scanner.comment_start] = None
    end_of_text = len(text)
    closed_string = scanner.closed_string.fullmatch
    atoms, classify = builder.atoms, builder.classify
    target = builder.target
    starts = _line_starts(text)
    line, line_start, next_line_start = 1, 0, starts[1] if len(starts) > 1 else 1 << 62
    end = 0
    for gap, atom, value in scanner.pairs.findall(text):
        start = end + len(gap)
        if start >= next_line_start:
            line = bisect.bisect_right(starts, start)
            line_start = starts[line - 1]
            next_line_start = starts[line] if line < len(starts) else 1 << 62
        col = start - line_start + 1
        if atom:
            end = start + len(atom)
            span = Span(filename, line, col, line, end - line_start + 1)
            known = atoms.get(atom)
            datum = classify(atom, span) if known is None else known[0](span, known[1])
            if target is None:           # a pending quote takes the datum
                builder.complete(datum)
                target = builder.target
            else:
                target.append(datum)
            continue
        end = start + len(value)
        feeder = by_first[value[0]]
        if feeder is None:               # a comment
            continue
        if end >= next_line_start:       # only a string token spans lines
            end_line = bisect.bisect_right(starts, end)
            end_col = end - starts[end_line - 1] + 1
        else:
            end_line, end_col = line, col + len(value)
        span = Span(filename, line, col, end_line, end_col)
        if feeder is string and end == end_of_text and not closed_string(value):
            builder.unterminated(span)
        feeder(value, span)
        target = builder.target


def _line_starts(text: str) -> list[int]:
    """The offset where each line of ``text`` starts (summed in C: one entry per line)."""
    lengths = map(operator.add, map(len, text.split("\n")), itertools.repeat(1))
    starts = list(itertools.accumulate(lengths, initial=0))
    starts.pop()                     # the start of the line after the last
    return starts


class ReadError(Exception):
    def __init__(self, message: str, span: Span):
        super().__init__(message)
        self.diagnostic = Diagnostic(SYNTAX_ERROR, message, span)


_CLOSER_OF = {"(": ")", "[": "]", "{": "}"}
_OPENER_OF = {")": "(", "]": "[", "}": "{"}
_BRACKET_NAME = {"(": "parenthesis", "[": "bracket", "{": "brace"}


class _Frame:
    """One open bracket (or a pending quote, opener "'") and the data read inside it."""
    __slots__ = ("opener", "line", "col", "items")

    def __init__(self, opener: str, line: int, col: int):
        self.opener = opener
        self.line = line
        self.col = col
        self.items: list[Datum] = []


class _Builder:
    """Receives tokens (text and span) in order and assembles the data.

    ``target`` is the list the next datum goes to (the innermost open list, or the top
    level), or None while a quote waits for its datum: then ``complete`` wraps it.
    """

    def __init__(self, filename: str):
        self.filename = filename
        self.stack: list[_Frame] = []
        self.top_level: list[Datum] = []
        self.target: Optional[list[Datum]] = self.top_level
        self.max_depth = 0
        self.atoms: dict[str, tuple[type, object]] = {}
        self.feeders = {
            "LPAREN": self._open, "LBRACKET": self._open, "LBRACE": self._open,
            "QUOTE": self._open,
            "RPAREN": self._close, "RBRACKET": self._close, "RBRACE": self._close,
        }

    def finish(self) -> ReadResult:
        if self.stack:
            frame = self.stack[-1]
            span = Span(self.filename, frame.line, frame.col, frame.line, frame.col + 1)
            if frame.opener == "'":
                raise ReadError("quote `'` at the end of the file is not followed by a datum", span)
            name = _BRACKET_NAME[frame.opener]
            raise ReadError(f"unclosed {name}: `{frame.opener}` opened at {frame.line}:{frame.col}"
                            " is never closed", span)
        return ReadResult(self.top_level, self.max_depth)

    def _open(self, opener: str, span: Span) -> None:
        if len(self.stack) >= MAX_NESTING:
            raise ReadError("nesting too deep", span)
        frame = _Frame(opener, span.line, span.col)
        self.stack.append(frame)
        self.target = None if opener == "'" else frame.items
        self.max_depth = max(self.max_depth, len(self.stack))

    def _close(self, closer: str, span: Span) -> None:
        if not self.stack:
            name = _BRACKET_NAME[_OPENER_OF[closer]]
            raise ReadError(f"unexpected `{closer}` with no open {name}", span)
        frame = self.stack[-1]
        if frame.opener == "'":
            raise ReadError(f"quote `'` is not followed by a datum (found `{closer}`)",
                            Span(self.filename, frame.line, frame.col, frame.line, frame.col + 1))
        if _CLOSER_OF[frame.opener] != closer:
            raise ReadError(f"unexpected `{closer}`: expected `{_CLOSER_OF[frame.opener]}` to close "
                            f"the {_BRACKET_NAME[frame.opener]} opened at {frame.line}:{frame.col}",
                            span)
        self.stack.pop()
        whole = Span(self.filename, frame.line, frame.col, span.end_line, span.end_col)
        if frame.opener == "{":
            self.complete(self._map(frame.items, whole))
        else:
            self.complete(DList(whole, frame.items, frame.opener))

    def _map(self, items: list[Datum], span: Span) -> DMap:
        if len(items) % 2:
            raise ReadError("map literal has an odd number of forms", span)
        return DMap(span, items)

    def complete(self, datum: Datum) -> None:
        """Add a finished datum to the innermost open list, wrapping pending quotes first."""
        stack = self.stack
        while stack and stack[-1].opener == "'":
            quote = stack.pop()
            end = datum.span
            datum = DQuote(Span(self.filename, quote.line, quote.col, end.end_line, end.end_col), datum)
        self.target = stack[-1].items if stack else self.top_level
        self.target.append(datum)

    def string(self, text: str, span: Span) -> None:
        self.complete(DConst(span, _unescape(text, span)))

    def unterminated(self, span: Span) -> None:
        raise ReadError(f"unterminated string (opened at {span.line}:{span.col})",
                        Span(self.filename, span.line, span.col, span.line, span.col + 1))

    def classify(self, text: str, span: Span) -> Datum:
        """The datum of an atom seen for the first time; its kind and payload are kept, as
        sources repeat their atoms (names, small numbers)."""
        datum = classify_atom(text, span)
        self.atoms[text] = (type(datum), datum.value if type(datum) is DConst else datum.name)
        return datum


# ---- atoms ----

_INT_RE = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?=[eE]))(?:[eE][+-]?[0-9]+)?\Z")
# A token that starts like a number must be one ("12abc" and "1.2.3" are malformed numbers).
_NUMBER_START_RE = re.compile(r"[+-]?\.?[0-9]")
_SYMBOL_RE = re.compile(r"[\w\-+*/<>=!?.%&^~$:]+\Z")
# The common case, decided by one match: a letter first, then symbol characters.
_PLAIN_SYMBOL_RE = re.compile(r"[^\W\d_][\w\-+*/<>=!?.%&^~$:]*\Z")
_SYMBOL_PUNCTUATION = set("-+*/<>=!?_.%&^~$:")
_NAMED_CONSTANTS = {"true": True, "false": False, "#t": True, "#f": False, "nil": None}


def classify_atom(text: str, span: Span) -> Datum:
    """A number, boolean, nil, keyword or symbol datum; anything else is a syntax error."""
    if text in _NAMED_CONSTANTS:
        return DConst(span, _NAMED_CONSTANTS[text])
    if _PLAIN_SYMBOL_RE.match(text):
        return DSymbol(span, text)
    if _NUMBER_START_RE.match(text):
        return DConst(span, _number(text, span))
    if text.startswith("#"):
        raise ReadError(f"unknown syntax `{text}`: only `#t` and `#f` start with `#`", span)
    if text.startswith(":"):
        return _keyword(text, span)
    _check_symbol_chars(text, span)
    return DSymbol(span, text)


def _number(text: str, span: Span) -> Union[int, float]:
    if _INT_RE.match(text):
        # Decided on the digits first: int() of a long enough literal is slow (quadratic)
        # and past 4,300 digits Python refuses it outright.
        significant = text.lstrip("+-").lstrip("0") or "0"
        if len(significant) <= _INT64_DIGITS:
            value = -int(significant) if text.startswith("-") else int(significant)
            if INT_MIN <= value <= INT_MAX:
                return value
        raise ReadError("integer literal out of the signed 64-bit range", span)
    if _FLOAT_RE.match(text):
        return float(text)          # 1e400 reads as inf, as the reference says
    raise ReadError(f"malformed number `{text}`", span)


def _keyword(text: str, span: Span) -> DKeyword:
    name = text[1:]
    if not name:
        raise ReadError("a keyword needs a name after `:`", span)
    _check_symbol_chars(name, span, offset=1)
    return DKeyword(span, name)


def _check_symbol_chars(text: str, span: Span, offset: int = 0) -> None:
    if _SYMBOL_RE.match(text):
        return
    for index, ch in enumerate(text):
        if ch not in _SYMBOL_PUNCTUATION and unicodedata.category(ch)[0] not in "LNM":
            col = span.col + offset + index
            where = Span(span.filename, span.line, col, span.line, col + 1)
            if len(text) == 1:
                raise ReadError(f"invalid character `{_show_char(ch)}`", where)
            raise ReadError(f"invalid character `{_show_char(ch)}` in `{_printable(text)}`",
                            where)


def _show_char(ch: str) -> str:
    return ch if ch.isprintable() else f"U+{ord(ch):04X}"


def _printable(text: str) -> str:
    return "".join(_show_char(ch) for ch in text)


# ---- strings ----

_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"'}
_UNICODE_ESCAPE_RE = re.compile(r"\{([0-9A-Fa-f]+)\}")


def _unescape(token: str, span: Span) -> str:
    """The value of a closed string token (quotes included in ``token``)."""
    body = token[1:-1]
    if "\\" not in body:
        return body
    parts: list[str] = []
    pos = 0
    while True:
        slash = body.find("\\", pos)
        if slash < 0:
            parts.append(body[pos:])
            return "".join(parts)
        parts.append(body[pos:slash])
        char, pos = _escape_at(body, slash, token, span)
        parts.append(char)


def _escape_at(body: str, slash: int, token: str, span: Span) -> tuple[str, int]:
    """The character of the escape starting at ``body[slash]`` and the index after it."""
    letter = body[slash + 1]        # the STRING token never ends in a lone backslash
    if letter in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[letter], slash + 2
    if letter != "u":
        where = _span_in_string(token, span, slash, slash + 2)
        shown = "a line break" if letter == "\n" else f"`\\{_show_char(letter)}`"
        raise ReadError(f"unknown escape {shown} in string "
                        "(known: \\n \\t \\r \\0 \\\\ \\\" \\u{...})", where)
    match = _UNICODE_ESCAPE_RE.match(body, slash + 2)
    if not match:
        raise ReadError("malformed unicode escape: expected `\\u{` hex digits `}`, e.g. `\\u{1F600}`",
                        _span_in_string(token, span, slash, slash + 2))
    code = int(match.group(1), 16)
    written = body[slash:match.end()]
    where = _span_in_string(token, span, slash, match.end())
    if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        raise ReadError(f"`{written}` is not a Unicode scalar value", where)
    return chr(code), match.end()


def _span_in_string(token: str, span: Span, start: int, end: int) -> Span:
    """The span of ``body[start:end]``; the body starts one character into the token."""
    line, col = _position_in_token(token, span, start + 1)
    end_line, end_col = _position_in_token(token, span, end + 1)
    return Span(span.filename, line, col, end_line, end_col)


def _position_in_token(token: str, span: Span, offset: int) -> tuple[int, int]:
    newlines = token.count("\n", 0, offset)
    if newlines == 0:
        return span.line, span.col + offset
    return span.line + newlines, offset - token.rfind("\n", 0, offset)
