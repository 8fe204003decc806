"""The leaf exit of a raw-ints clone, tested at its own calls.

In:  IR after passes/specialise_fixnums.py. Out: in every ``raw_ints``
     function whose loop header (the block its entry jumps to) computes only
     constants and one ``IntOp`` comparison of its phis and constants, and
     branches on it to a block that only returns one of those phis or a
     constant (fib: ``n < 2`` -> ``n``; tak: ``(not (< y x))`` -> ``z``), every
     call of the function by itself tests that comparison on its own arguments
     first and, when the callee would take that exit at once, uses the value
     the callee would return instead of calling it:

       r = call f(a)        =>    c = cmp(a)  branch c, leaf, call
                                  leaf: jump join
                                  call: r' = call f(a)  jump join
                                  join: r = phi [leaf: the exit's value], [call: r']

What the skipped call would have run cannot raise, poll, allocate or loop (a
comparison of two int64s and constants), so results, errors, call chains and
Ctrl-C are as before; only the recursion makes fewer calls (fib: every leaf of
its call tree, half of all calls) and its deepest frames, which held nothing
but the exit, are not pushed.
"""
from __future__ import annotations

from typing import Optional

from .. import nodes as N
from ..nodes import Rep
from .inline import split_block


def inline_leaf_exits(module: N.Module) -> None:
    for fn in module.functions:
        if fn.raw_ints:
            exit_ = _leaf_exit(fn)
            if exit_ is not None:
                calls = [i for i in fn.instructions()
                         if isinstance(i, N.CallKnown) and i.function is fn]
                phis = {id(call): _test_before(fn, call, *exit_) for call in calls}
                # One walk for all calls: a phi's own operand (its call) stays.
                for i in fn.instructions():
                    for op in i.operands():
                        phi = phis.get(id(op))
                        if phi is not None and i is not phi:
                            i.replace_operand(op, phi)


def _leaf_exit(fn: N.Function) -> Optional[tuple]:
    """(header, comparison, exit value, exit on true?) or None."""
    entry = fn.blocks[0]
    if len(entry.instrs) != 1 or not isinstance(entry.instrs[0], N.Jump):
        return None
    header = entry.instrs[0].target
    phis = header.phis
    body = header.instrs[len(phis):]
    branch = body[-1] if body else None
    if not isinstance(branch, N.Branch) or len(phis) != fn.arity:
        return None
    if [dict(p.incoming).get(entry) for p in phis] != fn.params:
        return None
    cmp = branch.cond
    if not (isinstance(cmp, N.IntOp) and cmp.rep is Rep.BOOL and cmp.block is header):
        return None
    if not all(isinstance(i, N.Const) or i is cmp for i in body[:-1]):
        return None
    if branch.then is branch.orelse:
        return None
    for leaf, on_true in ((branch.then, True), (branch.orelse, False)):
        instrs = leaf.instrs
        if not (instrs and isinstance(instrs[-1], N.Return)
                and all(isinstance(i, N.Const) for i in instrs[:-1])):
            continue
        value = instrs[-1].value
        if value in phis or (isinstance(value, N.Const) and value.block in (header, leaf)):
            return header, cmp, value, on_true
    return None


def _test_before(fn: N.Function, call: N.CallKnown, header: N.Block, cmp: N.IntOp,
                 value: N.Value, on_true: bool) -> N.Phi:
    """Test the exit before ``call``; returns the phi that is to replace its
    uses (the caller replaces them)."""
    args = dict(zip(map(id, header.phis), call.args))
    before = []

    def arg(v: N.Value) -> N.Value:
        if id(v) in args:
            return args[id(v)]
        c = N.Const(v.rep, v.value)     # a constant of the callee's header or exit
        before.append(c)
        return c

    test = N.IntOp(cmp.op, arg(cmp.a), arg(cmp.b), cmp.span)
    result = arg(value)
    before.append(test)
    block, join = split_block(fn, call.block, call, "leaf_join")
    leaf, calls = fn.new_block("leaf"), fn.new_block("leaf_call")
    branch = N.Branch(test, leaf, calls) if on_true else N.Branch(test, calls, leaf)
    block.instrs.extend(before + [branch])
    for i in before + [branch]:
        i.block, i.inlined = block, call.inlined
    jump = N.Jump(join)
    jump.block = leaf
    leaf.instrs = [jump]
    call.block = calls
    jump = N.Jump(join)
    jump.block = calls
    calls.instrs = [call, jump]
    phi = N.Phi(Rep.I64, "leaf")
    phi.add_incoming(leaf, result)
    phi.add_incoming(calls, call)
    phi.block = join
    join.instrs.insert(0, phi)
    return phi
