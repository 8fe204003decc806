"""One level of self-inlining in pure tree-recursive raw-ints clones.

In:  IR after passes/specialise_fixnums.py, before passes/leaf_exits.py. A
     ``raw_ints`` clone ``f_fix`` is *pure* when it holds nothing but
     constants, ``IntOp``s, phis, branches, jumps, returns and calls of itself
     that are not tail calls (the same test as passes/accumulate.py).
Out: in every pure clone with at least two self calls (a tree recursion: fib,
     tak; a linear one is left to passes/accumulate.py) and at most ``BUDGET``
     instructions, each self call is replaced by a copy of the clone's body as
     it was before this pass: its parameters are the call's arguments, each of
     its returns jumps to the code after the call (a phi joins them), and its
     own self calls stay calls of ``f_fix``. leaf_exits.py then tests its leaf
     exit at each of those calls, so fib does, per machine frame, what two
     levels of its recursion did:

       fib(n) = n < 2 ? n : [m = n-1: m < 2 ? m : fib(m-1) + fib(m-2)]
                          + [m = n-2: m < 2 ? m : fib(m-1) + fib(m-2)]

Exactness: the copy runs the same instructions on the same values in the same
order as the call it replaces would have, so results and overflow errors are
the same; what changes is only that half the frames are not pushed. The
copies carry an ``Inlined`` record of the call they replace (``f_fix`` called
at the call's span), so error reports print the frames that are missing
(runtime_c/callchain.c), and the calls in the copies keep their own spans, so
a stack overflow is reported at the same call with the same chain (the depth
at which it happens changes, which the report's "at least 10,000,000 more
frames" does not show). Ctrl-C is still noticed: every call polls
(backend/codegen.py, raw clones), and every cycle of the recursion still
passes a call.

Not unrolled further: one level is what gcc -O2 does with fib too, and the
code doubles with every level (docs/bench.md, "Self-inlining").
"""
from __future__ import annotations

from .. import nodes as N
from ..copying import copy_blocks
from .accumulate import PURE
from .inline import _frame, _jump, _rebaser, join_returns, split_block

BUDGET = 40     # instructions of the clone; its size after the pass is about the square of its calls


def inline_self_calls(module: N.Module) -> None:
    for fn in module.functions:
        if not fn.raw_ints:
            continue
        calls = [i for i in fn.instructions() if _is_self_call(fn, i)]
        if len(calls) < 2 or not _pure(fn) or sum(len(b.instrs) for b in fn.blocks) > BUDGET:
            continue
        template = _snapshot(fn)
        results = {id(call): _inline_copy(fn, template, call) for call in calls}
        for i in fn.instructions():
            for op in i.operands():
                if id(op) in results:
                    i.replace_operand(op, results[id(op)])


def _is_self_call(fn: N.Function, i: N.Instr) -> bool:
    return isinstance(i, N.CallKnown) and i.function is fn and not i.tail


def _pure(fn: N.Function) -> bool:
    return all(isinstance(i, PURE) or _is_self_call(fn, i) for i in fn.instructions())


def _snapshot(fn: N.Function) -> list[N.Block]:
    """A detached copy of ``fn``'s blocks (parameters and calls still ``fn``'s),
    so that every self call gets the body as it was before any was inlined."""
    bmap = {b: N.Block(b.label) for b in fn.blocks}
    copy_blocks(fn.blocks, bmap, {})
    return [bmap[b] for b in fn.blocks]


def _inline_copy(fn: N.Function, template: list[N.Block], call: N.CallKnown) -> N.Value:
    """Replace ``call`` by a copy of ``template``; returns the value that stands
    for its result (the caller replaces the uses)."""
    head, cont = split_block(fn, call.block, call)
    blocks = {tb: fn.new_block("self") for tb in template}
    values: dict[int, N.Value] = {id(p): a for p, a in zip(fn.params, call.args)}
    clones = copy_blocks(template, blocks, values)
    rebase = _rebaser(_frame(fn, call))
    for c in clones:
        c.inline_path = call.inline_path + (fn,) + c.inline_path
        c.inlined = rebase(c.inlined)
        if c.returns_for is not None:
            c.returns_for = rebase(c.returns_for)
    returns = []
    for nb in blocks.values():
        ret = nb.terminator
        if isinstance(ret, N.Return):
            returns.append((nb, ret.value))
            nb.instrs[-1] = _jump(cont, nb, ret.inlined)
    result = join_returns(cont, returns, call.rep, "self")
    head.instrs.append(_jump(blocks[template[0]], head, call.inlined))
    return result
