"""The resolver: links every name to its binding and finds what each lambda captures.

In: the unresolved ``Program`` of ``parser.parse`` and its table of top-level names.
Out (in place): every ``Ref.binding`` set; ``Program.globals`` listed by slot
(``Binding.slot``); ``Lambda.free`` (the LOCAL bindings a lambda uses, directly or through
nested lambdas, that are bound outside it, in first-use order) and ``Binding.captured``;
``Let.recursive``. Returns the ``undefined-variable`` errors (with a 'did you mean' help
when a visible name is close, ``fluentai/suggest.py``) and the ``arity-error`` warnings,
in source order.

Scope (LANGUAGE.md sections 1 and 3): a local shadows a global shadows a builtin; all
top-level names are visible everywhere. In a ``Let`` the init of binding i sees bindings
0..i-1 (for a repeated name, the latest of them) and the outer scope; inside a lambda within
that init, the bindings i.. of the same ``Let`` are visible too (a name still unbound before
i resolves to its first later binding), which makes the ``Let`` recursive. ``Letrec``
bindings are visible everywhere in it. Match pattern variables bind in their clause body.
"""
from __future__ import annotations

from typing import Callable, Optional

from fluentai.builtins import BUILTINS
from fluentai.diagnostics import WARNING, Diagnostic
from fluentai.suggest import MAX_SUGGESTIONS, did_you_mean
from fluentai.frontend.ast import (
    BUILTIN, GLOBAL, LOCAL, And, Binding, Call, Const, DataDecl, Define, Expr, Handler, If,
    Lambda, Let, Letrec, ListLit, MapLit, Match, Or, Pattern, PCtor, Perform, PList, Program,
    PVar, Ref, Seq, Await, Select, Spawn,
)

# A scope entry: the binding and, for a binding of a ``Let`` not yet initialised, the
# lambda depth of that ``Let`` (the entry is seen only from deeper lambdas) and the ``Let``.
_Entry = tuple[Binding, int, Optional[Let]]
_BOUND = -1


def resolve(program: Program, globals_by_name: dict[str, Binding]) -> list[Diagnostic]:
    resolver = _Resolver(globals_by_name)
    program.globals = resolver.assign_slots()
    resolver.collect_arities(program.forms)
    for form in program.forms:
        resolver.expr(form)
    return resolver.diagnostics


