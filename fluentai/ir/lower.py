"""Lowering: resolved core AST (frontend/ast.py) -> SSA IR module (ir/nodes.py).

In:  a ``Program`` whose every ``Ref`` is resolved and every ``Lambda`` knows its
     free variables.
Out: a ``Module`` with one ``entry`` function (the top-level forms in order) and
     one closure function per lambda that was not turned into a loop.

What this pass decides:
  * Closure conversion: every lambda becomes a flat closure; captured variables
    are read once at function entry with ``LoadFree``. Letrec groups of lambdas
    are tied by patching the freshly built closures (``SetFree``); a letrec
    binding whose init is not a lambda but is captured goes through a cell.
  * Tail calls: every call in tail position is marked ``tail`` (musttail later);
    a tail call of the function to itself becomes a jump to its loop header.
  * Contification: a local function (named ``let`` loops in particular) that is
    only ever called in tail position of one continuation becomes blocks of the
    enclosing function, its parameters phis, its calls jumps.
  * Known calls: calls of top-level functions defined once by a lambda, and of
    local lambdas, are direct (``CallKnown``); builtins with inline fast paths
    become ``Prim``, other builtins ``CallBuiltin``.
  * Tests of ``if``/``cond``/``when``... branch on raw i1 values: comparisons
    never box a boolean just to test it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Union

from ..builtins import BUILTINS
from ..frontend import ast as A
from . import nodes as N
from .nodes import Rep

FIXNUM_MIN = -(1 << 62)
FIXNUM_MAX = (1 << 62) - 1

# Builtins compiled to inline primitives when called with exactly two operands.
BINARY_COMPARE = {"<": "lt", ">": "gt", "<=": "le", ">=": "ge"}
EQUALITY = {"==": False, "=": False, "!=": True, "not=": True}
ARITH_FOLD = {"+": ("add", 0), "*": ("mul", 1)}
INT_DIVISION = {"mod": "mod", "quotient": "quotient", "remainder": "remainder"}
# Lists of at most this many elements are built by inline conses (build_list).
INLINE_LIST_MAX = 16


# ---- where a variable lives -------------------------------------------------

@dataclass
class Ssa:
    value: N.Value


@dataclass
class InCell:
    cell: N.Value


@dataclass
class Global:
    slot: int


@dataclass
class KnownFn:
    """A lambda whose code is known: direct calls pass ``closure`` as self."""
    function: N.Function
    closure: N.Value


@dataclass
class Loop:
    """A contified local function: calls in ``ctx`` jump to ``header``."""
    header: N.Block
    phis: list
    ctx: "Ctx"
    arity: int


VarLoc = Union[Ssa, InCell, Global, KnownFn, Loop]


# ---- continuations ----------------------------------------------------------

class Ctx:
    """Where the value of the expression being lowered goes."""


class ReturnCtx(Ctx):
    def __repr__(self):
        return "RETURN"


class JoinCtx(Ctx):
    def __init__(self, block: N.Block, phi: N.Phi):
        self.block = block
        self.phi = phi


def _mangle(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)[:40]


class _FunctionState:
    """Per-function lowering state (saved and restored around nested lambdas)."""

    def __init__(self, function: N.Function):
        self.function = function
        self.block: Optional[N.Block] = None
        self.env: dict[A.Binding, VarLoc] = {}
        self.self_binding: Optional[A.Binding] = None
        self.header: Optional[N.Block] = None
        self.header_phis: list[N.Phi] = []


class Lowerer:
    def __init__(self, program: A.Program, session: bool = False):
        self.program = program
        # A REPL input: its globals live on in the session and may be redefined
        # by later inputs, so no call to a global is direct and every read is checked.
        self.session = session
        self.module = N.Module(program.filename, program.source)
        self.module.global_names = [b.name for b in program.globals]
        self.fn_counter = 0
        self.state: Optional[_FunctionState] = None
        self.known_globals: dict[int, N.Function] = self.module.known_globals
        # constructor name -> (type name, every constructor of the type)
        self.data_types: dict[str, tuple[str, list[str]]] = {}
        for form in program.forms:
            if isinstance(form, A.DataDecl):
                names = [c.name for c in form.ctors]
                for c in form.ctors:
                    self.data_types[c.name] = (form.name, names)
        self.safe_globals: set[int] = set()
        # Bindings of one-lambda letrecs (named lets) called only in tail position.
        self.tail_called_only = _tail_called_only(program.forms)

    # ---- emission helpers ----

    def emit(self, instr: N.Instr) -> N.Instr:
        block = self.state.block
        assert block is not None and block.terminator is None, "emit into a terminated block"
        instr.block = block
        block.instrs.append(instr)
        return instr

    def new_block(self, hint: str) -> N.Block:
        return self.state.function.new_block(hint)

    def set_block(self, block: N.Block) -> None:
        self.state.block = block

    def const(self, rep: Rep, value) -> N.Const:
        return self.emit(N.Const(rep, value))

    def nil(self):
        return self.const(Rep.VALUE, None)

    def deliver(self, ctx: Ctx, value: N.Value) -> None:
        if isinstance(ctx, ReturnCtx):
            self.emit(N.Return(value))
        else:
            ctx.phi.add_incoming(self.state.block, value)
            self.emit(N.Jump(ctx.block))

    def join_ctx(self, hint: str) -> JoinCtx:
        block = self.new_block(hint)
        phi = N.Phi(Rep.VALUE)
        phi.block = block
        block.instrs.append(phi)
        return JoinCtx(block, phi)

    def finish_join(self, join: JoinCtx) -> N.Value:
        """Continue after a join; a join nobody reaches is unreachable code."""
        self.set_block(join.block)
        if not join.phi.incoming:
            join.block.instrs.remove(join.phi)
            self.emit(N.Unreachable())
            dead = self.new_block("dead")
            self.set_block(dead)
            return self.nil()
        if len(join.phi.incoming) == 1:
            (_, only), = join.phi.incoming
            join.block.instrs.remove(join.phi)
            return only
        return join.phi

    def new_function(self, display: Optional[str], nparams: int, has_rest: bool,
                     span, kind: str = "closure") -> N.Function:
        self.fn_counter += 1
        base = _mangle(display) if display else "lambda"
        fn = N.Function(f"fl_fn{self.fn_counter}_{base}", display, nparams, has_rest, kind, span)
        self.module.functions.append(fn)
        return fn

    # ---- program ----

    def lower_program(self) -> N.Module:
        entry = self.new_function("entry", 0, False, None, kind="entry")
        entry.name = "fl_program_entry"
        self.module.entry = entry
        self.state = _FunctionState(entry)
        self.set_block(entry.new_block("entry"))
        self._plan_globals()
        value = None
        for form in self.program.forms:
            try:
                value = self.lower_toplevel(form)
            except Exception as exc:     # a compiler bug: remember which form hit it
                if not hasattr(exc, "fluentai_span"):
                    exc.fluentai_span = form.span
                raise
        if value is None:
            value = self.nil()
        self.emit(N.Return(value))
        return self.module

    def _plan_globals(self) -> None:
        """Find globals defined exactly once by a lambda (direct calls) and the
        ones certainly defined before any user code runs (no unbound check)."""
        counts: dict[int, int] = {}
        for form in self.program.forms:
            if isinstance(form, A.Define):
                counts[form.binding.slot] = counts.get(form.binding.slot, 0) + 1
            elif isinstance(form, A.DataDecl):
                for ctor in form.ctors:
                    if ctor.binding is not None:
                        counts[ctor.binding.slot] = counts.get(ctor.binding.slot, 0) + 1
        if self.session:
            return
        code_ran = False
        for form in self.program.forms:
            if isinstance(form, A.Define) and isinstance(form.value, A.Lambda):
                slot = form.binding.slot
                if counts[slot] == 1:
                    fn = self.new_function(form.value.name or form.binding.name,
                                           len(form.value.params), form.value.rest is not None,
                                           form.value.span)
                    self.known_globals[slot] = fn
                    if not code_ran:
                        self.safe_globals.add(slot)
            elif isinstance(form, A.Define) and isinstance(form.value, A.Const):
                if counts[form.binding.slot] == 1 and not code_ran:
                    self.safe_globals.add(form.binding.slot)
            elif isinstance(form, A.DataDecl):
                if not code_ran:
                    for ctor in form.ctors:
                        if ctor.binding is not None and counts[ctor.binding.slot] == 1:
                            self.safe_globals.add(ctor.binding.slot)
            else:
                code_ran = True

    def lower_toplevel(self, form: A.Expr) -> Optional[N.Value]:
        if isinstance(form, A.Define):
            slot = form.binding.slot
            fn = self.known_globals.get(slot)
            if fn is not None and isinstance(form.value, A.Lambda):
                value = self.lower_lambda(form.value, fn, self_binding=None)
            else:
                value = self.lower_value(form.value)
            self.emit(N.GlobalSet(slot, form.binding.name, value))
            return self.nil()
        if isinstance(form, A.DataDecl):
            for ctor in form.ctors:
                tag = self.load_const(N.Special("name", ctor.name))
                ctor_fn = self.emit(N.RuntimeCall("fl_make_constructor",
                                                  [tag, self.const(Rep.I64, ctor.nfields)], ctor.span))
                if ctor.binding is not None:
                    self.emit(N.GlobalSet(ctor.binding.slot, ctor.name, ctor_fn))
            return self.nil()
        return self.lower_value(form)

    # ---- expressions: value context ----

    def lower_value(self, e: A.Expr) -> N.Value:
        method = getattr(self, "value_" + type(e).__name__, None)
        if method is not None:
            return method(e)
        if not hasattr(self, "ctx_" + type(e).__name__):
            raise NotImplementedError(f"lowering of {type(e).__name__} forms")
        join = self.join_ctx("join")
        self.lower(e, join)
        return self.finish_join(join)

    def lower(self, e: A.Expr, ctx: Ctx) -> None:
        """Lower ``e`` and deliver its value to ``ctx`` (terminates the block)."""
        method = getattr(self, "ctx_" + type(e).__name__, None)
        if method is not None:
            method(e, ctx)
        else:
            self.deliver(ctx, self.lower_value(e))

    def value_Const(self, e: A.Const) -> N.Value:
        return self.constant(e.value)

    def constant(self, v) -> N.Value:
        if v is None or isinstance(v, bool):
            return self.const(Rep.VALUE, v)
        if isinstance(v, int) and FIXNUM_MIN <= v <= FIXNUM_MAX:
            return self.const(Rep.VALUE, v)
        if isinstance(v, tuple) and not v:
            return self.const(Rep.VALUE, N.EMPTY_LIST)
        return self.load_const(v)

    def load_const(self, payload) -> N.Value:
        index = self.module.constant_index(payload)
        return self.emit(N.LoadConst(index, payload))

    def value_Ref(self, e: A.Ref) -> N.Value:
        return self.read_var(e.binding, e)

    def read_var(self, b: A.Binding, e: A.Expr) -> N.Value:
        if b.kind == A.BUILTIN:
            return self.load_const(N.Special("builtin", b.name))
        loc = self.lookup(b)
        if isinstance(loc, Ssa):
            return loc.value
        if isinstance(loc, KnownFn):
            return loc.closure
        if isinstance(loc, InCell):
            return self.emit(N.CellGet(loc.cell, b.name, e.span))
        if isinstance(loc, Global):
            return self.emit(N.GlobalGet(loc.slot, b.name, loc.slot not in self.safe_globals, e.span))
        raise AssertionError(f"{b.name} used as a value but was contified")

    def lookup(self, b: A.Binding) -> VarLoc:
        if b.kind == A.GLOBAL:
            return Global(b.slot)
        return self.state.env[b]

    def value_Lambda(self, e: A.Lambda) -> N.Value:
        fn = self.new_function(e.name, len(e.params), e.rest is not None, e.span)
        return self.lower_lambda(e, fn, self_binding=None)

    def value_ListLit(self, e: A.ListLit) -> N.Value:
        items = [self.lower_value(x) for x in e.items]
        return self.build_list(items, e.span)

    def build_list(self, items: list[N.Value], span) -> N.Value:
        """Short lists are inline conses; a longer one is one call of the builtin `list`,
        whose arguments codegen stores into an array: a few instructions per element
        instead of an inline allocation each, so a 10^5-element literal compiles fast."""
        if len(items) > INLINE_LIST_MAX:
            return self.emit(N.CallBuiltin("list", BUILTINS["list"].c_symbol, items, span))
        acc: N.Value = self.const(Rep.VALUE, N.EMPTY_LIST)
        for item in reversed(items):
            acc = self.emit(N.Prim("cons", [item, acc], span))
        return acc

    def value_MapLit(self, e: A.MapLit) -> N.Value:
        if e.constant is not None:
            return self.emit(N.RuntimeCall("fl_map_from_list", [self.load_const(e.constant)], e.span))
        pairs = [(self.lower_value(k), self.lower_value(v)) for k, v in e.pairs]
        m = self.emit(N.RuntimeCall("fl_map_empty", [], e.span))
        for k, v in pairs:
            m = self.emit(N.RuntimeCall("fl_map_set", [m, k, v], e.span))
        return m

    def value_Perform(self, e: A.Perform) -> N.Value:
        args = [self.lower_value(a) for a in e.args]
        if e.op not in self.module.effect_ops:
            self.module.effect_ops.append(e.op)
        return self.emit(N.Perform(e.op, args, e.span))

    def value_Handler(self, e: A.Handler) -> N.Value:
        """Clause functions are evaluated in order; the body becomes a thunk
        that the runtime calls under the new handler frame (it owns the jump
        buffer that error clauses unwind to)."""
        items: list[N.Value] = []
        for clause in e.clauses:
            items.append(self.load_const(N.Special("name", clause.name)))
            items.append(self.lower_value(clause.fn))
        clauses = self.build_list(items, e.span)
        thunk_ast = A.Lambda(e.body.span, [], None, e.body, name=None,
                             free=e.body_free)
        thunk = self.value_Lambda(thunk_ast)
        return self.emit(N.RuntimeCall("fl_with_handlers", [clauses, thunk], e.span))

    def value_Spawn(self, e: A.Spawn) -> N.Value:
        thunk = self.lower_value(e.thunk)
        from_caller = e.at_call_site and self.state.function.kind == "closure"
        return self.emit(N.RuntimeCall("fl_spawn", [thunk], e.span, loc_from_caller=from_caller))

    def value_Await(self, e: A.Await) -> N.Value:
        promise = self.lower_value(e.value)
        return self.emit(N.RuntimeCall("fl_await", [promise], e.span))

    def value_Select(self, e: A.Select) -> N.Value:
        """Every clause's channel, value and function are evaluated once, in
        source order, before the runtime tests readiness (section 8)."""
        clauses = []
        for c in e.clauses:
            ch = self.lower_value(c.channel)
            v = self.lower_value(c.value) if c.value is not None else self.nil()
            fn = self.lower_value(c.fn)
            clauses.append(self.build_list([self.const(Rep.VALUE, c.kind), ch, v, fn], c.span))
        default = self.lower_value(e.default) if e.default is not None else self.nil()
        return self.emit(N.RuntimeCall("fl_select", [self.build_list(clauses, e.span), default],
                                       e.span))

    def value_Define(self, e: A.Define) -> N.Value:  # pragma: no cover - parser forbids
        raise AssertionError("define below the top level reached lowering")

    # ---- expressions: control flow ----

    def ctx_If(self, e: A.If, ctx: Ctx) -> None:
        then_b, else_b = self.new_block("then"), self.new_block("else")
        self.lower_branch(e.test, then_b, else_b)
        self.set_block(then_b)
        self.lower(e.then, ctx)
        self.set_block(else_b)
        if e.orelse is None:
            self.deliver(ctx, self.nil())
        else:
            self.lower(e.orelse, ctx)

    def ctx_Seq(self, e: A.Seq, ctx: Ctx) -> None:
        for x in e.exprs[:-1]:
            self.lower_value(x)
        self.lower(e.exprs[-1], ctx)

    def ctx_And(self, e: A.And, ctx: Ctx) -> None:
        self._short_circuit(e.exprs, ctx, stop_when_truthy=False, empty=True)

    def ctx_Or(self, e: A.Or, ctx: Ctx) -> None:
        self._short_circuit(e.exprs, ctx, stop_when_truthy=True, empty=False)

    def _short_circuit(self, exprs, ctx, stop_when_truthy: bool, empty: bool) -> None:
        if not exprs:
            self.deliver(ctx, self.const(Rep.VALUE, empty))
            return
        for x in exprs[:-1]:
            v = self.lower_value(x)
            test = self.emit(N.Prim("truthy", [v], x.span))
            stop, go_on = self.new_block("sc_stop"), self.new_block("sc_next")
            if stop_when_truthy:
                self.emit(N.Branch(test, stop, go_on))
            else:
                self.emit(N.Branch(test, go_on, stop))
            self.set_block(stop)
            self.deliver(ctx, v)
            self.set_block(go_on)
        self.lower(exprs[-1], ctx)

    def lower_branch(self, e: A.Expr, then_b: N.Block, else_b: N.Block) -> None:
        """Branch on the truthiness of ``e`` without materialising a boolean."""
        if isinstance(e, A.And) and e.exprs:
            for x in e.exprs[:-1]:
                nxt = self.new_block("and")
                self.lower_branch(x, nxt, else_b)
                self.set_block(nxt)
            self.lower_branch(e.exprs[-1], then_b, else_b)
            return
        if isinstance(e, A.Or) and e.exprs:
            for x in e.exprs[:-1]:
                nxt = self.new_block("or")
                self.lower_branch(x, then_b, nxt)
                self.set_block(nxt)
            self.lower_branch(e.exprs[-1], then_b, else_b)
            return
        if (isinstance(e, A.Call) and self._builtin_name(e.fn) == "not" and len(e.args) == 1):
            self.lower_branch(e.args[0], else_b, then_b)
            return
        cond = self.lower_test(e)
        self.emit(N.Branch(cond, then_b, else_b))

    def lower_test(self, e: A.Expr) -> N.Value:
        """The truthiness of ``e`` as a BOOL."""
        if isinstance(e, A.Call):
            prim = self._bool_prim(e)
            if prim is not None:
                return prim
        if isinstance(e, A.Const):
            return self.const(Rep.BOOL, e.value is not None and e.value is not False)
        v = self.lower_value(e)
        if isinstance(v, N.Box) and v.a.rep is Rep.BOOL:
            return v.a
        return self.emit(N.Prim("truthy", [v], e.span))

    def _bool_prim(self, e: A.Call) -> Optional[N.Value]:
        """Comparisons and predicates with an inline BOOL form, else None."""
        name = self._builtin_name(e.fn)
        if name is None:
            return None
        n = len(e.args)
        if name in BINARY_COMPARE and n == 2:
            a, b = (self.lower_value(x) for x in e.args)
            return self.emit(N.Prim(BINARY_COMPARE[name], [a, b], e.span))
        if name in EQUALITY and n == 2:
            a, b = (self.lower_value(x) for x in e.args)
            eq = self.emit(N.Prim("equal", [a, b], e.span))
            return self.emit(N.Not(eq)) if EQUALITY[name] else eq
        if name == "not" and n == 1:
            return self.emit(N.Not(self.lower_test(e.args[0])))
        if name == "null?" and n == 1:
            return self.emit(N.Prim("is_null", [self.lower_value(e.args[0])], e.span))
        return None

    def _builtin_name(self, fn: A.Expr) -> Optional[str]:
        if isinstance(fn, A.Ref) and fn.binding is not None and fn.binding.kind == A.BUILTIN:
            return fn.binding.name
        return None

    def warn(self, diag) -> None:
        self.program.warnings.append(diag)

    def ctx_Match(self, e: A.Match, ctx: Ctx) -> None:
        from .match import MatchCompiler
        subject = self.lower_value(e.subject)
        MatchCompiler(self, e, subject, ctx, self.data_types).compile()

    # ---- let / letrec ----

    def ctx_Let(self, e: A.Let, ctx: Ctx) -> None:
        if e.recursive:
            self._lower_letrec(e.bindings, e.body, ctx)
            return
        for b, init in e.bindings:
            self.bind_init(b, init)
        self.lower(e.body, ctx)

    def bind_init(self, b: A.Binding, init: A.Expr) -> None:
        if isinstance(init, A.Lambda):
            fn = self.new_function(init.name or b.name, len(init.params), init.rest is not None,
                                   init.span)
            closure = self.lower_lambda(init, fn, self_binding=None)
            self.state.env[b] = KnownFn(fn, closure)
        else:
            self.state.env[b] = Ssa(self.lower_value(init))

    def ctx_Letrec(self, e: A.Letrec, ctx: Ctx) -> None:
        self._lower_letrec(e.bindings, e.body, ctx)

    def _lower_letrec(self, bindings, body: A.Expr, ctx: Ctx) -> None:
        if len(bindings) == 1 and isinstance(bindings[0][1], A.Lambda):
            b, lam = bindings[0]
            if lam.rest is None and b in self.tail_called_only:
                self._lower_contified(b, lam, body, ctx)
                return
        group = {b for b, _ in bindings}
        referenced = _bindings_referenced([init for _, init in bindings]) & group
        cells: dict[A.Binding, N.Value] = {}
        for b, init in bindings:
            if not isinstance(init, A.Lambda) and b in referenced:
                cell = self.emit(N.MakeCell())
                cells[b] = cell
                self.state.env[b] = InCell(cell)
        # Build every lambda first (creating a closure has no effects), then tie
        # the knots between them, then run the other inits in order.
        patches = []
        group_fns = {b: self.new_function(init.name or b.name, len(init.params),
                                          init.rest is not None, init.span)
                     for b, init in bindings if isinstance(init, A.Lambda)}
        # The match compiler can lower one arm body on several paths, so the group's names
        # may still be bound from an earlier copy, to values that do not dominate this one:
        # lower_lambda must see them as not yet built.
        for b in group_fns:
            self.state.env.pop(b, None)
        for b, init in bindings:
            if isinstance(init, A.Lambda):
                fn = group_fns[b]
                closure = self.lower_lambda(init, fn, self_binding=b, pending=group_fns,
                                            patches=patches)
                self.state.env[b] = KnownFn(fn, closure)
        for closure, index, b in patches:
            loc = self.state.env[b]
            target = loc.closure if isinstance(loc, KnownFn) else loc.cell
            self.emit(N.SetFree(closure, index, target))
        for b, init in bindings:
            if isinstance(init, A.Lambda):
                continue
            value = self.lower_value(init)
            if b in cells:
                self.emit(N.CellSet(cells[b], value))
            else:
                self.state.env[b] = Ssa(value)
        self.lower(body, ctx)

    def _lower_contified(self, b: A.Binding, lam: A.Lambda, body: A.Expr, ctx: Ctx) -> None:
        header = self.new_block("loop")
        phis = []
        for p in lam.params:
            phi = N.Phi(Rep.VALUE, p.name)
            phi.block = header
            header.instrs.append(phi)
            phis.append(phi)
        self.state.env[b] = Loop(header, phis, ctx, len(lam.params))
        for p, phi in zip(lam.params, phis):
            self.state.env[p] = Ssa(phi)
        # The letrec body runs first; its tail calls of b jump into the loop.
        self.lower(body, ctx)
        self.set_block(header)
        self.lower(lam.body, ctx)

    # ---- calls ----

    def ctx_Call(self, e: A.Call, ctx: Ctx) -> None:
        self.lower_call(e, ctx)

    def value_Call(self, e: A.Call) -> N.Value:
        return self.lower_call(e, None)

    def lower_call(self, e: A.Call, ctx: Optional[Ctx]) -> Optional[N.Value]:
        """Lower a call; with a ctx, deliver the result there (tail calls become
        musttail calls, jumps into loops or self jumps). Returns the value when
        ctx is None."""
        tail = isinstance(ctx, ReturnCtx)
        fn = e.fn
        if isinstance(fn, A.Ref) and fn.binding is not None:
            b = fn.binding
            if b.kind == A.BUILTIN:
                value = self.lower_builtin_call(b.name, e, tail)
                return self._finish_call(value, ctx)
            loc = self.lookup(b) if b.kind != A.GLOBAL else None
            if isinstance(loc, Loop):
                assert ctx is loc.ctx and len(e.args) == loc.arity, "contified call out of place"
                args = [self.lower_value(a) for a in e.args]
                for phi, a in zip(loc.phis, args):
                    phi.add_incoming(self.state.block, a)
                self.emit(N.Jump(loc.header, e.span))
                return None
            known = self._known_function(b)
            if known is not None:
                function, get_closure = known
                args = [self.lower_value(a) for a in e.args]
                if (tail and function is self.state.function and self.state.header is not None
                        and len(args) == function.arity and function.rest_param is None):
                    for phi, a in zip(self.state.header_phis, args):
                        phi.add_incoming(self.state.block, a)
                    self.emit(N.Jump(self.state.header, e.span))
                    return None
                closure = get_closure()
                value = self.emit(N.CallKnown(function, closure, args, e.span, tail=tail))
                return self._finish_call(value, ctx)
        callee = self.lower_value(fn)
        args = [self.lower_value(a) for a in e.args]
        value = self.emit(N.Call(callee, args, e.span, tail=tail))
        return self._finish_call(value, ctx)

    def _finish_call(self, value: N.Value, ctx: Optional[Ctx]) -> Optional[N.Value]:
        if ctx is None:
            return value
        self.deliver(ctx, value)
        return None

    def _known_function(self, b: A.Binding):
        """(function, closure thunk) when the callee's code is known."""
        if b.kind == A.GLOBAL:
            fn = self.known_globals.get(b.slot)
            if fn is None:
                return None
            if fn is self.state.function:       # a recursive call: we are its closure
                return fn, lambda: self.emit(N.SelfClosure())
            checked = b.slot not in self.safe_globals
            return fn, lambda: self.emit(N.GlobalGet(b.slot, b.name, checked, None))
        loc = self.state.env.get(b)
        if isinstance(loc, KnownFn):
            return loc.function, lambda: loc.closure
        return None

    def lower_builtin_call(self, name: str, e: A.Call, tail: bool) -> N.Value:
        n = len(e.args)
        prim = self._bool_prim(e)
        if prim is not None:
            return self.emit(N.Box(prim))
        if name in ARITH_FOLD and n >= 1:
            op, unit = ARITH_FOLD[name]
            args = [self.lower_value(a) for a in e.args]
            acc = args[0] if n >= 2 else self.emit(N.Prim(op, [self.const(Rep.VALUE, unit), args[0]], e.span))
            for a in args[1:]:
                acc = self.emit(N.Prim(op, [acc, a], e.span))
            return acc
        if name == "-" and n >= 2:
            args = [self.lower_value(a) for a in e.args]
            acc = args[0]
            for a in args[1:]:
                acc = self.emit(N.Prim("sub", [acc, a], e.span))
            return acc
        if name in INT_DIVISION and n == 2:
            a, b = (self.lower_value(x) for x in e.args)
            return self.emit(N.Prim(INT_DIVISION[name], [a, b], e.span))
        if name in ("head", "car", "tail", "cdr") and n == 1:
            op = "head" if name in ("head", "car") else "tail"
            arg = self.lower_value(e.args[0])
            return self.emit(N.Prim(op, [arg], e.span))
        if name == "cons" and n == 2:
            a, b = (self.lower_value(x) for x in e.args)
            return self.emit(N.Prim("cons", [a, b], e.span))
        if name == "list":
            return self.build_list([self.lower_value(a) for a in e.args], e.span)
        args = [self.lower_value(a) for a in e.args]
        return self.emit(N.CallBuiltin(name, BUILTINS[name].c_symbol, args, e.span, tail=tail))

    # ---- lambdas ----

    def lower_lambda(self, lam: A.Lambda, fn: N.Function, self_binding: Optional[A.Binding],
                     pending: Optional[dict] = None, patches: Optional[list] = None) -> N.Value:
        """Lower ``lam`` into ``fn`` and build its closure in the current function.

        Captures of the lambdas of a letrec group still being built (``pending``:
        binding -> function) get a placeholder and are recorded in ``patches``
        for ``SetFree``; inside, calls to them are still direct.
        """
        pending = pending or {}
        outer = self.state
        captured = [b for b in lam.free if b is not self_binding]
        fn.nfree = len(captured)
        fn.free_labels = [b.name for b in captured]
        capture_values: list[N.Value] = []
        for i, b in enumerate(captured):
            if b in pending and b not in outer.env:
                capture_values.append(self.const(Rep.VALUE, None))
                patches.append((None, i, b))
            else:
                capture_values.append(self._capture_value(outer.env[b]))
        closure = self.emit(N.MakeClosure(fn, capture_values))
        if patches is not None:
            for k, (c, i, b) in enumerate(patches):
                if c is None:
                    patches[k] = (closure, i, b)

        inner = _FunctionState(fn)
        self.state = inner
        entry = fn.new_block("entry")
        self.set_block(entry)
        for i, b in enumerate(captured):
            raw = self.emit(N.LoadFree(i, b.name))
            if b in outer.env:
                inner.env[b] = _recapture(outer.env[b], raw)
            else:
                inner.env[b] = KnownFn(pending[b], raw)
        if self_binding is not None:       # the lambda's own letrec name: itself
            inner.env[self_binding] = KnownFn(fn, self.emit(N.SelfClosure()))
        # A header block with one phi per parameter: self tail calls jump here.
        header = fn.new_block("body")
        inner.header = header
        for p, param in zip(lam.params, fn.params):
            phi = N.Phi(Rep.VALUE, p.name)
            phi.block = header
            phi.add_incoming(entry, param)
            header.instrs.append(phi)
            inner.header_phis.append(phi)
            inner.env[p] = Ssa(phi)
        if lam.rest is not None:
            inner.env[lam.rest] = Ssa(fn.rest_param)
            inner.header = None      # no self-jumps into a rest-taking function
        self.emit(N.Jump(header))
        self.set_block(header)
        self.lower(lam.body, ReturnCtx())
        self.state = outer
        return closure

    def _capture_value(self, loc: VarLoc) -> N.Value:
        if isinstance(loc, Ssa):
            return loc.value
        if isinstance(loc, KnownFn):
            return loc.closure
        if isinstance(loc, InCell):
            return loc.cell
        raise AssertionError(f"cannot capture {loc}")


