"""Accumulator loops: a linear recursion ``a + f(args)`` becomes a loop.

In:  IR after passes/leaf_exits.py. A ``raw_ints`` clone ``f_fix`` (made by
     passes/specialise_fixnums.py, called by its guarded entry ``f``) is
     *pure* when it holds nothing but constants, ``IntOp``s, phis, branches,
     jumps, returns and calls of itself: it cannot print, perform, allocate or
     raise anything but overflow-error, so running it twice is invisible except
     for time. A return of ``t1 + (t2 + ... f_fix(args))`` with the self call
     evaluated last (nothing but constants and ``IntOp``s after it) is in tail
     position modulo ``+``. A block that only combines its phis into such a
     return is first copied into each predecessor; a leaf exit tested before
     such a call (leaf_exits.py) is dropped, since the loop header tests it.
Out: when every self call of a pure clone is in tail position modulo ``+``
     (a linear recursion: ``sum``, ``count``; not fib), a second clone
     ``f_acc``:
     - its loop header carries two more phis, ``acc`` (0 on entry) and
       ``steps``; each such return checks every term ``>= 0``, adds it to
       ``acc``, counts a step and jumps back to the header with ``args`` (the
       jump carries the call's span: a polled back edge); every other return
       checks its value ``>= 0`` and returns ``acc + value``;
     - every ``IntOp`` add or sub is ``bail``: on overflow it returns -1;
     - a failed check, an overflow, or more than ``STEP_LIMIT`` steps returns
       -1 ("bail"; a result it keeps is never negative);
     and ``f`` calls ``f_acc`` and, when it bails, ``f_fix`` from the start.

Exactness: ``f_acc`` sums in another order than ``f_fix`` (which adds
``t + f(x')`` innermost first), but when every term and the last value are
``>= 0``, every partial sum of ``f_fix`` is a suffix of ``f_acc``'s total,
which fits; every other ``IntOp`` is evaluated on the same values in the same
order. So a result ``>= 0`` is exactly ``f_fix``'s, with no error on the way,
and anything else (an overflow in either order, a negative value such as
``(sum -5)``) is left to ``f_fix``, whose errors, locations and call chains are
the original ones. The loop needs no frame per step where ``f_fix`` pushed one,
so a recursion that overflowed the stack may now finish; but a loop that has
taken more steps than any stack of the runtime could hold frames of ``f_fix``
(an unbounded recursion, ``(+ 1 (f (+ n 1)))``) bails too, and ``f_fix`` then
reports the stack overflow it always did.

A tree recursion (fib) is left alone: its other call stays a call, of a
function whose frame holds the accumulator as well, and fib ran 38.5 -> 50.0 M
instructions (docs/bench.md, "Accumulator loops").
"""
from __future__ import annotations

from typing import Optional

from .. import nodes as N
from ..copying import copy_blocks
from ..nodes import Rep
from .inline import split_block

# The program stack is 1 GiB (runtime_c/error.c, PROGRAM_STACK_BYTES; task
# stacks are smaller) and a frame of a function that calls is at least 16
# bytes (return address, 16-byte alignment): ``f_fix`` cannot nest deeper.
STEP_LIMIT = (1 << 30) // 16

PURE = (N.Const, N.IntOp, N.Phi, N.Branch, N.Jump, N.Return)


def make_accumulator_loops(module: N.Module) -> None:
    for fn in list(module.functions):
        if not fn.raw_ints:
            continue
        calls = [(g, i) for g in module.functions if g is not fn for i in g.instructions()
                 if isinstance(i, N.CallKnown) and i.function is fn]
        if len(calls) != 1 or not calls[0][1].hidden or not _pure(fn):
            continue
        acc = _clone(fn, fn.name.removesuffix("_fix") + "_acc")
        if _Accumulator(acc).run():
            module.functions.insert(module.functions.index(fn) + 1, acc)
            _retry_entry(*calls[0], acc, fn)


def _pure(fn: N.Function) -> bool:
    return all(isinstance(i, PURE) or (isinstance(i, N.CallKnown) and i.function is fn
                                       and not i.tail)
               for i in fn.instructions())


def _header(fn: N.Function) -> Optional[N.Block]:
    entry = fn.blocks[0]
    if len(entry.instrs) != 1 or not isinstance(entry.instrs[0], N.Jump):
        return None
    header = entry.instrs[0].target
    phis = header.phis
    if len(phis) != fn.arity or [dict(p.incoming).get(entry) for p in phis] != fn.params:
        return None
    return header


