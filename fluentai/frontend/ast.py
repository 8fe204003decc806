"""The core syntax tree: what the frontend hands to IR lowering.

The reader (``reader.py``) turns text into data (``Datum`` nodes with spans); the
parser (``parser.py``) turns data into these nodes, desugaring the derived forms
(``cond``, ``when``, ``unless``, ``let*``, named ``let``, body ``define``s,
``define`` of a function) into the small set below; the resolver
(``resolve.py``) then links every ``Ref`` to its ``Binding`` and fills in the
free variables of every ``Lambda``.

Invariants after resolution:
  * every ``Ref.binding`` is set; ``Binding.kind`` is LOCAL, GLOBAL or BUILTIN;
  * every ``Lambda.free`` lists the LOCAL bindings it captures, in first-use order;
  * ``Let.recursive`` is True when some init refers (from inside a lambda) to a
    binding of the same ``Let`` that is not yet initialised when the init runs.
Every node carries ``span`` (a ``Span``) for diagnostics.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union


class Span:
    """A source range; lines and columns are 1-based, ``end_col`` exclusive.

    Compared and hashed by value, and never changed once made. Not a frozen dataclass:
    the reader makes one per token, and a frozen dataclass's ``__init__`` (one
    ``object.__setattr__`` per field) tripled the cost of reading an atom.
    """
    __slots__ = ("filename", "line", "col", "end_line", "end_col")

    def __init__(self, filename: str, line: int, col: int, end_line: int, end_col: int):
        self.filename = filename
        self.line = line
        self.col = col
        self.end_line = end_line
        self.end_col = end_col

    def _key(self) -> tuple[str, int, int, int, int]:
        return (self.filename, self.line, self.col, self.end_line, self.end_col)

    def __eq__(self, other: object) -> bool:
        return type(other) is Span and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return "Span(filename={!r}, line={!r}, col={!r}, end_line={!r}, end_col={!r})".format(*self._key())

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Keyword:
    """A keyword value ``:name`` (stored without the colon)."""
    name: str


@dataclass(frozen=True)
class Symbol:
    """A symbol value, produced only by ``quote``."""
    name: str


# A constant payload: what ``Const.value`` may hold. Quoted lists are Python
# tuples of these (``'(a 1)`` -> ``(Symbol('a'), 1)``); ``None`` is nil; a quoted
# map literal is a Python dict (``'{a 1}`` -> ``{Symbol('a'): 1}``, insertion order kept).
ConstValue = Union[int, float, str, bool, None, Keyword, Symbol, tuple, dict]

LOCAL = "local"
GLOBAL = "global"
BUILTIN = "builtin"


@dataclass(eq=False)
class Binding:
    """One variable: a parameter, a let/letrec name, a top-level define or a builtin."""
    name: str
    kind: str
    span: Optional[Span] = None
    # True when a lambda other than the binder captures it.
    captured: bool = False
    # For GLOBAL: index into the program's global slots, set by the resolver.
    slot: int = -1

    def __repr__(self) -> str:
        return f"Binding({self.name!r}, {self.kind})"


@dataclass(eq=False)
class Expr:
    span: Span


@dataclass(eq=False)
class Const(Expr):
    value: ConstValue


@dataclass(eq=False)
class Ref(Expr):
    name: str
    binding: Optional[Binding] = None


@dataclass(eq=False)
class Lambda(Expr):
    params: list[Binding]
    rest: Optional[Binding]
    body: Expr
    name: Optional[str] = None           # from (define (name ...) ...) or (define name (lambda ...))
    free: list[Binding] = field(default_factory=list)


@dataclass(eq=False)
class Call(Expr):
    fn: Expr
    args: list[Expr]


@dataclass(eq=False)
class If(Expr):
    test: Expr
    then: Expr
    orelse: Optional[Expr]               # None: one-armed, yields nil


@dataclass(eq=False)
class Let(Expr):
    """Sequential bindings (section 3 of the reference); see ``recursive``."""
    bindings: list[tuple[Binding, Expr]]
    body: Expr
    recursive: bool = False


@dataclass(eq=False)
class Letrec(Expr):
    """All bindings visible in every init: letrec, named let, body defines."""
    bindings: list[tuple[Binding, Expr]]
    body: Expr


@dataclass(eq=False)
class Seq(Expr):
    """do / begin: the value of the last expression. Never empty."""
    exprs: list[Expr]


@dataclass(eq=False)
class And(Expr):
    exprs: list[Expr]                    # may be empty: true


@dataclass(eq=False)
class Or(Expr):
    exprs: list[Expr]                    # may be empty: false


@dataclass(eq=False)
class ListLit(Expr):
    items: list[Expr]


@dataclass(eq=False)
class MapLit(Expr):
    pairs: list[tuple[Expr, Expr]]
    # Many literal pairs: no ``pairs`` but the keys and values in turn, one constant list
    # (parser._constant_list), built into a map when the literal is evaluated.
    constant: Optional[tuple] = None


@dataclass(eq=False)
class Perform(Expr):
    """(effect io:print x) or (io:print x): ``op`` is the qualified name."""
    op: str
    args: list[Expr]


@dataclass(eq=False)
class HandlerClause:
    name: str                            # "io:print" (one operation) or "io" (a whole effect)
    fn: Expr
    span: Span


@dataclass(eq=False)
class Handler(Expr):
    clauses: list[HandlerClause]
    body: Expr
    # The LOCAL bindings the body uses from outside it, in first-use order (resolve.py):
    # the body runs as a thunk that captures them.
    body_free: list[Binding] = field(default_factory=list)


# ---- tasks (section 8) ----

@dataclass(eq=False)
class Spawn(Expr):
    """Start a task running ``thunk`` (a Lambda of no parameters); its value is
    the task's promise. ``(go body...)`` and the body of every call of an
    ``(async (params) body...)`` function."""
    thunk: Expr
    # For an `async` function's body: report the task as spawned at the call
    # of the function (its caller's location) rather than at the `async` form.
    at_call_site: bool = False


@dataclass(eq=False)
class Await(Expr):
    value: Expr


SELECT_RECV, SELECT_RECEIVE, SELECT_SEND = 0, 1, 2


@dataclass(eq=False)
class SelectClause:
    kind: int                            # SELECT_RECV / SELECT_RECEIVE / SELECT_SEND
    channel: Expr
    value: Optional[Expr]                # the value of a send
    fn: Expr
    span: Span


@dataclass(eq=False)
class Select(Expr):
    clauses: list[SelectClause]
    default: Optional[Expr]              # a Lambda of no parameters, or None


# ---- data types and pattern matching (section 6) ----

@dataclass(eq=False)
class Pattern:
    span: Span


@dataclass(eq=False)
class PWild(Pattern):
    pass


@dataclass(eq=False)
class PVar(Pattern):
    binding: Binding


@dataclass(eq=False)
class PLit(Pattern):
    value: ConstValue                    # int, float, str, bool, None, Keyword


@dataclass(eq=False)
class PList(Pattern):
    """[p1 p2] (rest None) or [p1 p2 ... rest] (rest a pattern, usually PVar/PWild)."""
    items: list[Pattern]
    rest: Optional[Pattern]


@dataclass(eq=False)
class PCtor(Pattern):
    name: str
    args: list[Pattern]


@dataclass(eq=False)
class MatchClause:
    pattern: Pattern
    body: Expr
    span: Span


@dataclass(eq=False)
class Match(Expr):
    subject: Expr
    clauses: list[MatchClause]


@dataclass(eq=False)
class DataCtor:
    name: str
    nfields: int
    span: Span
    binding: Optional[Binding] = None    # the GLOBAL binding of its constructor function


@dataclass(eq=False)
class DataDecl(Expr):
    """(data Type params... (Ctor fields...) ...): defines one global per constructor."""
    name: str
    params: list[str]
    ctors: list[DataCtor]


# ---- top level ----

@dataclass(eq=False)
class Define(Expr):
    """A top-level (define name expr); body defines become Letrec instead."""
    binding: Binding
    value: Expr


@dataclass(eq=False)
class Program:
    filename: str
    source: str
    forms: list[Expr]                    # Define, DataDecl or any Expr, in order
    globals: list[Binding] = field(default_factory=list)   # by slot
    # Compile-time warnings (e.g. ``arity-error`` of a known call): ``fluentai.diagnostics.Diagnostic``s
    # in source order. They do not stop compilation.
    warnings: list = field(default_factory=list)
    # Deepest bracket nesting of the source, or the most pattern nodes of one match clause
    # if that is more (match compilation recurses per test): passes that recurse over the
    # tree can give themselves room with ``fluentai.frontend.call_with_deep_stack(nesting_depth, work)``.
    nesting_depth: int = 0