def _recapture(loc: VarLoc, raw: N.Value) -> VarLoc:
    """How a captured variable is seen inside the closure that captured it."""
    if isinstance(loc, InCell):
        return InCell(raw)
    if isinstance(loc, KnownFn):
        return KnownFn(loc.function, raw)
    return Ssa(raw)


# ---- AST analyses used by lowering -----------------------------------------

def _children(e: A.Expr):
    """The direct sub-expressions of ``e`` with a flag: is it in tail position
    relative to ``e``? Lambda bodies are reported with tail=None (another function)."""
    if isinstance(e, A.If):
        yield e.test, False
        yield e.then, True
        if e.orelse is not None:
            yield e.orelse, True
    elif isinstance(e, A.Seq):
        for x in e.exprs[:-1]:
            yield x, False
        yield e.exprs[-1], True
    elif isinstance(e, (A.And, A.Or)):
        for i, x in enumerate(e.exprs):
            yield x, i == len(e.exprs) - 1
    elif isinstance(e, (A.Let, A.Letrec)):
        for _, init in e.bindings:
            yield init, False
        yield e.body, True
    elif isinstance(e, A.Call):
        yield e.fn, False
        for a in e.args:
            yield a, False
    elif isinstance(e, A.Lambda):
        yield e.body, None
    elif isinstance(e, A.ListLit):
        for x in e.items:
            yield x, False
    elif isinstance(e, A.MapLit):
        for k, v in e.pairs:
            yield k, False
            yield v, False
    elif isinstance(e, A.Perform):
        for a in e.args:
            yield a, False
    elif isinstance(e, A.Match):
        yield e.subject, False
        for c in e.clauses:
            yield c.body, True
    elif isinstance(e, A.Handler):
        for c in e.clauses:
            yield c.fn, False
        yield e.body, False
    elif isinstance(e, A.Define):
        yield e.value, False
    elif isinstance(e, A.Spawn):
        yield e.thunk, False
    elif isinstance(e, A.Await):
        yield e.value, False
    elif isinstance(e, A.Select):
        for c in e.clauses:
            yield c.channel, False
            if c.value is not None:
                yield c.value, False
            yield c.fn, False
        if e.default is not None:
            yield e.default, False
    else:
        for attr in ("body", "value"):
            sub = getattr(e, attr, None)
            if isinstance(sub, A.Expr):
                yield sub, False


