"""Textual form of the IR, for ``--emit-ir``, ``--dump-after`` and golden IR tests.

In: a ``Module``. Out: a stable string: values are numbered per function in
order of appearance, so unrelated changes elsewhere do not churn a dump.
"""
from __future__ import annotations

from ..frontend.ast import Keyword, Symbol
from . import nodes as N


class _Namer:
    def __init__(self):
        self.names: dict[int, str] = {}

    def __call__(self, v: N.Value) -> str:
        if isinstance(v, N.Param):
            return f"%{v.label}"
        key = id(v)
        if key not in self.names:
            self.names[key] = f"%{len(self.names)}"
        return self.names[key]


def _fmt_const(value) -> str:
    if isinstance(value, N.MatchTable):
        results = f" -> [{', '.join(map(_fmt_literal, value.results))}]" if value.results else ""
        return f"match-table [{', '.join(map(_fmt_literal, value.keys))}]{results}"
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return repr(value)


def _fmt_literal(value) -> str:
    if isinstance(value, Keyword):
        return f":{value.name}"
    if isinstance(value, Symbol):
        return f"'{value.name}"
    return _fmt_const(value)


def _span(instr: N.Instr) -> str:
    s = getattr(instr, "span", None)
    return f"  @{s.line}:{s.col}" if s is not None else ""


def format_instr(i: N.Instr, name) -> str:
    ops = ", ".join(name(o) for o in i.operands())
    if isinstance(i, N.Const):
        body = f"const.{i.rep} {_fmt_const(i.value)}"
    elif isinstance(i, N.LoadConst):
        body = f"loadconst #{i.index} {_fmt_const(i.value)}"
    elif isinstance(i, N.Prim):
        fix = ".fix" if i.fixnums else f".fix{i.fixnum_operand}" if i.fixnum_operand >= 0 else ""
        body = f"prim.{i.op}{fix}{'.list' if i.list_tail else ''} {ops}"
    elif isinstance(i, N.FloatOp):
        body = f"{i.op} {ops}"
    elif isinstance(i, N.IntOp):
        body = f"int.{i.op}{'.bail' if i.bail else ''} {ops}"
    elif isinstance(i, N.Untag):
        body = f"untag.i64 {ops}"
    elif isinstance(i, N.Unbox) and i.checked_op:
        body = f"unbox.checked {ops} ; as operand of {i.checked_op}"
    elif isinstance(i, (N.Box, N.Unbox, N.Not)):
        body = f"{type(i).__name__.lower()}.{i.rep} {ops}"
    elif isinstance(i, N.DataField):
        body = f"data.field {ops}[{i.index}]"
    elif isinstance(i, N.LoadFree):
        body = f"loadfree {i.index} ; {i.label}"
    elif isinstance(i, N.ClosureSlot):
        body = f"closure.slot {ops}[{i.index}] ; {i.label}"
    elif isinstance(i, N.SelfClosure):
        body = "self"
    elif isinstance(i, N.MakeClosure):
        body = f"closure @{i.function.name} [{ops}]"
    elif isinstance(i, N.SetFree):
        body = f"setfree {name(i.closure)}[{i.index}] = {name(i.value)}"
    elif isinstance(i, N.GlobalGet):
        body = f"global.get {i.slot} ; {i.label}{' checked' if i.checked else ''}"
    elif isinstance(i, N.GlobalSet):
        body = f"global.set {i.slot} ; {i.label} = {ops}"
    elif isinstance(i, N.MakeCell):
        body = "cell"
    elif isinstance(i, N.CellGet):
        body = f"cell.get {ops} ; {i.label}"
    elif isinstance(i, N.CellSet):
        body = f"cell.set {ops}"
    elif isinstance(i, N.Call):
        body = f"{'tail ' if i.tail else ''}call {name(i.fn)}({', '.join(name(a) for a in i.args)})"
    elif isinstance(i, N.CallKnown):
        body = (f"{'tail ' if i.tail else ''}call.known @{i.function.name} self={name(i.closure)}"
                f"({', '.join(name(a) for a in i.args)}){' hidden' if i.hidden else ''}"
                f"{' closure-known' if i.closure_known else ''}")
    elif isinstance(i, N.CallBuiltin):
        owned = " [owned]" if i.symbol == "fl_bi_set_owned" else ""
        body = f"{'tail ' if i.tail else ''}call.builtin {i.name}{owned}({ops})"
    elif isinstance(i, N.Perform):
        body = f"perform {i.op}({ops})"
    elif isinstance(i, N.RuntimeCall):
        body = f"runtime {i.symbol}({ops})"
    elif isinstance(i, N.Trmc):
        body = f"trmc.{i.op}"
    elif isinstance(i, N.StateCell):
        body = f"state.{i.op} {ops}"
    elif isinstance(i, N.Phi):
        inc = ", ".join(f"[{b.label}: {name(v)}]" for b, v in i.incoming)
        body = f"phi.{i.rep} {inc}"
    elif isinstance(i, N.Jump):
        return f"jump {i.target.label}"
    elif isinstance(i, N.Branch):
        return f"branch {name(i.cond)}, {i.then.label}, {i.orelse.label}"
    elif isinstance(i, N.Switch):
        cases = ", ".join(f"{k}: {t.label}" for k, t in i.cases)
        return f"switch {ops} [{cases}], default {i.default.label}"
    elif isinstance(i, N.Return):
        return f"return {ops}"
    elif isinstance(i, N.Unreachable):
        return "unreachable"
    else:
        body = f"{type(i).__name__} {ops}"
    tail = _span(i) + _frames(i)
    if i.rep is None:
        return body + tail
    return f"{name(i)} = {body}{tail}"


def _frames(i: N.Instr) -> str:
    """For located inlined code, the frames an error report shows for it
    (passes/inline.py): each function and the call that made its frame."""
    if i.span is None or (i.inlined is None and i.returns_for is None):
        return ""

    def chain(x: N.Inlined | None) -> str:
        frames = []
        while x is not None:
            at = f"{x.call_span.line}:{x.call_span.col}" if x.call_span else "tail"
            frames.append(f"{x.function.display_name or x.function.name}@{at}")
            x = x.caller
        return " < ".join(frames)
    text = f" ; inlined {chain(i.inlined)}" if i.inlined is not None else ""
    if i.returns_for is not None:
        text += f" ; returns for {chain(i.returns_for)}"
    return text


def format_function(fn: N.Function) -> str:
    name = _Namer()
    params = ", ".join(f"%{p.label}" for p in fn.params)
    if fn.rest_param is not None:
        params += (", " if params else "") + ". %rest"
    head = f"function @{fn.name}({params})"
    if fn.display_name:
        head += f" ; {fn.display_name}"
    if fn.fixnum_params:
        head += " fixnum-params"
    if fn.raw_ints:
        head += " raw-ints"
    if fn.trmc_site is not None:
        head += f" trmc@{fn.trmc_site.line}:{fn.trmc_site.col}"
    if fn.nfree:
        head += f" free=[{', '.join(fn.free_labels)}]"
    lines = [head + " {"]
    for b in fn.blocks:
        lines.append(f"  {b.label}:")
        for i in b.instrs:
            lines.append("    " + format_instr(i, name))
    lines.append("}")
    return "\n".join(lines)


def format_module(module: N.Module) -> str:
    order = [module.entry] + [f for f in module.functions if f is not module.entry]
    return "\n\n".join(format_function(f) for f in order) + "\n"
