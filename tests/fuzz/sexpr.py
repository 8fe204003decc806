"""The S-expressions generated programs are built from, and their FluentAI source text.

In: Python values standing for FluentAI syntax: `int`, `float`, `str` (a string literal),
`bool`, `None` (`nil`), `Sym`, `Kw`, `Form` (a parenthesised form), `Vec` (a `[...]` list
literal), `MapLit` (a `{...}` map literal).
Out: `to_source(x)`, the text the compiler reads; one top-level form per line, so the line of
any sub-form is the line of its top-level form (the reference evaluator relies on it).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Sym:
    name: str


@dataclass(frozen=True)
class Kw:
    name: str


class Form(tuple):
    """`(a b c)`."""
    __slots__ = ()


class Vec(tuple):
    """`[a b c]`."""
    __slots__ = ()


class MapLit(tuple):
    """`{k v k v}`: the flat sequence of keys and values."""
    __slots__ = ()


def form(*items) -> Form:
    return Form(items)


def sym(name: str) -> Sym:
    return Sym(name)


_STRING_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def string_literal(text: str) -> str:
    out = []
    for ch in text:
        if ch in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def float_literal(value: float) -> str:
    # `inf` and `nan` are not literals: they are written as the arithmetic that makes them
    if math.isinf(value):
        return "(/ 1.0 0.0)" if value > 0 else "(/ -1.0 0.0)"
    if math.isnan(value):
        return "(/ 0.0 0.0)"
    return repr(value)


def to_source(x) -> str:
    if x is None:
        return "nil"
    if x is True:
        return "true"
    if x is False:
        return "false"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return float_literal(x)
    if isinstance(x, str):
        return string_literal(x)
    if isinstance(x, Sym):
        return x.name
    if isinstance(x, Kw):
        return ":" + x.name
    if isinstance(x, Form):
        return "(" + " ".join(to_source(item) for item in x) + ")"
    if isinstance(x, Vec):
        return "[" + " ".join(to_source(item) for item in x) + "]"
    if isinstance(x, MapLit):
        return "{" + " ".join(to_source(item) for item in x) + "}"
    raise TypeError(f"not an S-expression: {x!r}")


def program_source(forms) -> str:
    return "".join(to_source(f) + "\n" for f in forms)


def subforms(x):
    """The direct children of a compound S-expression (empty for atoms)."""
    if isinstance(x, (Form, Vec, MapLit)):
        return list(x)
    return []


def rebuild(x, children):
    """`x` with its children replaced (same kind of bracket)."""
    return type(x)(children)


_READ_TOKEN = re.compile(r'\s+|;[^\n]*|"(?:[^"\\]|\\.)*"|[()\[\]{}]|[^\s()\[\]{}";]+')
_READ_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "0": "\0"}


def read(text: str) -> list:
    """The S-expressions of a small hand-written program (the tests' reference cases): the
    inverse of `program_source` for the syntax above, without `\\u{...}` escapes."""
    tokens = [t for t in _READ_TOKEN.findall(text) if t.strip() and not t.startswith(";")]
    closers = {"(": (")", Form), "[": ("]", Vec), "{": ("}", MapLit)}
    pos = 0

    def atom(tok):
        if tok.startswith('"'):
            return re.sub(r"\\(.)", lambda m: _READ_ESCAPES[m[1]], tok[1:-1])
        if tok in ("true", "false", "nil"):
            return {"true": True, "false": False, "nil": None}[tok]
        if tok.startswith(":") and len(tok) > 1:
            return Kw(tok[1:])
        for number in (int, float):
            try:
                return number(tok)
            except ValueError:
                pass
        return Sym(tok)

    def one():
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok not in closers:
            return atom(tok)
        closer, kind = closers[tok]
        items = []
        while tokens[pos] != closer:
            items.append(one())
        pos += 1
        return kind(items)

    forms = []
    while pos < len(tokens):
        forms.append(one())
    return forms
