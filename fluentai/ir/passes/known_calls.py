"""Known calls: a call of a closure built in view becomes a direct call.

In: any IR module. Out: the same module where every ``Call`` whose callee is,
through phis that merge one value only, a ``MakeClosure`` of this function or
the ``LoadConst`` of a static closure (passes/static_closures.py), and whose
argument count the target accepts exactly, is a ``CallKnown`` of that target
with the closure as its self.

Why: the backend calls a ``CallKnown`` target by its symbol, so the call skips
the is-it-a-closure test, the load of the code pointer and the indirect branch;
and passes/inline.py inlines only known calls. A call with the wrong number of
arguments stays an unknown call so that the target's prologue raises the
arity error the reference asks for, as before. Top-level ``define``d functions
called by name are already ``CallKnown`` from lowering (ir/lower.py).
"""
from __future__ import annotations

from typing import Optional

from .. import nodes as N


def make_known_calls(module: N.Module) -> None:
    by_name = {fn.name: fn for fn in module.functions}
    for fn in module.functions:
        resolve_known_calls(list(fn.instructions()), by_name, Uses(fn))


class Uses:
    """Who uses each value of a function, so that replacing a value costs its
    uses, not a walk of the whole function (a top level of 10^4 calls)."""

    def __init__(self, fn: N.Function):
        self.users: dict[int, list[N.Instr]] = {}
        for i in fn.instructions():
            self.add(i)

    def add(self, instr: N.Instr) -> None:
        for o in instr.operands():
            self.users.setdefault(id(o), []).append(instr)

    def replace(self, old: N.Value, new: N.Value) -> None:
        users = self.users.pop(id(old), [])
        for u in users:
            u.replace_operand(old, new)
        self.users.setdefault(id(new), []).extend(users)


def resolve_known_calls(instrs: list[N.Instr], by_name: dict[str, N.Function],
                        uses: Uses) -> list[N.Instr]:
    """Rewrite the known calls among ``instrs`` (of one function); returns
    ``instrs`` with each rewritten call replaced by its ``CallKnown``."""
    out, seen = [], set()
    for instr in instrs:
        if id(instr) in seen:
            continue
        seen.add(id(instr))
        target = known_target(instr.fn, by_name) if isinstance(instr, N.Call) else None
        if target is None or target.rest_param is not None or target.arity != len(instr.args):
            out.append(instr)
            continue
        block = instr.block
        try:
            k = block.instrs.index(instr)
        except ValueError:      # rewritten already
            continue
        known = N.CallKnown(target, instr.fn, instr.args, instr.span, instr.tail)
        known.block, known.rep, known.inlined = instr.block, instr.rep, instr.inlined
        known.returns_for, known.inline_path = instr.returns_for, instr.inline_path
        block.instrs[k] = known
        uses.add(known)
        uses.replace(instr, known)
        out.append(known)
    return out


def root(value: N.Value) -> N.Value:
    """``value`` seen through phis whose incoming values are all one value
    (the loop-header phis of a function's parameters, say)."""
    seen = set()
    while isinstance(value, N.Phi) and id(value) not in seen:
        seen.add(id(value))
        others = {id(v): v for _, v in value.incoming if v is not value}
        if len(others) != 1:
            break
        value = next(iter(others.values()))
    return value


def known_target(value: N.Value, by_name: dict[str, N.Function]) -> Optional[N.Function]:
    value = root(value)
    if isinstance(value, N.MakeClosure):
        return value.function
    if (isinstance(value, N.LoadConst) and isinstance(value.value, N.Special)
            and value.value.kind == "closure"):
        return by_name.get(value.value.text)
    return None
