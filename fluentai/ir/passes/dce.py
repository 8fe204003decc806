"""Dead code elimination.

In: any IR module. Out: the same module without unreachable blocks (and their
phi incomings) and without pure instructions whose value is unused. Which
instructions are pure is listed in ``PURE``: anything that can raise, allocate
observably or write memory stays (an unchecked ``GlobalGet`` is
pure: the closure operand of an inlined known call leaves one behind).
"""
from __future__ import annotations

from .. import nodes as N

PURE_PRIMS = {"truthy", "is_null", "is_empty", "is_pair", "is_data", "unsafe_head", "unsafe_tail",
              "is_fixnum"}
PURE = (N.Const, N.LoadConst, N.Box, N.Not, N.FloatOp, N.LoadFree, N.ClosureSlot,
        N.SelfClosure, N.Phi, N.MakeClosure, N.MakeCell, N.DataField)


def eliminate_dead_code(module: N.Module) -> None:
    for fn in module.functions:
        _remove_unreachable_blocks(fn)
        remove_unused(fn)


def _remove_unreachable_blocks(fn: N.Function) -> None:
    reachable = set()
    stack = [fn.blocks[0]]
    while stack:
        b = stack.pop()
        if b in reachable:
            continue
        reachable.add(b)
        stack.extend(b.successors())
    dead = [b for b in fn.blocks if b not in reachable]
    if not dead:
        return
    fn.blocks = [b for b in fn.blocks if b in reachable]
    dead_set = set(dead)
    for b in fn.blocks:
        for phi in b.phis:
            phi.incoming = [(p, v) for p, v in phi.incoming if p not in dead_set]


def _is_pure(i: N.Instr) -> bool:
    if isinstance(i, PURE):
        return True
    if isinstance(i, N.GlobalGet):
        return not i.checked            # a checked read raises undefined-variable
    if isinstance(i, N.Unbox):
        return not i.checked_op        # a checked unbox raises for a non-number
    return isinstance(i, N.Prim) and i.op in PURE_PRIMS


def remove_unused(fn: N.Function) -> None:
    """Drop the pure instructions of ``fn`` whose values nothing uses."""
    while True:
        used = set()
        for i in fn.instructions():
            for o in i.operands():
                used.add(id(o))
        removed = False
        for b in fn.blocks:
            keep = [i for i in b.instrs if not (_is_pure(i) and id(i) not in used)]
            if len(keep) != len(b.instrs):
                b.instrs = keep
                removed = True
        if not removed:
            return
