"""Fixnum copies of inner loops, with a guarded entry and side exits.

In:  IR after passes/known_lists.py (a list walk's tails are ``unsafe_tail``).
     A loop here is a header block ``H`` with one predecessor outside the
     loop, ``P``, that jumps to it, and back edges from blocks that ``H``
     dominates: a contified named let, or a self-tail-recursive function
     inlined into its caller (``ok?`` inside ``try-it`` in bench/nqueens).
Out: for every innermost loop whose header phis feed ``+``, ``-``, a
     comparison or ``=`` in the loop, a copy of the loop and of its exit
     blocks, ``H_fix``, entered when the phis those operations use are
     fixnums on entry, and
     - ``P`` tests those entry values for fixnums (one test of their bitwise
       or) and, for the phis the range argument below needs, that they lie in
       [-2^60, 2^60]; when a test fails it enters the generic loop ``H``,
       which is left as it was;
     - in the copy a value is a *known fixnum* with a range: a fixnum
       literal; an invariant header phi (every back edge passes the phi
       itself); a *counter* (every back edge passes the phi or the phi plus or
       minus a literal of at most ``MAX_STEP``) of a loop that walks a list
       (every back edge passes some header phi ``w`` the ``unsafe_tail`` of
       ``w``: lists are finite and acyclic, so the loop goes round fewer than
       ``MAX_WALK`` times and the counter stays within its entry range widened
       by ``MAX_STEP * MAX_WALK``); an ``add``/``sub`` of two known fixnums
       whose range fits the fixnums; a phi of known fixnums; any other header
       phi whose back edges check their values (``prim.is_fixnum``; when one
       fails the back edge leaves for the generic header ``H`` with the
       current values of all its phis, a side exit, so the loop goes on from
       where it was);
     - ``prim.add``/``sub``/``lt``/``le``/``gt``/``ge``/``equal`` of two
       known fixnums are marked ``fixnums`` (``.fix``: no tag tests; ``add``
       and ``sub`` keep their overflow check and slow path, which the ranges
       say is never taken); ``equal`` of one known fixnum and another value is
       marked ``fixnum_operand`` (``.fix0``/``.fix1``): the backend tests only
       the other operand's tag and calls ``fl_equal`` only when it is not a
       fixnum (``(= 3 3.0)``).

The exit blocks are copied too, so that the values of the loop reach the code
after it through the phis there (each gets an incoming edge from the copy);
a loop whose values, or its exit blocks' values, are used after it other than
through such a phi is left alone (a named let in tail position of the top
level, whose exit's value is returned from a join block). Every instruction, error and span is copied as it is. Functions that
passes/specialise_fixnums.py cloned (``f`` and ``f_fix``) are left alone.
"""
from __future__ import annotations

import copy

from ...backend import abi
from .. import nodes as N
from ..copying import copy_blocks
from ..dominators import Dominators
from .specialise_fixnums import FIXNUM_OPS, _add, _check_chain, _is_fixnum_const

ENTRY_BOUND = 2 ** 60   # the range a counter or an invariant must be in on entry
MAX_WALK = 2 ** 56      # more pairs than any address space holds (16 bytes each)
MAX_STEP = 8
MAX_COPY = 400          # instructions of a loop and its exits worth copying
OPS = FIXNUM_OPS | {"equal"}


def fixnum_loops(module: N.Module) -> None:
    cloned = {f.name for f in module.functions
              if getattr(f, "fixnum_params", False) or getattr(f, "raw_ints", False)}
    cloned |= {name[:-len("_fix")] for name in cloned if name.endswith("_fix")}
    for fn in list(module.functions):
        # A candidate is a phi of a loop header: at least two incoming edges.
        if fn.name in cloned or not fn.blocks or not any(
                isinstance(i, N.Prim) and i.op in FIXNUM_OPS
                and any(isinstance(a, N.Phi) and len(a.incoming) > 1 for a in i.args)
                for i in fn.instructions()):
            continue
        dom = Dominators(fn)
        headers = [b for b in dom.order if any(_dominates(dom, b, p) for p in dom.preds[b])]
        for header in headers:
            loop = _Loop.find(fn, header, dom)
            if loop is not None:
                loop.specialise()
                dom = Dominators(fn)


def _dominates(dom: Dominators, a: N.Block, b: N.Block) -> bool:
    while True:
        if b is a:
            return True
        up = dom.idom[b]
        if up is b:
            return False
        b = up