class _Resolver:
    def __init__(self, globals_by_name: dict[str, Binding]):
        self.globals = globals_by_name
        self.builtins: dict[str, Binding] = {}
        self.scope: dict[str, list[_Entry]] = {}
        self.owner_depth: dict[Binding, int] = {}       # lambda depth where a LOCAL is bound
        self.depth = 0                                  # number of enclosing lambdas
        self.free_sets: list[dict[Binding, None]] = []  # per enclosing lambda, ordered
        self.arities: dict[Binding, tuple[int, int]] = {}
        self.diagnostics: list[Diagnostic] = []
        self.undefined = 0             # undefined names seen: only the first few get a guess
        self.visitors: dict[type, Callable[[Expr], None]] = {
            Const: self._leaf, Ref: self._ref, Lambda: self._lambda, Call: self._call,
            If: self._if, Let: self._let, Letrec: self._letrec, Seq: self._items,
            And: self._items, Or: self._items, ListLit: self._items, MapLit: self._map,
            Perform: self._perform, Handler: self._handler, Match: self._match,
            DataDecl: self._leaf, Define: self._define,
            Spawn: self._spawn, Await: self._await, Select: self._select,
        }

    # ---- globals ----

    def assign_slots(self) -> list[Binding]:
        for slot, binding in enumerate(self.globals.values()):
            binding.slot = slot
        return list(self.globals.values())

    def collect_arities(self, forms: list[Expr]) -> None:
        """Arity of each global bound exactly once to a lambda or a data constructor."""
        definitions: dict[Binding, list[Optional[tuple[int, int]]]] = {}
        for form in forms:
            if type(form) is Define:
                definitions.setdefault(form.binding, []).append(_lambda_arity(form.value))
            elif type(form) is DataDecl:
                for ctor in form.ctors:
                    definitions.setdefault(ctor.binding, []).append((ctor.nfields, ctor.nfields))
        for binding, arities in definitions.items():
            if len(arities) == 1 and arities[0] is not None:
                self.arities[binding] = arities[0]

    def _builtin(self, name: str) -> Binding:
        binding = self.builtins.get(name)
        if binding is None:
            binding = self.builtins[name] = Binding(name, BUILTIN)
        return binding

    # ---- scopes ----

    def _bind(self, binding: Binding, pending_in: Optional[Let] = None) -> None:
        self.owner_depth[binding] = self.depth
        entry = (binding, self.depth, pending_in) if pending_in else (binding, _BOUND, None)
        self.scope.setdefault(binding.name, []).append(entry)

    def _unbind(self, binding: Binding) -> None:
        self.scope[binding.name].pop()

    def _lookup(self, name: str) -> Optional[Binding]:
        for binding, let_depth, pending_in in reversed(self.scope.get(name, ())):
            if pending_in is None:
                return binding
            if self.depth > let_depth:
                pending_in.recursive = True
                return binding
        binding = self.globals.get(name)
        if binding is not None:
            return binding
        if name in BUILTINS:
            return self._builtin(name)
        return None

    def _visible_names(self) -> list[str]:
        """What a name here could have meant: locals in scope (latest bound first), then
        globals, then builtins."""
        local = [name for name, entries in reversed(self.scope.items())
                 if any(pending_in is None or self.depth > let_depth
                        for _, let_depth, pending_in in entries)]
        return local + list(self.globals) + sorted(BUILTINS)

    def _note_use(self, binding: Binding) -> None:
        """Record a LOCAL used under lambdas deeper than its binder: they all capture it."""
        owner = self.owner_depth[binding]
        if owner >= self.depth:
            return
        binding.captured = True
        for level in range(self.depth - 1, owner - 1, -1):
            free = self.free_sets[level]
            if binding in free:
                break                   # the outer lambdas already have it too
            free[binding] = None

    # ---- expressions ----

    def expr(self, node: Expr) -> None:
        self.visitors[type(node)](node)

    def _leaf(self, node: Expr) -> None:
        """Constants and data declarations name nothing to resolve."""

    def _ref(self, node: Ref) -> None:
        binding = self._lookup(node.name)
        if binding is None:
            self.undefined += 1
            helps = (did_you_mean(node.name, self._visible_names())
                     if self.undefined <= MAX_SUGGESTIONS else [])
            self.diagnostics.append(Diagnostic("undefined-variable",
                                               f"undefined variable `{node.name}`", node.span,
                                               helps=helps))
            return
        node.binding = binding
        if binding.kind == LOCAL:
            self._note_use(binding)

    def _lambda(self, node: Lambda) -> None:
        self.depth += 1
        self.free_sets.append({})
        params = node.params + ([node.rest] if node.rest else [])
        for param in params:
            self._bind(param)
        self.expr(node.body)
        for param in params:
            self._unbind(param)
        node.free = list(self.free_sets.pop())
        self.depth -= 1

    def _call(self, node: Call) -> None:
        self.expr(node.fn)
        for arg in node.args:
            self.expr(arg)
        self._check_arity(node)

    def _if(self, node: If) -> None:
        self.expr(node.test)
        self.expr(node.then)
        if node.orelse is not None:
            self.expr(node.orelse)

    def _let(self, node: Let) -> None:
        # Pending entries first, in reverse, so a name's first later binding is found first.
        for binding, _ in reversed(node.bindings):
            self._bind(binding, pending_in=node)
        for binding, init in node.bindings:
            self.expr(init)
            self._bind(binding)
        self.expr(node.body)
        for binding, _ in node.bindings:
            self._unbind(binding)
            self._unbind(binding)

    def _letrec(self, node: Letrec) -> None:
        for binding, _ in node.bindings:
            self._bind(binding)
        for _, init in node.bindings:
            self.expr(init)
        self.expr(node.body)
        for binding, _ in node.bindings:
            self._unbind(binding)

    def _items(self, node: Seq | And | Or | ListLit) -> None:
        for item in node.exprs if type(node) is not ListLit else node.items:
            self.expr(item)

    def _map(self, node: MapLit) -> None:
        for key, value in node.pairs:
            self.expr(key)
            self.expr(value)

    def _perform(self, node: Perform) -> None:
        for arg in node.args:
            self.expr(arg)

    def _spawn(self, node: Spawn) -> None:
        self.expr(node.thunk)

    def _await(self, node: Await) -> None:
        self.expr(node.value)

    def _select(self, node: Select) -> None:
        for clause in node.clauses:
            self.expr(clause.channel)
            if clause.value is not None:
                self.expr(clause.value)
            self.expr(clause.fn)
        if node.default is not None:
            self.expr(node.default)

    def _handler(self, node: Handler) -> None:
        for clause in node.clauses:
            self.expr(clause.fn)
        # The body becomes a thunk (lower.py): its free variables are found as a lambda's.
        self.depth += 1
        self.free_sets.append({})
        self.expr(node.body)
        node.body_free = list(self.free_sets.pop())
        self.depth -= 1

    def _match(self, node: Match) -> None:
        self.expr(node.subject)
        for clause in node.clauses:
            variables = _pattern_variables(clause.pattern)
            for binding in variables:
                self._bind(binding)
            self.expr(clause.body)
            for binding in variables:
                self._unbind(binding)

    def _define(self, node: Define) -> None:
        self.expr(node.value)

    # ---- arity warnings ----

    def _check_arity(self, call: Call) -> None:
        fn = call.fn
        if type(fn) is not Ref or fn.binding is None:
            return
        binding = fn.binding
        if binding.kind == BUILTIN:
            builtin = BUILTINS[binding.name]
            low, high = builtin.min_args, builtin.max_args
        elif binding.kind == GLOBAL and binding in self.arities:
            low, high = self.arities[binding]
        else:
            return
        count = len(call.args)
        if count < low or (high >= 0 and count > high):
            message = f"arity: `{binding.name}` expects {_expected(low, high)}, got {count}"
            self.diagnostics.append(Diagnostic("arity-error", message, call.span, severity=WARNING))


def _lambda_arity(value: Expr) -> Optional[tuple[int, int]]:
    if type(value) is not Lambda:
        return None
    count = len(value.params)
    return (count, -1 if value.rest else count)


def _expected(low: int, high: int) -> str:
    if high < 0:
        return f"at least {_plural(low)}"
    if low == high:
        return _plural(low)
    if high == low + 1:
        return f"{low} or {high} arguments"
    return f"{low} to {high} arguments"


def _plural(count: int) -> str:
    return f"{count} argument" if count == 1 else f"{count} arguments"


def _pattern_variables(pattern: Pattern) -> list[Binding]:
    """The variables a pattern binds, left to right (no recursion)."""
    found: list[Binding] = []
    pending = [pattern]
    while pending:
        p = pending.pop()
        if type(p) is PVar:
            found.append(p.binding)
        elif type(p) is PList:
            pending.extend(reversed(p.items + ([p.rest] if p.rest else [])))
        elif type(p) is PCtor:
            pending.extend(reversed(p.args))
    return found
