"""The IR verifier: checks the invariants every pass must preserve.

In: a ``Module``. Out: nothing, or ``IRVerifyError`` naming the function, block
and broken rule. Run after every pass in tests (``pipeline.run_passes(verify=True)``).

Invariants:
  * every block ends in exactly one terminator and has none before it;
  * phis come first in their block and have one incoming value per predecessor;
  * every operand is defined in the same function and dominates its use (a phi
    operand must dominate the end of its incoming block);
  * a ``Switch`` has distinct case values and distinct targets, none its default;
  * representations agree: branch conditions are BOOL, switch values I64, box/unbox take the reps
    they convert, calls and returns carry VALUEs except in and out of a
    ``raw_ints`` function (I64 arguments, results and returns), which only
    known calls reach and which makes no tail call;
  * a tail call is immediately followed by a Return of its own value, and only
    functions with the uniform signature make tail calls.
(A known call with the wrong number of arguments is legal: it raises arity-error
when it runs, as the reference asks.)
"""
from __future__ import annotations

from . import nodes as N
from .nodes import Rep


class IRVerifyError(Exception):
    pass


def verify_module(module: N.Module) -> None:
    for fn in module.functions:
        verify_function(fn)


def _fail(fn, block, msg):
    raise IRVerifyError(f"{fn.name}, block {block.label if block else '?'}: {msg}")


def _dominators(fn: N.Function) -> dict:
    blocks = fn.blocks
    entry = blocks[0]
    preds = {b: [] for b in blocks}
    for b in blocks:
        for s in b.successors():
            preds[s].append(b)
    reachable = set()
    stack = [entry]
    while stack:
        b = stack.pop()
        if b in reachable:
            continue
        reachable.add(b)
        stack.extend(b.successors())
    dom = {b: set(reachable) for b in reachable}
    dom[entry] = {entry}
    changed = True
    while changed:
        changed = False
        for b in blocks:
            if b is entry or b not in reachable:
                continue
            ps = [p for p in preds[b] if p in reachable]
            new = set.intersection(*(dom[p] for p in ps)) if ps else set()
            new = new | {b}
            if new != dom[b]:
                dom[b] = new
                changed = True
    return dom, preds, reachable


def verify_function(fn: N.Function) -> None:
    if not fn.blocks:
        _fail(fn, None, "function has no blocks")
    dom, preds, reachable = _dominators(fn)
    where: dict[int, tuple] = {}
    for b in fn.blocks:
        for pos, i in enumerate(b.instrs):
            where[id(i)] = (b, pos)
    params = set(id(p) for p in fn.params)
    if fn.rest_param is not None:
        params.add(id(fn.rest_param))

    def dominates(defn, use_block, use_pos) -> bool:
        if id(defn) in params:
            return True
        if id(defn) not in where:
            return False
        db, dpos = where[id(defn)]
        if db is use_block:
            return dpos < use_pos
        return db in dom.get(use_block, {db})

    for b in fn.blocks:
        if b.terminator is None:
            _fail(fn, b, "block does not end in a terminator")
        seen_non_phi = False
        for pos, i in enumerate(b.instrs):
            if i.is_terminator and pos != len(b.instrs) - 1:
                _fail(fn, b, f"terminator {type(i).__name__} in the middle of the block")
            if isinstance(i, N.Phi):
                if seen_non_phi:
                    _fail(fn, b, "phi after a non-phi instruction")
                if b in reachable:
                    got = sorted(x.label for x, _ in i.incoming)
                    want = sorted(p.label for p in preds[b])
                    if got != want:
                        _fail(fn, b, f"phi incoming blocks {got} != predecessors {want}")
                for pb, v in i.incoming:
                    if v.rep is not i.rep:
                        _fail(fn, b, f"phi of {i.rep} gets a {v.rep} from {pb.label}")
                    if pb in reachable and not dominates(v, pb, len(pb.instrs)):
                        _fail(fn, b, f"phi operand from {pb.label} does not dominate it")
                continue
            seen_non_phi = True
            if b in reachable:
                for o in i.operands():
                    if not dominates(o, b, pos):
                        _fail(fn, b, f"{type(i).__name__} uses a value that does not dominate it")
            _check_reps(fn, b, i)
            if getattr(i, "tail", False):
                nxt = b.instrs[pos + 1] if pos + 1 < len(b.instrs) else None
                if not (isinstance(nxt, N.Return) and nxt.value is i):
                    _fail(fn, b, "tail call not followed by a return of its value")
                if fn.kind != "closure" or fn.raw_ints:
                    _fail(fn, b, "tail call in a function without the uniform signature")


def _check_reps(fn, b, i) -> None:
    def need(v, rep, what):
        if v.rep is not rep:
            _fail(fn, b, f"{type(i).__name__}: {what} is {v.rep}, expected {rep}")

    if isinstance(i, N.Branch):
        need(i.cond, Rep.BOOL, "condition")
    elif isinstance(i, N.Switch):
        need(i.value, Rep.I64, "value")
        targets = [t for _, t in i.cases]
        if len({k for k, _ in i.cases}) != len(i.cases):
            _fail(fn, b, "Switch: two cases of one value")
        if len(set(targets)) != len(targets) or i.default in targets:
            _fail(fn, b, "Switch: two edges to one block")
    elif isinstance(i, N.Not):
        need(i.a, Rep.BOOL, "operand")
    elif isinstance(i, (N.Unbox, N.Untag)):
        need(i.a, Rep.VALUE, "operand")
    elif isinstance(i, N.Box):
        if i.a.rep not in (Rep.BOOL, Rep.F64, Rep.I64):
            _fail(fn, b, f"Box: operand is {i.a.rep}")
    elif isinstance(i, N.IntOp):
        need(i.a, Rep.I64, "left operand")
        need(i.b, Rep.I64, "right operand")
        if i.bail and not fn.raw_ints:
            _fail(fn, b, "IntOp that bails out of a function that does not return an I64")
    elif isinstance(i, N.FloatOp):
        need(i.a, Rep.F64, "left operand")
        need(i.b, Rep.F64, "right operand")
    elif isinstance(i, N.Return):
        need(i.value, Rep.I64 if fn.raw_ints else Rep.VALUE, "returned value")
    elif isinstance(i, N.CallKnown) and i.function.raw_ints:
        need(i.closure, Rep.VALUE, "closure")
        need(i, Rep.I64, "result")
        if i.tail:
            _fail(fn, b, "tail call of a raw_ints function")
        for o in i.args:
            need(o, Rep.I64, "argument")
    elif isinstance(i, (N.Prim, N.Call, N.CallKnown, N.CallBuiltin, N.Perform, N.MakeClosure,
                        N.ClosureSlot)):
        if isinstance(i, N.MakeClosure) and i.function.raw_ints:
            _fail(fn, b, "closure of a raw_ints function")
        for o in i.operands():
            need(o, Rep.VALUE, "operand")
