"""Dominator analysis over the SSA IR's control-flow graph, shared by the passes
and the backend.

In:  an `N.Function` whose first block is the entry.
Out: `reverse_postorder` -- the reachable blocks, each after all of its dominators;
     `immediate_dominators` -- the dominator tree (Cooper, Harvey and Kennedy's
     "A Simple, Fast Dominance Algorithm": iterate `meet` over the reverse
     postorder until nothing changes; near-linear on the reducible graphs lowering
     makes), with the predecessor lists it needed;
     `Dominators.common` -- the nearest block dominating a set of blocks.
Unreachable blocks appear in none of the results.
"""
from __future__ import annotations

from . import nodes as N


def reverse_postorder(fn: N.Function) -> list[N.Block]:
    """Reachable blocks in an order where every definition is met before its uses.
    Iterative, so a function of 10^5 blocks needs no Python recursion."""
    entry = fn.blocks[0]
    order, seen = [], {entry}
    stack = [(entry, iter(entry.successors()))]
    while stack:
        block, succs = stack[-1]
        for s in succs:
            if s not in seen:
                seen.add(s)
                stack.append((s, iter(s.successors())))
                break
        else:
            stack.pop()
            order.append(block)
    order.reverse()
    return order


class Dominators:
    """The immediate dominator of every reachable block (`idom`, the entry maps to
    itself), the reachable predecessors of each (`preds`), and the reverse
    postorder they were computed over (`order`)."""

    def __init__(self, fn: N.Function):
        order = reverse_postorder(fn)
        self.order = order
        self.index = {b: k for k, b in enumerate(order)}
        self.preds: dict[N.Block, list[N.Block]] = {b: [] for b in order}
        for b in order:
            for s in b.successors():
                self.preds[s].append(b)
        self.idom: dict[N.Block, N.Block] = {order[0]: order[0]}
        changed = True
        while changed:
            changed = False
            for b in order[1:]:
                done = [p for p in self.preds[b] if p in self.idom]
                new = done[0]
                for p in done[1:]:
                    new = self.meet(new, p)
                if self.idom.get(b) is not new:
                    self.idom[b] = new
                    changed = True

    def meet(self, a: N.Block, b: N.Block) -> N.Block:
        """The nearest common dominator of two blocks already in the tree."""
        index, idom = self.index, self.idom
        while a is not b:
            while index[a] > index[b]:
                a = idom[a]
            while index[b] > index[a]:
                b = idom[b]
        return a

    def common(self, blocks: list[N.Block]) -> N.Block:
        """The nearest block that dominates every one of `blocks` (reachable ones)."""
        common = blocks[0]
        for b in blocks[1:]:
            common = self.meet(common, b)
        return common