class _Loop:
    def __init__(self, fn, header, entry, body, exits, dom):
        self.fn, self.header, self.entry, self.dom = fn, header, entry, dom
        self.body, self.exits = body, exits

    @classmethod
    def find(cls, fn: N.Function, header: N.Block, dom: Dominators):
        if header not in dom.idom:
            return None
        preds = dom.preds[header]
        back = [p for p in preds if _dominates(dom, header, p)]
        if not back or not header.phis:
            return None
        body = {header}
        work = list(back)
        while work:
            b = work.pop()
            if b not in body:
                body.add(b)
                work.extend(dom.preds[b])
        outside = [p for p in preds if p not in body]
        if len(outside) != 1 or not isinstance(outside[0].terminator, N.Jump):
            return None
        for b in body:      # innermost loops only: a nested header would be copied too
            if any(s in body and s is not header and _dominates(dom, s, b) for s in b.successors()):
                return None
            # One way in (reducible): the copy's blocks are entered from the copy only.
            if b is not header and not all(p in body for p in dom.preds[b]):
                return None
        exits = []
        for b in fn.blocks:
            if b not in body and b in dom.idom and any(p in body for p in dom.preds[b]):
                if not all(p in body for p in dom.preds[b]):
                    return None
                exits.append(b)
        if outside[0] in exits:
            return None
        loop = cls(fn, header, outside[0], body, exits, dom)
        if not loop._candidates() or not loop._self_contained():
            return None
        return loop

    def _blocks(self) -> list[N.Block]:
        return [b for b in self.fn.blocks if b in self.body or b in self.exits]

    def _candidates(self) -> list[N.Phi]:
        """The header phis that fixnum arithmetic or comparisons of the loop
        use, but not one that enters as a literal of another kind (a float,
        string or big integer: its copy would never run)."""
        used = {id(a) for b in self.body for i in b.instrs
                if isinstance(i, N.Prim) and i.op in FIXNUM_OPS for a in i.args}
        out = []
        for p in self.header.phis:
            e = dict(p.incoming)[self.entry]
            if p.rep is N.Rep.VALUE and id(p) in used and not isinstance(e, N.LoadConst) and (
                    not isinstance(e, N.Const) or _is_fixnum_const(e)):
                out.append(p)
        return out

    def _self_contained(self) -> bool:
        """Small enough to copy, and no value of the loop is used after it
        except by a phi on an edge from the copied blocks."""
        blocks = self._blocks()
        if sum(len(b.instrs) for b in blocks) > MAX_COPY:
            return False
        copied = set(blocks)
        defined = {id(i) for b in blocks for i in b.instrs}
        for b in self.fn.blocks:
            if b in copied:
                continue
            for i in b.instrs:
                if isinstance(i, N.Phi):
                    if any(id(v) in defined and p not in copied for p, v in i.incoming):
                        return False
                elif any(id(v) in defined for v in i.operands()):
                    return False
        return True

    # ---- the copy ----

    def specialise(self) -> None:
        fn, header = self.fn, self.header
        blocks = self._blocks()
        cands = self._candidates()
        bmap = {b: b for b in fn.blocks}
        for b in blocks:
            bmap[b] = fn.new_block(b.label + "_fix")
        values: dict[int, N.Value] = {}
        copy_blocks(blocks, bmap, values)
        fheader = bmap[header]
        self.fheader, self.bmap = fheader, bmap
        # The code after the loop: each phi there gets the copy's edge.
        for b in blocks:
            for s in b.successors():
                if s in set(blocks):
                    continue
                for phi in s.phis:
                    v = dict(phi.incoming)[b]
                    phi.add_incoming(bmap[b], values.get(id(v), v))
        fphis = {id(p): values[id(p)] for p in header.phis}
        back = [b for b in self.body if header in b.successors()]
        fback = [bmap[b] for b in back]
        entry_vals = {id(p): dict(p.incoming)[self.entry] for p in header.phis}
        ranged = self._ranged(cands, back)
        # Which candidates need a range on entry, and which entries are literals.
        checks, bounds = [], []
        for p in cands:
            e = entry_vals[id(p)]
            if _is_fixnum_const(e):
                if id(p) in ranged and not -ENTRY_BOUND <= e.value <= ENTRY_BOUND:
                    del ranged[id(p)]
                continue
            checks.append(e)
            if id(p) in ranged:
                bounds.append(e)
        self._guard(checks, bounds, fheader)
        known = self._infer(cands, fphis, fback, ranged)
        self._side_exits(fback, known)
        for b in blocks:
            for i in bmap[b].instrs:
                if not isinstance(i, N.Prim) or i.op not in OPS:
                    continue
                fixed = [known(a) is not None for a in i.args]
                if all(fixed):
                    i.fixnums = True
                elif i.op == "equal" and any(fixed):
                    i.fixnum_operand = fixed.index(True)

    def _ranged(self, cands, back) -> dict[int, tuple[int, int]]:
        """Invariant and counter phis: id -> their range in the copy (given
        an entry in [-ENTRY_BOUND, ENTRY_BOUND])."""
        header = self.header
        walks = any(all(isinstance(v := dict(w.incoming)[b], N.Prim) and v.op == "unsafe_tail"
                        and v.args[0] is w for b in back)
                    for w in header.phis if w.rep is N.Rep.VALUE)
        out = {}
        for p in cands:
            steps = []
            for b in back:
                v = dict(p.incoming)[b]
                if v is p:
                    steps.append(0)
                elif (walks and isinstance(v, N.Prim) and v.op in ("add", "sub")
                      and len(v.args) == 2):
                    a, c = v.args
                    if v.op == "add" and a is not p:
                        a, c = c, a
                    if a is not p or not _is_fixnum_const(c) or not 0 <= c.value <= MAX_STEP:
                        break
                    steps.append(c.value if v.op == "add" else -c.value)
                else:
                    break
            else:
                up = max(steps + [0]) * MAX_WALK
                down = -min(steps + [0]) * MAX_WALK
                out[id(p)] = (-ENTRY_BOUND - down, ENTRY_BOUND + up)
        return out

    def _infer(self, cands, fphis, fback, ranged):
        """The known fixnums of the copy: a function from a value to its
        range, None when it is not one. Candidate phis without
        a range are known when each back edge passes a known fixnum or can
        check it (a jump); the others' ranges rest on the walk argument."""
        fn = self.fn
        copy = [self.bmap[b] for b in self._blocks()]
        order = [b for b in Dominators(fn).order if b in set(copy)]
        lo, hi = abi.FIXNUM_MIN, abi.FIXNUM_MAX
        fheader = self.fheader
        assumed = {id(fphis[id(p)]): ranged.get(id(p), (lo, hi)) for p in cands}
        checkable = {b for b in fback if isinstance(b.terminator, N.Jump)}
        def at(v):
            got = rng.get(id(v))
            if got is None and _is_fixnum_const(v):
                got = (v.value, v.value)
            return got

        while True:
            rng = dict(assumed)
            for b in order:
                for i in b.instrs:
                    if _is_fixnum_const(i):
                        rng[id(i)] = (i.value, i.value)
                    elif (isinstance(i, N.Prim) and i.op in ("add", "sub")
                          and all(at(a) for a in i.args)):
                        (a0, a1), (b0, b1) = (at(a) for a in i.args)
                        r = (a0 + b0, a1 + b1) if i.op == "add" else (a0 - b1, a1 - b0)
                        if lo <= r[0] and r[1] <= hi:
                            rng[id(i)] = r
                    elif isinstance(i, N.Phi) and b is not fheader and i.rep is N.Rep.VALUE:
                        got = [at(v) for _, v in i.incoming]
                        if all(got):
                            rng[id(i)] = (min(g[0] for g in got), max(g[1] for g in got))
            dropped = False
            for p in cands:
                fp = fphis[id(p)]
                if id(fp) not in assumed:
                    continue
                for b, v in fp.incoming:
                    if b not in fback or at(v):
                        continue
                    if id(p) in ranged or b not in checkable:
                        del assumed[id(fp)]
                        dropped = True
                        break
            if not dropped:
                return at

    def _guard(self, checks, bounds, fheader) -> None:
        """``P``: the fixnum (and range) tests of the entry values, to the copy
        or, when one fails, to the generic header."""
        fn, header, entry = self.fn, self.header, self.entry
        jump = entry.terminator
        entry.instrs.remove(jump)
        generic = fn.new_block("loop_generic")
        _add(generic, copy.copy(jump))
        for phi in header.phis:
            phi.incoming = [(generic if b is entry else b, v) for b, v in phi.incoming]
        last = entry
        if checks:
            ok = fn.new_block("loop_fixnums")
            _check_chain(fn, last, checks, ok, generic)
            last = ok
        for e in bounds:
            for op, bound in (("le", ENTRY_BOUND), ("ge", -ENTRY_BOUND)):
                c = _add(last, N.Const(N.Rep.VALUE, bound))
                test = _add(last, N.Prim(op, [e, c], None))
                test.fixnums = True
                ok = fn.new_block("loop_bounded")
                _add(last, N.Branch(test, ok, generic, likely=True))
                last = ok
        jump.target = fheader
        _add(last, jump)
        for phi in fheader.phis:
            phi.incoming = [(last if b is entry else b, v) for b, v in phi.incoming]

    def _side_exits(self, fback, known) -> None:
        """A back edge of the copy that passes a candidate an unknown value
        checks it; when it is not a fixnum the loop goes on in the generic
        header from the current values."""
        fn, header, fheader = self.fn, self.header, self.fheader
        for pred in fback:
            jump = pred.terminator
            args = [dict(p.incoming)[pred] for p in fheader.phis]
            unknown = [a for p, a in zip(fheader.phis, args)
                       if known(p) is not None and known(a) is None]
            if not unknown:
                continue
            pred.instrs.remove(jump)
            last = fn.new_block("loop_checked")
            fail = fn.new_block("loop_exit")
            _check_chain(fn, pred, unknown, last, fail)
            # The jumps keep the back edge's annotations: a poll there reports
            # the call chain of the frames inlining removed.
            _add(last, jump)
            for phi in fheader.phis:
                phi.incoming = [(last if b is pred else b, v) for b, v in phi.incoming]
            exit_jump = copy.copy(jump)
            exit_jump.target = header
            _add(fail, exit_jump)
            for phi, a in zip(header.phis, args):
                phi.add_incoming(fail, a)