def _clone(fn: N.Function, name: str) -> N.Function:
    clone = N.Function(name, fn.display_name, fn.arity, False, fn.kind, fn.span)
    clone.nfree, clone.free_labels, clone.raw_ints = fn.nfree, list(fn.free_labels), True
    for p, q in zip(fn.params, clone.params):
        q.rep = p.rep
    bmap = {}
    for b in fn.blocks:
        bmap[b] = N.Block(b.label)
        clone.blocks.append(bmap[b])
    copy_blocks(fn.blocks, bmap, {id(p): q for p, q in zip(fn.params, clone.params)})
    for i in clone.instructions():
        if isinstance(i, N.CallKnown) and i.function is fn:
            i.function = clone
    return clone


def _add(block: N.Block, instr: N.Instr) -> N.Instr:
    instr.block = block
    block.instrs.append(instr)
    return instr


def _is_self_call(fn: N.Function, v: N.Value) -> bool:
    return isinstance(v, N.CallKnown) and v.function is fn


class _Accumulator:
    def __init__(self, fn: N.Function):
        self.fn = fn
        self.bail: Optional[N.Block] = None

    def run(self) -> bool:
        fn = self.fn
        header = _header(fn)
        if header is None:
            return False
        self._copy_leaf_joins()
        tails = [t for t in map(self._tail_sum, fn.blocks) if t is not None]
        # Only a linear recursion (the docstring: fib does not pay).
        if not tails or len(tails) != sum(_is_self_call(fn, i) for i in fn.instructions()):
            return False
        self.bail = fn.new_block("bail")
        _add(self.bail, N.Return(_add(self.bail, N.Const(Rep.I64, -1))))
        self.acc, self.steps = N.Phi(Rep.I64, "acc"), N.Phi(Rep.I64, "steps")
        entry = fn.blocks[0]
        zero = N.Const(Rep.I64, 0)
        zero.block = entry
        entry.instrs.insert(0, zero)
        for phi in (self.acc, self.steps):
            phi.block = header
            for pred in [b for b in fn.blocks if header in b.successors()]:
                phi.add_incoming(pred, zero if pred is entry else phi)
            header.instrs.insert(len(header.phis), phi)
        for call, sums, terms in tails:
            self._loop_back(header, call, sums, terms)
        returns = [b.terminator for b in fn.blocks
                   if isinstance(b.terminator, N.Return) and b is not self.bail]
        for ret in returns:
            block = self._check(ret.block, ret.block.instrs.index(ret), ret.value)
            total = _add(block, N.IntOp("add", self.acc, ret.value, None))
            ret.value = total
            block.instrs.remove(ret)
            _add(block, ret)
        for i in fn.instructions():
            if isinstance(i, N.IntOp) and i.op in N.IntOp.ARITH:
                i.bail = True
        return True

    def _copy_leaf_joins(self) -> None:
        """A block that only combines its phis into a return, one of them the
        result of a self call ending a predecessor (a leaf exit's join), is
        copied into each predecessor (all of them jump to it)."""
        fn = self.fn
        for block in list(fn.blocks):
            phis = block.phis
            body = block.instrs[len(phis):]
            if not (phis and isinstance(block.terminator, N.Return)
                    and all(isinstance(i, (N.Const, N.IntOp, N.Return)) for i in body)):
                continue
            preds = [b for b in fn.blocks if block in b.successors()]
            if not all(isinstance(p.terminator, N.Jump) for p in preds):
                continue
            if not any(_is_self_call(fn, v) and len(p.instrs) > 1 and p.instrs[-2] is v
                       for phi in phis for p, v in phi.incoming):
                continue
            if self._undo_leaf_exit(block, preds):
                preds = [b for b in fn.blocks if block in b.successors()]
            fn.blocks.remove(block)
            for pred in preds:
                pred.instrs.pop()
                values = {id(phi): dict(phi.incoming)[pred] for phi in phis}
                tail = N.Block(block.label)
                tail.instrs = body
                copy_blocks([tail], {tail: pred}, values)

    def _undo_leaf_exit(self, join: N.Block, preds: list) -> bool:
        """A leaf exit before a call in tail position modulo + (leaf and call
        blocks that only jump to ``join``, after one branch): the branch goes
        to the call, whose loop header tests the same exit."""
        fn = self.fn
        if len(preds) != 2 or len(join.phis) != 1:
            return False
        phi = join.phis[0]
        for leaf, call_block in (preds, preds[::-1]):
            call = dict(phi.incoming)[call_block]
            if not (len(leaf.instrs) == 1 and len(call_block.instrs) == 2
                    and call_block.instrs[0] is call and _is_self_call(fn, call)):
                continue
            tests = [b for b in fn.blocks if leaf in b.successors()]
            if len(tests) != 1 or [b for b in fn.blocks if call_block in b.successors()] != tests:
                continue
            test = tests[0]
            test.instrs[-1] = N.Jump(call_block)
            test.instrs[-1].block = test
            fn.blocks.remove(leaf)
            phi.incoming = [(call_block, call)]
            return True
        return False

    def _tail_sum(self, block: N.Block) -> Optional[tuple]:
        """(call, sums, terms) when ``block`` returns ``t1 + (t2 + ... call)``
        (``sums``: those adds, outermost first, each used only by the next)
        and the call is the last thing it evaluates that is not an IntOp."""
        fn = self.fn
        ret = block.terminator
        if not isinstance(ret, N.Return):
            return None
        sums, terms, v = [], [], ret.value
        while isinstance(v, N.IntOp) and v.op == "add" and v.block is block:
            inner, term = (v.b, v.a) if _is_self_call(fn, v.b) or _is_sum(v.b, block) else (v.a, v.b)
            sums.append(v)
            terms.append(term)
            v = inner
        if not (sums and _is_self_call(fn, v) and v.block is block):
            return None
        call = v
        mine = set(map(id, sums)) | {id(call)}
        after = block.instrs[block.instrs.index(call) + 1:-1]
        # Nothing else uses the call or a partial sum (each add takes the
        # next one once: no term is one of them).
        for i in after:
            if not isinstance(i, (N.Const, N.IntOp)):
                return None
            if id(i) not in mine and any(id(o) in mine for o in i.operands()):
                return None
        if any(id(t) in mine for t in terms):
            return None
        return call, sums, terms

    def _check(self, block: N.Block, k: int, value: N.Value) -> N.Block:
        """Bail when ``value`` < 0, tested before ``block.instrs[k]``; returns
        the block that holds the rest."""
        if isinstance(value, N.Const) and value.value >= 0:
            return block
        fn = self.fn
        rest = fn.new_block("acc_ok")
        rest.instrs = block.instrs[k:]
        for i in rest.instrs:
            i.block = rest
        for s in rest.successors():
            for phi in s.phis:
                phi.incoming = [(rest if p is block else p, v) for p, v in phi.incoming]
        block.instrs = block.instrs[:k]
        zero = _add(block, N.Const(Rep.I64, 0))
        negative = _add(block, N.IntOp("lt", value, zero, None))
        _add(block, N.Branch(negative, self.bail, rest, likely=False))
        return rest

    def _loop_back(self, header: N.Block, call: N.CallKnown, sums: list, terms: list) -> None:
        block = call.block
        ret = block.instrs[-1]
        for i in [call, ret] + sums:
            block.instrs.remove(i)
        acc = self.acc
        for term in terms:
            block = self._check(block, len(block.instrs), term)
            acc = _add(block, N.IntOp("add", acc, term, None))
        steps = _add(block, N.IntOp("add", self.steps, _add(block, N.Const(Rep.I64, 1)), None))
        limit = _add(block, N.Const(Rep.I64, STEP_LIMIT))
        too_deep = _add(block, N.IntOp("gt", steps, limit, None))
        back = self.fn.new_block("acc_loop")
        _add(block, N.Branch(too_deep, self.bail, back, likely=False))
        _add(back, N.Jump(header, call.span))
        values = dict(zip(map(id, header.phis), call.args + [acc, steps]))
        for phi in header.phis:
            phi.add_incoming(back, values[id(phi)])


def _is_sum(v: N.Value, block: N.Block) -> bool:
    return isinstance(v, N.IntOp) and v.op == "add" and v.block is block


def _retry_entry(fn: N.Function, call: N.CallKnown, acc: N.Function, fixfn: N.Function) -> None:
    """The guarded entry's ``r = f_fix(ints)`` becomes ``r = f_acc(ints)``,
    and ``f_fix(ints)`` again when that bails."""
    block, join = split_block(fn, call.block, call, "acc_done")
    _add(block, call)
    call.function = acc
    zero = _add(block, N.Const(Rep.I64, 0))
    bailed = _add(block, N.IntOp("lt", call, zero, None))
    slow = fn.new_block("acc_bailed")
    _add(block, N.Branch(bailed, slow, join, likely=False))
    again = _add(slow, N.CallKnown(fixfn, call.closure, list(call.args), call.span))
    again.rep, again.hidden = Rep.I64, True
    _add(slow, N.Jump(join))
    result = N.Phi(Rep.I64, "result")
    result.add_incoming(block, call)
    result.add_incoming(slow, again)
    result.block = join
    for i in join.instrs:
        i.replace_operand(call, result)
    join.instrs.insert(0, result)