def _tail_called_only(forms: list[A.Expr]) -> set[A.Binding]:
    """The bindings ``b`` of one-lambda letrecs ``(letrec ((b (lambda ...))) body)``
    whose every reference, in ``body`` and in the lambda's own body, is the operator
    of a call with as many arguments as the lambda has parameters, in tail position
    relative to that body (no lambda in between).

    One walk over the whole program, so that nested named lets cost linear time. Each
    node carries ``run``: its highest ancestor reached from it through tail edges only
    (itself when it is not in tail position of its parent). A call is in tail position
    relative to a root exactly when the two have the same run."""
    candidates: dict[A.Binding, tuple[A.Expr, A.Expr, int]] = {}   # (run of body, lambda body, arity)
    bad: set[A.Binding] = set()
    stack: list[tuple[A.Expr, A.Expr]] = [(form, form) for form in reversed(forms)]
    while stack:
        e, run = stack.pop()
        recursive = isinstance(e, A.Letrec) or (isinstance(e, A.Let) and e.recursive)
        if recursive and len(e.bindings) == 1 and isinstance(e.bindings[0][1], A.Lambda):
            b, lam = e.bindings[0]
            if lam.rest is None:
                candidates[b] = (run, lam.body, len(lam.params))
        elif isinstance(e, A.Ref) and e.binding in candidates:
            bad.add(e.binding)          # not the operator of a call
        if isinstance(e, A.Call) and isinstance(e.fn, A.Ref) and e.fn.binding in candidates:
            body_run, lam_body, arity = candidates[e.fn.binding]
            if len(e.args) != arity or (run is not body_run and run is not lam_body):
                bad.add(e.fn.binding)
            children = [(a, False) for a in e.args]
        else:
            children = list(_children(e))
        for child, child_tail in reversed(children):
            stack.append((child, run if child_tail else child))
    return set(candidates) - bad


def _bindings_referenced(exprs) -> set:
    found = set()
    stack = list(exprs)
    while stack:
        e = stack.pop()
        if isinstance(e, A.Ref) and e.binding is not None:
            found.add(e.binding)
        for child, _ in _children(e):
            stack.append(child)
    return found


def lower_program(program: A.Program, session: bool = False) -> N.Module:
    module = Lowerer(program, session).lower_program()
    module.session = session
    return module
