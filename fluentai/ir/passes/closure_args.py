"""Closure arguments: a parameter that every call gives one static closure is that closure.

In:  IR after passes/static_closures.py, before known-calls and inline.
Out: the same module where, in a *closed* function (ir/closed.py: the
     module is a whole program and every use of the function's closure is the
     callee of one of its known calls), a parameter for which every known call
     passes the same static closure (``LoadConst`` of a ``Special("closure")``),
     or, in the function's own calls, that parameter unchanged, reads a
     ``LoadConst`` of that closure at the function's entry instead. Nothing
     else changes; the parameter is still passed.

Why: ``(my-map (lambda (x) (+ x 1)) l)`` with ``my-map`` called from one place
(bench/lists) calls ``f`` through the closure for every element: a closure
type test, an indirect call, the lambda's argument-count check and frame. With
``f`` the constant, passes/known_calls.py makes the call a known call and
passes/inline.py copies the lambda into the loop -- what Chez's cp0 does for a
procedure with one call site, for every site that agrees. Sound because every
entry of a closed function is one of the calls looked at (its closure never
escapes: no unknown call, builtin or host can reach it), so the parameter's
value on entry is always that closure. A self call passing the parameter on
keeps the same value; a self tail call lowered to a loop (ir/lower.py) is a
phi, not an entry, and its other incoming values are left as they are.
Errors and call chains are those of the calls as written: the closure is the
same value, and inlined code keeps its call chain (passes/inline.py).
"""
from __future__ import annotations

from .. import nodes as N
from ..closed import closed_functions
from .known_calls import root
from .static_closures import static_closure

_MIXED = object()       # the calls disagree: nothing to do for this parameter


def specialise_closure_args(module: N.Module) -> None:
    if not getattr(module, "closed", False) or module.session:
        return
    closed = {fn for fn in closed_functions(module) if fn.rest_param is None}
    by_name = {fn.name: fn for fn in module.functions}
    passed: dict = {}       # (function, parameter index) -> closure name or _MIXED
    for caller in module.functions:
        for c in caller.instructions():
            if not (isinstance(c, N.CallKnown) and c.function in closed):
                continue
            g = c.function
            for k, a in enumerate(c.args):
                r = root(a)
                if caller is g and r is g.params[k]:
                    continue
                name = _static_closure_name(r, by_name)
                prev = passed.get((g, k), name)
                passed[(g, k)] = name if name is not None and prev == name else _MIXED
    for (g, k), name in passed.items():
        if name is _MIXED:
            continue
        _use_constant(module, g, g.params[k], by_name[name])


def _static_closure_name(v: N.Value, by_name: dict):
    if (isinstance(v, N.LoadConst) and isinstance(v.value, N.Special)
            and v.value.kind == "closure" and v.value.text in by_name):
        return v.value.text
    return None


def _use_constant(module: N.Module, g: N.Function, param: N.Param, target: N.Function) -> None:
    """Uses of ``param`` read the closure instead. A phi that merges nothing but
    the parameter (the loop header's, ir/lower.py) stays as it is, for the
    passes that find the header by its phis of the parameters
    (passes/trmc.py); its uses read the closure."""
    entry = g.blocks[0]
    load = static_closure(module, target)
    load.block = entry
    entry.instrs.insert(0, load)
    instrs = [i for i in g.instructions() if i is not load]
    carriers = {id(i) for i in instrs if isinstance(i, N.Phi) and root(i) is param}
    for i in instrs:
        if id(i) in carriers:
            continue
        for op in i.operands():
            if op is param or id(op) in carriers:
                i.replace_operand(op, load)
