"""The parser: data from the reader in, core syntax tree (``ast.py``) out, derived forms desugared.

In: the top-level ``Datum`` list of ``reader.read``. Out: a ``ParseResult`` holding an
unresolved ``ast.Program`` (every ``Ref.binding`` still None), the table of top-level
names and every ``syntax-error`` found.

Desugaring (LANGUAGE.md section 3): ``cond`` -> nested ``If``; ``when``/``unless`` -> ``If``;
``let*`` -> ``Let``; named ``let`` -> ``Letrec`` of a lambda called at once; ``define``s at
the start of a body -> ``Letrec`` around the rest; ``(define (f ...) ...)`` -> a ``Lambda``
named ``f``; top-level ``begin``/``do`` are spliced, so the defines inside them are global.
A list form whose head names an effect operation (``io:print``) is a ``Perform``.

Special-form names and effect operations are special only at the head of a list form and
only when no local variable of that name is in scope (a local shadows them, as in Scheme);
a name with ':' defined at top level is called like any function, not performed.

A malformed form becomes one diagnostic at that form and a ``nil`` placeholder, so one
pass reports every syntax error of the program.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from fluentai.diagnostics import Diagnostic
from fluentai.frontend.ast import (
    GLOBAL, LOCAL, And, Binding, Call, Const, ConstValue, DataCtor, DataDecl, Define, Expr,
    Handler, HandlerClause, If, Keyword, Lambda, Let, Letrec, ListLit, MapLit, Match,
    MatchClause, Or, Pattern, PCtor, PList, PLit, Perform, Program, PVar, PWild, Ref, Seq,
    Span, Symbol, SELECT_RECEIVE, SELECT_RECV, SELECT_SEND, Await, Select, SelectClause, Spawn,
)
from fluentai.frontend.reader import (
    SYNTAX_ERROR, Datum, DConst, DKeyword, DList, DMap, DQuote, DSymbol,
)


@dataclass
class ParseResult:
    program: Program
    globals_by_name: dict[str, Binding]    # every top-level name, in first-definition order
    diagnostics: list[Diagnostic]


def parse(data: list[Datum], filename: str, source: str,
          predeclared: tuple[str, ...] = ()) -> ParseResult:
    """``predeclared``: globals defined by earlier inputs of a REPL session; they
    take the first slots, in this order, so slots stay stable across inputs."""
    parser = _Parser()
    for name in predeclared:
        parser.globals[name] = Binding(name, GLOBAL, None)
        if ":" in name:
            parser.colon_globals.add(name)
    forms = parser.parse_top_level(data)
    program = Program(filename, source, forms, nesting_depth=parser.largest_pattern)
    return ParseResult(program, parser.globals, parser.diagnostics)


class ParseProblem(Exception):
    """A malformed form: reported at the innermost enclosing form, which becomes ``nil``."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _is_list(d: Datum) -> bool:
    """A list in either bracket style: binding lists, parameters and clauses accept both."""
    return type(d) is DList


def _is_symbol(d: Datum, name: str) -> bool:
    return type(d) is DSymbol and d.name == name


def _span_over(first: Span, last: Span) -> Span:
    return Span(first.filename, first.line, first.col, last.end_line, last.end_col)


def _arguments(n: int) -> str:
    return f"{n} argument" if n == 1 else f"{n} arguments"


def _shown(d: Datum) -> str:
    """A short description of a datum for messages."""
    t = type(d)
    if t is DSymbol:
        return f"`{d.name}`"
    if t is DKeyword:
        return f"`:{d.name}`"
    if t is DConst:
        return "a string" if isinstance(d.value, str) else f"`{_written_const(d.value)}`"
    return {DList: "a list", DMap: "a map"}.get(t, "a quoted datum")


def _written_const(value: object) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


