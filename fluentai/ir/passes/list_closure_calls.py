"""Known calls of closures taken from lists of one function's closures.

In:  IR after passes/known_lists.py (a walk down a list reads it with
     ``unsafe_head`` / ``unsafe_tail``). Out: the same module where a ``Call``
     whose callee is the ``unsafe_head`` of a list all of whose elements are
     closures of one function ``F`` (and whose argument count ``F`` takes
     exactly) is a ``CallKnown`` of ``F`` through that closure, marked
     ``closure_known`` (built elsewhere, but of ``F``); passes/inline.py then
     inlines it where ``F`` is small, reading ``F``'s captures from the
     closure with ``ClosureSlot`` (ir/nodes.py) instead of its ``LoadFree``.

The element fact, per function, a greatest fixed point over its values: a
value is a list of ``F``'s closures when it is ``[]``; a ``cons`` (checked or
not) of a closure of ``F`` (a ``MakeClosure`` of ``F``, or an ``unsafe_head``
of such a list) onto such a list; the ``unsafe_tail`` of such a list; or a phi
of such lists. ``[]`` and lists built of it only agree with every ``F``.
Lists are immutable once seen: only ``prim.set_tail`` (list-loops, trmc)
writes a pair, one this function built, so the values that may be its first
operand (through phis) have no fact, nor then any list with one as a tail. The checked ``head`` / ``tail`` are not followed: past an error:catch
handler's answer they stand for any value.

Why: bench/closures_escape calls, per element, a closure it took from a list
it built in the same (inlined) function: the unknown call tests the value for
a closure, loads its code pointer and branches indirectly into a function
that checks its argument count; the known call inlined is the callee's body
on the loaded captures. Error reports are the inliner's (an inlined frame per
call) and the arity a call passes is the one ``F`` takes, so no error moves.
"""
from __future__ import annotations

from typing import Optional

from .. import nodes as N
from .inline import inline_calls_among
from .known_calls import Uses, root

# The fact of a value: a function (a list of its closures), ANY (a list with
# no elements: agrees with every function) or None (nothing known).
ANY = "any"


def make_list_closure_calls(module: N.Module) -> None:
    by_name = {fn.name: fn for fn in module.functions}
    sizes: dict[N.Function, int] = {}
    for fn in list(module.functions):
        calls = _candidate_calls(fn)
        if not calls:
            continue
        facts = _element_facts(fn)
        uses = Uses(fn)
        known = [k for c in calls if (k := _make_known(c, facts, uses)) is not None]
        if known:
            inline_calls_among(fn, known, by_name, uses, sizes)


def _candidate_calls(fn: N.Function) -> list[N.Call]:
    return [i for i in fn.instructions() if isinstance(i, N.Call)
            and isinstance(f := root(i.fn), N.Prim) and f.op == "unsafe_head"]


def _meet(a, b):
    if a is None or b is None:
        return None
    if a is ANY:
        return b
    if b is ANY or a is b:
        return a
    return None


def _element_facts(fn: N.Function) -> dict[int, object]:
    """id of a value -> its fact, for the values that have one."""
    lists: list[N.Instr] = []
    for i in fn.instructions():
        if isinstance(i, N.Phi) and i.rep is N.Rep.VALUE:
            lists.append(i)
        elif isinstance(i, N.Prim) and i.op in ("cons", "unsafe_tail"):
            lists.append(i)
    facts: dict[int, object] = {id(i): ANY for i in lists}
    for v in _written_pairs(fn):
        facts[id(v)] = None

    def fact(v: N.Value):
        if isinstance(v, N.Const) and v.rep is N.Rep.VALUE and v.value == N.EMPTY_LIST:
            return ANY
        return facts.get(id(v))

    def closure_of(v: N.Value) -> Optional[N.Function]:
        v = root(v)
        if isinstance(v, N.MakeClosure):
            return v.function
        if isinstance(v, N.Prim) and v.op == "unsafe_head":
            f = fact(v.args[0])
            return f if isinstance(f, N.Function) else None
        return None

    def recompute(i: N.Instr):
        if isinstance(i, N.Phi):
            out = ANY
            for _, v in i.incoming:
                out = _meet(out, fact(v))
            return out
        if i.op == "unsafe_tail":
            return fact(i.args[0])
        head = closure_of(i.args[0])
        return _meet(head, fact(i.args[1])) if head is not None else None

    changed = True
    while changed:
        changed = False
        for i in lists:
            old = facts[id(i)]
            if old is None:
                continue
            new = _meet(old, recompute(i))
            if new is not old:
                facts[id(i)] = new
                changed = True
    return {k: f for k, f in facts.items() if isinstance(f, N.Function)}


def _written_pairs(fn: N.Function) -> list[N.Value]:
    """The values that may be a pair whose tail ``prim.set_tail`` writes: its
    first operand, through phis. Whatever such a pair was built as, its tail
    becomes another list, so it (and every list with it as a tail) has no fact."""
    out, seen = [], set()
    todo = [i.args[0] for i in fn.instructions() if isinstance(i, N.Prim) and i.op == "set_tail"]
    while todo:
        v = todo.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        out.append(v)
        if isinstance(v, N.Phi):
            todo.extend(w for _, w in v.incoming)
    return out


def _make_known(call: N.Call, facts: dict[int, object], uses: Uses) -> Optional[N.CallKnown]:
    target = facts.get(id(root(call.fn).args[0]))
    if target is None or target.kind != "closure" or target.rest_param is not None \
            or target.arity != len(call.args):
        return None
    block = call.block
    k = block.instrs.index(call)
    known = N.CallKnown(target, call.fn, call.args, call.span, call.tail)
    known.block, known.rep, known.inlined = block, call.rep, call.inlined
    known.returns_for, known.inline_path = call.returns_for, call.inline_path
    known.closure_known = True
    block.instrs[k] = known
    uses.add(known)
    uses.replace(call, known)
    return known
