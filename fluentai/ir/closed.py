"""Closed functions: closures that reach nothing but their own known calls.

In:  an `N.Module`, after lowering or any pass.
Out: `closed_functions` -- the set of closure functions every use of whose
     closure value is the callee of one of its known calls (`CallKnown` with the
     right number of arguments, the closure not among them), or a single
     `GlobalSet` of a slot whose every `GlobalGet` is such a use. Empty unless
     the module is a whole program (`module.closed`, not a REPL session).

Why it matters: every entry of a closed function is one of the known calls in
the module -- no unknown call, builtin or host can reach it -- so a pass may
look at those calls alone to learn what the parameters hold on entry
(passes/known_lists.py: list facts; passes/closure_args.py: static closures).
"""
from __future__ import annotations

from . import nodes as N


def closed_functions(module: N.Module) -> set:
    """The closed functions of ``module``; none unless it is a whole program."""
    if not getattr(module, "closed", False) or module.session:
        return set()
    by_name = {fn.name: fn for fn in module.functions}
    sets: dict[int, list] = {}
    for fn in module.functions:
        for i in fn.instructions():
            if isinstance(i, N.GlobalSet):
                sets.setdefault(i.slot, []).append(i)
    refs: dict[int, N.Function] = {}       # id(value) -> the function whose closure it is
    for fn in module.functions:
        for i in fn.instructions():
            target = None
            if isinstance(i, N.MakeClosure):
                target = i.function
            elif (isinstance(i, N.LoadConst) and isinstance(i.value, N.Special)
                  and i.value.kind == "closure"):
                target = by_name.get(i.value.text)
            elif isinstance(i, N.SelfClosure):
                target = fn
            if target is not None:
                refs[id(i)] = target
    escaped: set = set()
    slot_of: dict[int, N.Function] = {}     # slots written once, with a closure
    for slot, writes in sets.items():
        if len(writes) == 1 and id(writes[0].value) in refs:
            slot_of[slot] = refs[id(writes[0].value)]
    for fn in module.functions:
        for i in fn.instructions():
            if isinstance(i, N.GlobalGet) and i.slot in slot_of:
                refs[id(i)] = slot_of[i.slot]
    for fn in module.functions:
        for i in fn.instructions():
            for k, op in enumerate(i.operands()):
                target = refs.get(id(op))
                if target is None:
                    continue
                if isinstance(i, N.GlobalSet) and i.slot in slot_of:
                    continue
                if (isinstance(i, N.CallKnown) and k == 0 and i.function is target
                        and len(i.args) == target.arity and op not in i.args):
                    continue
                escaped.add(id(target))
    return {fn for fn in module.functions
            if fn.kind == "closure" and id(fn) not in escaped}