class _Parser:
    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        # Names of the local variables in scope (with multiplicity): they shadow special forms.
        self.locals: dict[str, int] = {}
        self.globals: dict[str, Binding] = {}
        # Top-level names containing ':' are functions, not effect operations, when called.
        self.colon_globals: set[str] = set()
        # Pattern nodes parsed so far, and the most in one match clause (Program.nesting_depth).
        self.pattern_nodes = 0
        self.largest_pattern = 0

    # ---- top level ----

    def parse_top_level(self, data: list[Datum]) -> list[Expr]:
        forms = self._splice_top_level_begins(data)
        self._declare_globals(forms)
        return [self._guarded(self._top_level_form, d) for d in forms]

    def _splice_top_level_begins(self, data: list[Datum]) -> list[Datum]:
        """Top-level forms with ``(begin ...)``/``(do ...)`` replaced by their contents."""
        spliced: list[Datum] = []
        pending: list[Iterator[Datum]] = [iter(data)]
        while pending:
            d = next(pending[-1], None)
            if d is None:
                pending.pop()
            elif (self._is_form(d, "begin") or self._is_form(d, "do")) and len(d.items) > 1:
                pending.append(iter(d.items[1:]))
            else:
                spliced.append(d)
        return spliced

    def _declare_globals(self, forms: list[Datum]) -> None:
        """Bind every top-level name first: top-level definitions are mutually visible."""
        for d in forms:
            if self._is_form(d, "define") and len(d.items) >= 2:
                target = d.items[1]
                if type(target) is DList and target.items and type(target.items[0]) is DSymbol:
                    target = target.items[0]
                if type(target) is DSymbol:
                    self._declare_global(target)
            elif self._is_form(d, "data"):
                for ctor in d.items[2:]:
                    if type(ctor) is DList and ctor.items and type(ctor.items[0]) is DSymbol:
                        self._declare_global(ctor.items[0])

    def _declare_global(self, name: DSymbol) -> None:
        # A redefinition reuses the first binding: one slot, the later define wins at run time.
        if name.name not in self.globals:
            self.globals[name.name] = Binding(name.name, GLOBAL, name.span)
            if ":" in name.name:
                self.colon_globals.add(name.name)

    def _top_level_form(self, d: Datum) -> Expr:
        if self._is_form(d, "define"):
            target = self._define_target(d)
            value = self._define_value(d, target)
            return Define(d.span, self.globals[target.name], value)
        if self._is_form(d, "data"):
            return self._data(d)
        return self.expr(d)

    # ---- expressions ----

    def expr(self, d: Datum) -> Expr:
        t = type(d)
        if t is DSymbol:
            return Ref(d.span, d.name)
        if t is DConst:
            return Const(d.span, d.value)
        if t is DKeyword:
            return Const(d.span, Keyword(d.name))
        if t is DList:
            if d.bracket == "[":
                folded = _constant_list(d.items, d.span)
                return folded or ListLit(d.span, [self.expr(item) for item in d.items])
            return self._guarded(self._list_form, d)
        if t is DMap:
            items = d.items
            folded = _constant_list(items, d.span, 2 * FOLDED_LIST_MIN)
            if folded is not None:
                return MapLit(d.span, [], folded.value)
            return MapLit(d.span, [(self.expr(items[i]), self.expr(items[i + 1]))
                                   for i in range(0, len(items), 2)])
        return self._guarded(lambda q: Const(q.span, self._quoted(q.datum)), d)

    def _guarded(self, parse_form: Callable[[Datum], Expr], d: Datum) -> Expr:
        """``parse_form(d)``, or ``nil`` after reporting ``d`` if it is malformed."""
        try:
            return parse_form(d)
        except ParseProblem as problem:
            self._report(problem, d)
            return Const(d.span, None)

    def _report(self, problem: ParseProblem, form: Datum) -> None:
        self.diagnostics.append(Diagnostic(SYNTAX_ERROR, problem.message, form.span))

    def _list_form(self, d: DList) -> Expr:
        items = d.items
        if not items:
            return Const(d.span, ())
        head = items[0]
        if type(head) is DSymbol and head.name not in self.locals:
            special = _SPECIAL_FORMS.get(head.name)
            if special is not None:
                return special(self, d)
            if ":" in head.name and head.name not in self.colon_globals:
                return Perform(d.span, self._operation_name(head), self._exprs(items[1:]))
            if head.name == "list" and head.name not in self.globals:
                folded = _constant_list(items[1:], d.span)
                if folded is not None:
                    return folded
        return Call(d.span, self.expr(head), self._exprs(items[1:]))

    def _exprs(self, data: list[Datum]) -> list[Expr]:
        return [self.expr(d) for d in data]

    def _is_form(self, d: Datum, keyword: str) -> bool:
        """``d`` is ``(keyword ...)`` and ``keyword`` is not shadowed by a local."""
        return (type(d) is DList and d.bracket == "(" and bool(d.items)
                and _is_symbol(d.items[0], keyword) and keyword not in self.locals)

    # ---- scopes (only names: the resolver links references) ----

    @contextmanager
    def _scope(self, names: list[str]) -> Iterator[None]:
        for name in names:
            self.locals[name] = self.locals.get(name, 0) + 1
        try:
            yield
        finally:
            for name in names:
                self._forget_local(name)

    def _forget_local(self, name: str) -> None:
        count = self.locals[name] - 1
        if count:
            self.locals[name] = count
        else:
            del self.locals[name]

    # ---- bodies ----

    def _body(self, forms: list[Datum], what: str) -> Expr:
        """A body: leading ``define``s become a ``Letrec`` around the remaining expressions."""
        if not forms:
            raise ParseProblem(f"`{what}` needs a body")
        count = 0
        while count < len(forms) and self._is_form(forms[count], "define"):
            count += 1
        if count == 0:
            return self._sequence(forms)
        if count == len(forms):
            raise ParseProblem("a body must end with an expression after its definitions")
        return self._body_with_defines(forms[:count], forms[count:])

    def _body_with_defines(self, defines: list[DList], rest: list[Datum]) -> Expr:
        targets: list[tuple[DList, DSymbol, Binding]] = []
        seen: set[str] = set()
        for d in defines:
            try:
                target = self._define_target(d)
                if target.name in seen:
                    raise ParseProblem(f"duplicate definition of `{target.name}` in this body")
            except ParseProblem as problem:
                self._report(problem, d)
                continue
            seen.add(target.name)
            targets.append((d, target, Binding(target.name, LOCAL, target.span)))
        with self._scope([t.name for _, t, _ in targets]):
            bindings = [(binding, self._guarded(lambda d, t=target: self._define_value(d, t), d))
                        for d, target, binding in targets]
            body = self._sequence(rest)
        return Letrec(_span_over(defines[0].span, rest[-1].span), bindings, body)

    def _sequence(self, forms: list[Datum]) -> Expr:
        exprs = self._exprs(forms)
        if len(exprs) == 1:
            return exprs[0]
        return Seq(_span_over(forms[0].span, forms[-1].span), exprs)

    # ---- define and lambda ----

    def _define_target(self, d: DList) -> DSymbol:
        """The name a define binds; checks only the shape of ``(define name ...)``."""
        items = d.items
        if len(items) < 2:
            raise ParseProblem("`define` needs a name and a value: (define name value) "
                               "or (define (f args...) body...)")
        target = items[1]
        if type(target) is DSymbol:
            return target
        if type(target) is DList and target.items and type(target.items[0]) is DSymbol:
            return target.items[0]
        raise ParseProblem(f"`define` needs a name or (name parameters...), got {_shown(target)}")

    def _define_value(self, d: DList, name: DSymbol) -> Expr:
        items = d.items
        if items[1] is name:
            if len(items) != 3:
                raise ParseProblem(f"`define` of a variable takes exactly one value: "
                                   f"(define {name.name} value)")
            value = self.expr(items[2])
            if type(value) is Lambda and value.name is None:
                value.name = name.name
            return value
        params, rest = self._params(items[1].items[1:])
        body = self._function_body(params, rest, items[2:], "define")
        return Lambda(d.span, params, rest, body, name=name.name)

    def _lambda(self, d: DList) -> Expr:
        items = d.items
        if len(items) < 2 or not _is_list(items[1]):
            raise ParseProblem("`lambda` parameters must be a list")
        params, rest = self._params(items[1].items)
        return Lambda(d.span, params, rest, self._function_body(params, rest, items[2:], "lambda"))

    def _function_body(self, params: list[Binding], rest: Optional[Binding], forms: list[Datum],
                       what: str) -> Expr:
        names = [p.name for p in params] + ([rest.name] if rest else [])
        with self._scope(names):
            return self._body(forms, what)

    def _params(self, items: list[Datum]) -> tuple[list[Binding], Optional[Binding]]:
        """``(a b)`` or ``(a b . rest)``: the parameters and the rest parameter."""
        params: list[Binding] = []
        rest: Optional[Binding] = None
        seen: set[str] = set()
        for index, item in enumerate(items):
            if type(item) is not DSymbol:
                raise ParseProblem(f"a parameter must be a name, got {_shown(item)}")
            if item.name == ".":
                last = items[-1]
                if index != len(items) - 2 or type(last) is not DSymbol or last.name == ".":
                    raise ParseProblem("`.` must be followed by exactly one rest-parameter name")
                rest = self._new_param(last, seen)
                break
            params.append(self._new_param(item, seen))
        return params, rest

    @staticmethod
    def _new_param(name: DSymbol, seen: set[str]) -> Binding:
        if name.name in seen:
            raise ParseProblem(f"duplicate parameter `{name.name}`")
        seen.add(name.name)
        return Binding(name.name, LOCAL, name.span)

    @staticmethod
    def _new_binding(name: DSymbol, seen: set[str], keyword: str) -> Binding:
        if name.name in seen:
            raise ParseProblem(f"duplicate binding `{name.name}` in `{keyword}`")
        seen.add(name.name)
        return Binding(name.name, LOCAL, name.span)

    # ---- let family ----

    def _let(self, d: DList) -> Expr:
        keyword = d.items[0].name
        items = d.items
        if len(items) >= 2 and type(items[1]) is DSymbol:
            return self._named_let(d, keyword)
        if len(items) < 2:
            raise ParseProblem(f"`{keyword}` needs a list of bindings and a body: "
                               f"({keyword} ((x 1)) body...)")
        pairs = self._binding_pairs(items[1], keyword)
        bindings: list[tuple[Binding, Expr]] = []
        bound: list[str] = []
        try:
            for name, init in pairs:
                bindings.append((Binding(name.name, LOCAL, name.span), self.expr(init)))
                self.locals[name.name] = self.locals.get(name.name, 0) + 1
                bound.append(name.name)
            body = self._body(items[2:], keyword)
        finally:
            for name in bound:
                self._forget_local(name)
        return Let(d.span, bindings, body)

    def _binding_pairs(self, d: Datum, keyword: str) -> list[tuple[DSymbol, Datum]]:
        message = f"`{keyword}` bindings must be a list of (name value) pairs"
        if not _is_list(d):
            raise ParseProblem(message)
        pairs = []
        for pair in d.items:
            if not (_is_list(pair) and len(pair.items) == 2 and type(pair.items[0]) is DSymbol):
                raise ParseProblem(message)
            pairs.append((pair.items[0], pair.items[1]))
        return pairs

    def _named_let(self, d: DList, keyword: str) -> Expr:
        """``(let loop ((i 0)) body)`` -> ``Letrec([(loop, Lambda)], Call(loop, inits))``."""
        items = d.items
        name = items[1]
        if len(items) < 3:
            raise ParseProblem(f"named `{keyword}` needs bindings and a body: "
                               f"({keyword} {name.name} ((i 0)) body...)")
        pairs = self._binding_pairs(items[2], keyword)
        seen: set[str] = set()
        params = [self._new_param(param, seen) for param, _ in pairs]
        inits = [self.expr(init) for _, init in pairs]
        loop = Binding(name.name, LOCAL, name.span)
        with self._scope([loop.name]):
            body = self._function_body(params, None, items[3:], keyword)
        function = Lambda(d.span, params, None, body, name=loop.name)
        if not any(_mentions(init, loop.name) for _, init in pairs):
            call = Call(d.span, Ref(name.span, loop.name), inits)
            return Letrec(d.span, [(loop, function)], call)
        # The inits belong to the outer scope, where `loop` may mean something else:
        # evaluate them first into names no program can spell.
        temps = [Binding(f" {loop.name}-init-{i}", LOCAL, init.span) for i, init in enumerate(inits)]
        call = Call(d.span, Ref(name.span, loop.name), [Ref(t.span, t.name) for t in temps])
        return Let(d.span, list(zip(temps, inits)), Letrec(d.span, [(loop, function)], call))

    def _letrec(self, d: DList) -> Expr:
        items = d.items
        if len(items) < 2:
            raise ParseProblem("`letrec` needs a list of bindings and a body: (letrec ((f ...)) body...)")
        pairs = self._binding_pairs(items[1], "letrec")
        seen: set[str] = set()
        names = [self._new_binding(name, seen, "letrec") for name, _ in pairs]
        with self._scope([b.name for b in names]):
            bindings = [(binding, self.expr(init)) for binding, (_, init) in zip(names, pairs)]
            body = self._body(items[2:], "letrec")
        return Letrec(d.span, bindings, body)

    # ---- conditionals and sequences ----

    def _if(self, d: DList) -> Expr:
        count = len(d.items) - 1
        if count not in (2, 3):
            raise ParseProblem("`if` takes a condition, a then-branch and an optional "
                               f"else-branch, got {_arguments(count)}")
        test, then = self.expr(d.items[1]), self.expr(d.items[2])
        orelse = self.expr(d.items[3]) if count == 3 else None
        return If(d.span, test, then, orelse)

    def _cond(self, d: DList) -> Expr:
        clauses = d.items[1:]
        parsed = [self._cond_clause(clause, clause is clauses[-1]) for clause in clauses]
        result: Optional[Expr] = None          # what runs when no earlier clause matched
        for index in range(len(parsed) - 1, -1, -1):
            test, body = parsed[index]
            span = d.span if index == 0 else clauses[index].span
            if test is None:                   # else
                result = body
            elif body is None:                 # (test): the test's own value
                result = Or(span, [test, result if result is not None else Const(span, None)])
            else:
                result = If(span, test, body, result)
        return result if result is not None else Const(d.span, None)

    def _cond_clause(self, clause: Datum, is_last: bool) -> tuple[Optional[Expr], Optional[Expr]]:
        if not _is_list(clause) or not clause.items:
            raise ParseProblem("a `cond` clause must be a list (test body...)")
        head, forms = clause.items[0], clause.items[1:]
        if _is_symbol(head, "else") and "else" not in self.locals:
            if not is_last:
                raise ParseProblem("`else` must be the last clause of `cond`")
            return None, self._body(forms, "else")
        return self.expr(head), (self._body(forms, "cond") if forms else None)

    def _when(self, d: DList) -> Expr:
        keyword = d.items[0].name
        if len(d.items) < 3:
            raise ParseProblem(f"`{keyword}` needs a condition and a body")
        test = self.expr(d.items[1])
        body = self._body(d.items[2:], keyword)
        if keyword == "when":
            return If(d.span, test, body, None)
        return If(d.span, test, Const(d.span, None), body)

    def _begin(self, d: DList) -> Expr:
        if len(d.items) == 1:
            return Const(d.span, None)
        return self._body(d.items[1:], d.items[0].name)

    def _and(self, d: DList) -> Expr:
        return And(d.span, self._exprs(d.items[1:]))

    def _or(self, d: DList) -> Expr:
        return Or(d.span, self._exprs(d.items[1:]))

    def _misplaced_define(self, d: DList) -> Expr:
        raise ParseProblem("`define` is only allowed at top level or at the start of a body")

    def _misplaced_data(self, d: DList) -> Expr:
        raise ParseProblem("`data` declarations are only allowed at top level")

    # ---- quote ----

    def _quote(self, d: DList) -> Expr:
        if len(d.items) != 2:
            raise ParseProblem("`quote` takes exactly one datum: (quote x) or 'x")
        return Const(d.span, self._quoted(d.items[1]))

    def _quoted(self, d: Datum) -> ConstValue:
        """The datum itself as a constant: symbols, tuples for lists, a dict for a map."""
        t = type(d)
        if t is DConst:
            return d.value
        if t is DSymbol:
            return Symbol(d.name)
        if t is DKeyword:
            return Keyword(d.name)
        if t is DList:
            return tuple([self._quoted(item) for item in d.items])
        if t is DQuote:
            return (Symbol("quote"), self._quoted(d.datum))
        return self._quoted_map(d)

    def _quoted_map(self, d: DMap) -> dict:
        result: dict = {}
        items = d.items
        for i in range(0, len(items), 2):
            key = self._quoted(items[i])
            try:
                collides = key in result
            except TypeError:
                raise ParseProblem("a key of a quoted map cannot contain a map") from None
            if collides and not _same_value(next(k for k in result if k == key), key):
                # Python's dict would merge them (True == 1); the language keeps them apart.
                raise ParseProblem("this quoted map mixes keys that are equal in Python "
                                   "but not in FluentAI (a boolean and a number); "
                                   "build it with a map literal instead")
            result[key] = self._quoted(items[i + 1])
        return result

    # ---- effects ----

    def _operation_name(self, name: DSymbol) -> str:
        effect, _, operation = name.name.partition(":")
        if not effect or not operation:
            raise ParseProblem(f"malformed effect operation `{name.name}`: write it "
                               "effect:operation, e.g. io:print")
        return name.name

    def _effect(self, d: DList) -> Expr:
        items = d.items
        if len(items) < 2 or type(items[1]) is not DSymbol or ":" not in items[1].name:
            got = f", got {_shown(items[1])}" if len(items) > 1 else ""
            raise ParseProblem(f"`effect` needs an operation name written effect:operation, "
                               f"e.g. (effect io:print \"hi\"){got}")
        return Perform(d.span, self._operation_name(items[1]), self._exprs(items[2:]))

    def _thunk(self, span: Span, forms: list[Datum], what: str) -> Lambda:
        return Lambda(span, [], None, self._function_body([], None, forms, what))

    def _async(self, d: DList) -> Expr:
        """(async (params) body...) is a function each call of which starts a task."""
        items = d.items
        if len(items) < 3 or not _is_list(items[1]):
            raise ParseProblem("`async` needs a parameter list and a body: (async (x) body...)")
        params, rest = self._params(items[1].items)
        names = [p.name for p in params] + ([rest.name] if rest else [])
        with self._scope(names):
            thunk = self._thunk(d.span, items[2:], "async")
        return Lambda(d.span, params, rest, Spawn(d.span, thunk, at_call_site=True))

    def _go(self, d: DList) -> Expr:
        if len(d.items) < 2:
            raise ParseProblem("`go` needs a body: (go expr...)")
        return Spawn(d.span, self._thunk(d.span, d.items[1:], "go"))

    def _await(self, d: DList) -> Expr:
        if len(d.items) != 2:
            raise ParseProblem(f"`await` takes one promise, got {_arguments(len(d.items) - 1)}")
        return Await(d.span, self.expr(d.items[1]))

    _SELECT_KINDS = {"recv!": (SELECT_RECV, 1), "receive!": (SELECT_RECEIVE, 1),
                     "send!": (SELECT_SEND, 2)}

    def _select(self, d: DList) -> Expr:
        clauses, default = [], None
        items = d.items[1:]
        for i, clause in enumerate(items):
            if _is_list(clause) and clause.items and _is_symbol(clause.items[0], "default"):
                if i != len(items) - 1:
                    raise ParseProblem("`default` must be the last clause of `select`")
                default = self._thunk(clause.span, clause.items[1:], "default")
                continue
            clauses.append(self._select_clause(clause))
        if not clauses:
            raise ParseProblem("`select` needs at least one channel clause")
        return Select(d.span, clauses, default)

    def _select_clause(self, clause: Datum) -> SelectClause:
        shape = ("a `select` clause must be ((recv! ch) fn), ((receive! ch) fn), "
                 "((send! ch v) fn) or (default body...)")
        if not (_is_list(clause) and len(clause.items) == 2 and _is_list(clause.items[0])):
            raise ParseProblem(shape)
        op = clause.items[0]
        head = op.items[0] if op.items else None
        if type(head) is not DSymbol or head.name not in self._SELECT_KINDS:
            raise ParseProblem(shape)
        kind, nargs = self._SELECT_KINDS[head.name]
        if len(op.items) != 1 + nargs:
            raise ParseProblem(f"`{head.name}` in `select` takes {_arguments(nargs)}")
        channel = self.expr(op.items[1])
        value = self.expr(op.items[2]) if nargs == 2 else None
        return SelectClause(kind, channel, value, self.expr(clause.items[1]), clause.span)

    def _handler(self, d: DList) -> Expr:
        items = d.items
        if len(items) < 2 or not _is_list(items[1]):
            raise ParseProblem("`handler` needs a list of clauses and a body: "
                               "(handler ((io:print f) (error g)) body...)")
        clauses = [self._handler_clause(clause) for clause in items[1].items]
        return Handler(d.span, clauses, self._body(items[2:], "handler"))

    def _handler_clause(self, clause: Datum) -> HandlerClause:
        if not (_is_list(clause) and len(clause.items) == 2 and type(clause.items[0]) is DSymbol):
            raise ParseProblem("a `handler` clause must be (effect:operation function) "
                               "or (effect function)")
        name = clause.items[0]
        if ":" in name.name:
            self._operation_name(name)
        return HandlerClause(name.name, self.expr(clause.items[1]), clause.span)

    # ---- data and match ----

    def _data(self, d: DList) -> Expr:
        items = d.items
        if len(items) < 2 or type(items[1]) is not DSymbol:
            raise ParseProblem("`data` needs a type name and constructors: (data Shape (Circle r) (Square s))")
        type_name = items[1].name
        params: list[str] = []
        ctors: list[DataCtor] = []
        for item in items[2:]:
            if type(item) is DSymbol:
                params.append(self._type_parameter(item, bool(ctors)))
            else:
                ctors.append(self._constructor(item, ctors))
        if not ctors:
            raise ParseProblem(f"`data {type_name}` needs at least one constructor, e.g. ({type_name})")
        return DataDecl(d.span, type_name, params, ctors)

    @staticmethod
    def _type_parameter(item: DSymbol, after_constructors: bool) -> str:
        if after_constructors:
            raise ParseProblem("type parameters must come before the constructors")
        if not item.name[0].islower():
            raise ParseProblem(f"`{item.name}` is not a type parameter (those start with a "
                               f"lower-case letter); write a constructor as ({item.name} fields...)")
        return item.name

    def _constructor(self, item: Datum, earlier: list[DataCtor]) -> DataCtor:
        if not (type(item) is DList and item.bracket == "(" and item.items
                and type(item.items[0]) is DSymbol):
            raise ParseProblem("a constructor must be written (Name field-types...)")
        name = item.items[0]
        if any(ctor.name == name.name for ctor in earlier):
            raise ParseProblem(f"duplicate constructor `{name.name}`")
        return DataCtor(name.name, len(item.items) - 1, item.span, self.globals[name.name])

    def _match(self, d: DList) -> Expr:
        items = d.items
        if len(items) < 3:
            raise ParseProblem("`match` needs a value and at least one clause: "
                               "(match value (pattern body...) ...)")
        subject = self.expr(items[1])
        return Match(d.span, subject, [self._match_clause(clause) for clause in items[2:]])

    def _match_clause(self, clause: Datum) -> MatchClause:
        if not (_is_list(clause) and len(clause.items) >= 2):
            raise ParseProblem("a `match` clause must be (pattern body...)")
        variables: dict[str, Binding] = {}
        before = self.pattern_nodes
        pattern = self._pattern(clause.items[0], variables)
        # ir/match.py recurses once per test of a clause's pattern, not per bracket:
        # `[k (list 1 1 ... 1)]` is shallow but thousands of tests deep.
        self.largest_pattern = max(self.largest_pattern, self.pattern_nodes - before)
        with self._scope(list(variables)):
            body = self._body(clause.items[1:], "match")
        return MatchClause(pattern, body, clause.span)

    def _pattern(self, d: Datum, variables: dict[str, Binding]) -> Pattern:
        self.pattern_nodes += 1
        t = type(d)
        if t is DSymbol:
            return self._variable_pattern(d, variables)
        if t is DConst:
            return PLit(d.span, d.value)
        if t is DKeyword:
            return PLit(d.span, Keyword(d.name))
        if t is DQuote:
            return PLit(d.span, self._quoted(d.datum))
        if t is DMap:
            raise ParseProblem("a map cannot be used as a pattern")
        if d.bracket == "[" or not d.items:
            return self._list_pattern(d, variables)
        head = d.items[0]
        if type(head) is not DSymbol:
            raise ParseProblem("a constructor pattern starts with the constructor's name, e.g. (Some x)")
        if head.name == "quote" and len(d.items) == 2:
            return PLit(d.span, self._quoted(d.items[1]))
        return PCtor(d.span, head.name, [self._pattern(arg, variables) for arg in d.items[1:]])

    @staticmethod
    def _variable_pattern(d: DSymbol, variables: dict[str, Binding]) -> Pattern:
        if d.name == "_":
            return PWild(d.span)
        if d.name.startswith("..."):
            raise ParseProblem(f"`{d.name}` may only end a list pattern, e.g. [head ...tail]")
        if d.name in variables:
            raise ParseProblem(f"variable `{d.name}` appears twice in one pattern")
        binding = Binding(d.name, LOCAL, d.span)
        variables[d.name] = binding
        return PVar(d.span, binding)

    def _list_pattern(self, d: DList, variables: dict[str, Binding]) -> Pattern:
        """``[p1 p2]``, ``[p1 p2 ... rest]`` or ``[p1 ...rest]``."""
        items = d.items
        elements: list[Pattern] = []
        for index, item in enumerate(items):
            if type(item) is DSymbol and item.name.startswith("..."):
                return PList(d.span, elements, self._rest_pattern(items, index, variables))
            elements.append(self._pattern(item, variables))
        return PList(d.span, elements, None)

    def _rest_pattern(self, items: list[Datum], index: int, variables: dict[str, Binding]) -> Pattern:
        marker = items[index]
        attached = marker.name[3:]
        if attached:                           # [h ...t]
            if index != len(items) - 1:
                raise ParseProblem(f"`{marker.name}` must be the last element of a list pattern")
            return self._variable_pattern(DSymbol(marker.span, attached), variables)
        if index != len(items) - 2:            # [a b ... rest]
            raise ParseProblem("`...` must be followed by exactly one rest pattern, "
                               "at the end of the list pattern")
        return self._pattern(items[index + 1], variables)


def _mentions(d: Datum, name: str) -> bool:
    """Whether the symbol ``name`` occurs anywhere inside ``d`` (no recursion)."""
    pending = [d]
    while pending:
        d = pending.pop()
        t = type(d)
        if t is DSymbol and d.name == name:
            return True
        if t is DList or t is DMap:
            pending.extend(d.items)
        elif t is DQuote:
            pending.append(d.datum)
    return False


# A list literal (`[...]` or a call of the builtin `list`) of more elements than this, all
# of them literal constants, is parsed as a quoted constant.
FOLDED_LIST_MIN = 16


def _constant_list(items: list[Datum], span: Span, minimum: int = FOLDED_LIST_MIN) -> Optional[Const]:
    """``items`` as one constant list if they are many and all literals, else None.

    Lists are immutable and a literal has no effect, so building the list once when the
    program starts gives the same values; it spares every later stage one node per element
    (a 1 MiB `(list 1 1 ...)` was 524K IR constants, docs/bench.md)."""
    if len(items) <= minimum:
        return None
    values = []
    for item in items:
        t = type(item)
        if t is DConst:
            values.append(item.value)
        elif t is DKeyword:
            values.append(Keyword(item.name))
        else:
            return None
    return Const(span, tuple(values))


def _same_value(a: ConstValue, b: ConstValue) -> bool:
    """FluentAI equality of two constants Python considers equal (only booleans differ)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    return a == b


_SPECIAL_FORMS: dict[str, Callable[[_Parser, DList], Expr]] = {
    "define": _Parser._misplaced_define,
    "data": _Parser._misplaced_data,
    "lambda": _Parser._lambda,
    "let": _Parser._let,
    "let*": _Parser._let,
    "letrec": _Parser._letrec,
    "if": _Parser._if,
    "cond": _Parser._cond,
    "when": _Parser._when,
    "unless": _Parser._when,
    "do": _Parser._begin,
    "begin": _Parser._begin,
    "and": _Parser._and,
    "or": _Parser._or,
    "quote": _Parser._quote,
    "effect": _Parser._effect,
    "handler": _Parser._handler,
    "match": _Parser._match,
    "async": _Parser._async,
    "go": _Parser._go,
    "await": _Parser._await,
    "select": _Parser._select,
}
