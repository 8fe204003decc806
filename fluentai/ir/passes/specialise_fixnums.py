"""Fixnum specialisation of self-recursive functions, with a guarded entry.

In:  IR after the other passes (a tail call of a function to itself is already
     a jump back to its loop header, ``body``, whose phis carry the parameters).
Out: for every self-recursive closure ``f`` of one to three parameters that
     does fixnum arithmetic or comparisons on them, a clone ``f_fix`` with
     ``fixnum_params`` set (the backend skips its argument-count check and
     tells LLVM that every parameter is a fixnum), and
     - ``f`` starts with a guard: when every argument is a fixnum it tail-calls
       ``f_fix`` (``musttail``: no extra frame, the same call chains), else it
       runs its own generic body unchanged;
     - in ``f_fix``, a value is *known fixnum* when it is a parameter, a fixnum
       literal, a phi of known fixnums, or an argument of a back edge to the
       loop header that the back edge checks (an argument that is not known
       goes through ``prim.is_fixnum``; when the check fails the back edge
       becomes a tail call of the generic ``f``, so tail calls stay proper);
     - ``prim.add``/``sub``/``lt``/``le``/``gt``/``ge`` of two known fixnums
       are marked ``fixnums`` (printed ``prim.add.fix``): the backend drops
       their tag checks. ``add``/``sub`` keep ``llvm.s*.with.overflow``: a
       result outside the fixnum range goes to the same slow path as before,
       which boxes it (two fixnums never overflow int64, so nothing new can be
       raised there);
     - a call of ``f`` itself calls ``f_fix`` directly when its arguments are
       known fixnums, else it checks the unknown ones and calls ``f_fix`` or
       ``f`` (LLVM threads that check through the fast path of the ``sub``
       that computed the argument).

Every other instruction, error and span is copied as is, so messages,
locations and call chains (``f_fix`` has ``f``'s name) stay as they were.
Values keep their tagged VALUE representation: a known fixnum costs no untag
and no retag, and the result of ``f_fix`` is an ordinary VALUE.
"""
from __future__ import annotations

from typing import Optional

from ... backend import abi
from .. import nodes as N
from ..copying import copy_blocks
from ..nodes import Rep
from .inline import split_block
from .static_closures import static_closure

FIXNUM_OPS = {"add", "sub", "lt", "le", "gt", "ge"}
MAX_ARITY = 3       # register arguments: a guarded entry with more would allocate its rest array


def specialise_fixnums(module: N.Module) -> None:
    # An error:catch handler can answer an overflow with a value that `+`
    # then returns (a resume point: runtime_c/fluentai.h), which a raw int
    # cannot hold: raw clones only where no error:catch can be installed (a
    # REPL session's earlier inputs may have installed one).
    raw = not module.session and "error:catch" not in module.effect_ops
    for fn in list(module.functions):
        header = _loop_header(fn)
        if header is not None and _worth_it(fn, header):
            _specialise(module, fn, header, raw)


def _loop_header(fn: N.Function):
    """The block whose phis carry the parameters: entry jumps to it and gives
    each phi its parameter, in order."""
    if (fn.kind != "closure" or fn.rest_param is not None or getattr(fn, "fixnum_params", False)
            or not 1 <= fn.arity <= MAX_ARITY or not fn.blocks):
        return None
    entry = fn.blocks[0]
    if len(entry.instrs) != 1 or not isinstance(entry.instrs[0], N.Jump):
        return None
    header = entry.instrs[0].target
    phis = header.phis
    if len(phis) != fn.arity:
        return None
    for phi, param in zip(phis, fn.params):
        if phi.rep is not Rep.VALUE or dict(phi.incoming).get(entry) is not param:
            return None
    return header


def _self_calls(fn: N.Function) -> list[N.CallKnown]:
    return [i for i in fn.instructions()
            if isinstance(i, N.CallKnown) and i.function is fn and not i.tail]


def _worth_it(fn: N.Function, header: N.Block) -> bool:
    if not _self_calls(fn):
        return False
    params = set(map(id, header.phis))
    return any(isinstance(i, N.Prim) and i.op in FIXNUM_OPS and any(id(a) in params for a in i.args)
               for i in fn.instructions())


def _is_fixnum_const(v) -> bool:
    return (isinstance(v, N.Const) and v.rep is Rep.VALUE and isinstance(v.value, int)
            and not isinstance(v.value, bool) and abi.FIXNUM_MIN <= v.value <= abi.FIXNUM_MAX)


# ---- cloning ----

def _clone(fn: N.Function, name: str) -> tuple[N.Function, dict]:
    clone = N.Function(name, fn.display_name, fn.arity, False, fn.kind, fn.span)
    clone.nfree, clone.free_labels = fn.nfree, list(fn.free_labels)
    values: dict[int, N.Value] = {id(p): q for p, q in zip(fn.params, clone.params)}
    bmap: dict[N.Block, N.Block] = {}
    for b in fn.blocks:
        nb = N.Block(b.label)
        clone.blocks.append(nb)
        bmap[b] = nb
    copy_blocks(fn.blocks, bmap, values)
    return clone, bmap


# ---- rewriting ----

def _add(block: N.Block, instr: N.Instr) -> N.Instr:
    instr.block = block
    block.instrs.append(instr)
    return instr


def _retarget_phis(fn: N.Function, old: N.Block, new: N.Block, succs) -> None:
    for s in succs:
        for phi in s.phis:
            phi.incoming = [(new if p is old else p, v) for p, v in phi.incoming]


def _check_chain(fn: N.Function, start: N.Block, values, ok: N.Block, fail: N.Block) -> None:
    """From the end of ``start``: branch to ``ok`` when every value is a
    fixnum (one test of their bitwise or), else to ``fail``."""
    test = _add(start, N.Prim("is_fixnum", list(values), None))
    _add(start, N.Branch(test, ok, fail, likely=True))


def _guarded_entry_block(fn: N.Function) -> N.Block:
    """Move ``fn``'s body behind a new entry that tests every argument for a
    fixnum: the old body runs when one is not; returns the block that runs
    when all are, for the caller to fill."""
    entry = fn.blocks[0]
    generic = fn.new_block("generic")
    generic.instrs, entry.instrs = entry.instrs, []
    for i in generic.instrs:
        i.block = generic
    _retarget_phis(fn, entry, generic, generic.successors())
    fast = fn.new_block("fixnum_entry")
    _check_chain(fn, entry, fn.params, fast, generic)
    return fast


def _guard_entry(fn: N.Function, fixfn: N.Function) -> None:
    """``f``: all arguments fixnums -> tail call ``f_fix``; else the old body."""
    fast = _guarded_entry_block(fn)
    me = _add(fast, N.SelfClosure())
    call = _add(fast, N.CallKnown(fixfn, me, list(fn.params), fn.span, tail=True))
    _add(fast, N.Return(call))


class _Specialiser:
    def __init__(self, generic: N.Function, fixfn: N.Function, header: N.Block):
        self.generic = generic
        self.fn = fixfn
        self.header = header
        self.entry = fixfn.blocks[0]
        # (block, value): value is a checked fixnum on the edges leaving block
        self.checked: set[tuple[int, int]] = set()
        self.known: set[int] = set()

    def run(self) -> None:
        self._infer()       # first without the back-edge checks: which values need one
        self._check_back_edges()
        self._infer()
        self._calls()
        for i in self.fn.instructions():
            if (isinstance(i, N.Prim) and i.op in FIXNUM_OPS
                    and all(id(a) in self.known for a in i.args)):
                i.fixnums = True

    def _infer(self) -> None:
        fn = self.fn
        known = {id(p) for p in fn.params}
        known |= {id(i) for i in fn.instructions() if _is_fixnum_const(i)}
        phis = [i for i in fn.instructions() if isinstance(i, N.Phi) and i.rep is Rep.VALUE]
        known |= {id(p) for p in phis}
        changed = True
        while changed:
            changed = False
            for phi in phis:
                if id(phi) in known and not all(
                        id(v) in known or (id(b), id(v)) in self.checked for b, v in phi.incoming):
                    known.discard(id(phi))
                    changed = True
        self.known = known

    def _check_back_edges(self) -> None:
        """A back edge whose arguments are not all known fixnums checks them;
        when one is not, it leaves through a tail call of the generic entry."""
        fn, header = self.fn, self.header
        phis = header.phis
        for pred in [b for b in fn.blocks if header in b.successors() and b is not self.entry]:
            jump = pred.terminator
            if not isinstance(jump, N.Jump):
                continue
            args = [dict(p.incoming)[pred] for p in phis]
            unknown = [a for a in args if id(a) not in self.known]
            if not unknown:
                continue
            pred.instrs.remove(jump)
            last = fn.new_block("loop_checked")
            fail = fn.new_block("loop_generic")
            _check_chain(fn, pred, unknown, last, fail)
            _add(last, N.Jump(header, jump.span))
            _retarget_phis(fn, pred, last, [header])
            for a in args:
                self.checked.add((id(last), id(a)))
            me = _add(fail, N.SelfClosure())
            call = _add(fail, N.CallKnown(self.generic, me, args, jump.span, tail=True))
            _add(fail, N.Return(call))

    def _calls(self) -> None:
        fn = self.fn
        joined: dict[int, N.Phi] = {}       # id(call) -> the phi that replaces its uses
        # A call with the wrong number of arguments stays a call of the
        # generic entry, whose prologue raises the arity error.
        for call in [i for i in fn.instructions()
                     if isinstance(i, N.CallKnown) and i.function is self.generic and not i.tail
                     and len(i.args) == self.generic.arity]:
            unknown = [a for a in call.args if id(a) not in self.known]
            if not unknown:
                call.function = fn
                continue
            block, join = split_block(fn, call.block, call, "call_join")
            fast = fn.new_block("call_fix")
            slow = fn.new_block("call_generic")
            _check_chain(fn, block, unknown, fast, slow)
            r1 = _add(fast, N.CallKnown(fn, call.closure, list(call.args), call.span))
            # A call copied from inlined code keeps the frames inlining removed (call chains).
            r1.inlined, r1.returns_for, r1.inline_path = call.inlined, call.returns_for, call.inline_path
            _add(fast, N.Jump(join))
            call.block = slow
            slow.instrs.append(call)
            _add(slow, N.Jump(join))
            phi = N.Phi(Rep.VALUE, "call")
            phi.add_incoming(fast, r1)
            phi.add_incoming(slow, call)
            phi.block = join
            join.instrs.insert(0, phi)
            joined[id(call)] = phi
        if not joined:
            return
        # One walk for all calls: a phi's own operand (the slow call) stays.
        for i in fn.instructions():
            for op in i.operands():
                phi = joined.get(id(op))
                if phi is not None and i is not phi:
                    i.replace_operand(op, phi)
        self.checked = {(b, id(joined[v]) if v in joined else v) for b, v in self.checked}


def _drop_self(module: N.Module, generic: N.Function, fixfn: N.Function) -> None:
    """A clone of a function that captures nothing needs no closure: its self
    calls pass 0, and the calls of the generic entry on its slow paths load
    the function's one static closure. That frees the register (and the
    stack slot) the closure took in every frame."""
    if generic.nfree or any(isinstance(i, N.LoadFree) for i in fixfn.instructions()):
        return
    selfs = [i for i in fixfn.instructions() if isinstance(i, N.SelfClosure)]
    uses = [i for i in fixfn.instructions() if any(o in selfs for o in i.operands())]
    if not all(isinstance(u, N.CallKnown) and u.closure in selfs
               and u.closure not in u.args for u in uses):
        return
    for u in uses:
        if u.function is fixfn:
            k = u.block.instrs.index(u)
            dummy = N.Const(Rep.VALUE, 0)
        else:
            k = u.block.instrs.index(u)
            dummy = static_closure(module, generic)
        dummy.block = u.block
        u.block.instrs.insert(k, dummy)
        u.closure = dummy
    for i in selfs:
        i.block.instrs.remove(i)


# ---- raw ints ----

RAW_ARITH = {"add", "sub"}
RAW_COMPARE = {"lt", "le", "gt", "ge", "numeq"}
# `=` of two ints compares their values (structural equality of numbers)
RAW_OPS = {op: op for op in RAW_ARITH | RAW_COMPARE} | {"equal": "numeq"}


def _raw_ints(generic: N.Function, fixfn: N.Function) -> Optional[set[int]]:
    """The values of the clone that are int64s whenever its parameters are:
    the parameters, fixnum literals, ``add``/``sub`` of two such, phis of
    such and self calls whose arguments are such (their result is one, since
    every return returns one). None when the clone cannot take and return raw
    ints: a return or the argument of a self call is another value, a self
    call has the wrong number of arguments (it raises arity-error), or the
    clone makes a tail call (its callee would return a VALUE)."""
    instrs = list(fixfn.instructions())
    if any(getattr(i, "tail", False) for i in instrs):
        return None
    calls = [i for i in instrs if isinstance(i, N.CallKnown) and i.function is generic]
    if any(len(c.args) != generic.arity for c in calls):
        return None
    call_ids = {id(c) for c in calls}
    known = {id(p) for p in fixfn.params}
    candidates = []
    for i in instrs:
        if _is_fixnum_const(i):
            known.add(id(i))
        elif ((isinstance(i, N.Prim) and i.op in RAW_ARITH)
              or (isinstance(i, N.Phi) and i.rep is Rep.VALUE) or id(i) in call_ids):
            known.add(id(i))
            candidates.append(i)
    changed = True
    while changed:          # the greatest fixpoint: self calls are assumed ints
        changed = False
        for i in candidates:
            ops = i.args if isinstance(i, N.CallKnown) else i.operands()
            if id(i) in known and not all(id(o) in known for o in ops):
                known.discard(id(i))
                changed = True
    if not all(id(c) in known for c in calls):
        return None
    if not all(id(i.value) in known for i in instrs if isinstance(i, N.Return)):
        return None
    return known


def _map_operands(i: N.Instr, f) -> None:
    if isinstance(i, N.Phi):
        i.incoming = [(b, f(v)) for b, v in i.incoming]
        return
    for attr, val in list(vars(i).items()):
        if attr == "block":
            continue
        if isinstance(val, N.Value):
            setattr(i, attr, f(val))
        elif isinstance(val, list):
            setattr(i, attr, [f(x) if isinstance(x, N.Value) else x for x in val])


def _make_raw(generic: N.Function, fn: N.Function, known: set[int]) -> None:
    """Give the known ints of the clone the I64 representation: int ops of
    them become ``IntOp``, self calls call the clone, and every other use of
    one gets it boxed (one ``Box`` after its definition, or a VALUE copy of a
    literal)."""
    fn.raw_ints = True
    for p in fn.params:
        p.rep = Rep.I64
    new: dict[int, N.Instr] = {}
    for b in fn.blocks:
        for k, i in enumerate(b.instrs):
            if isinstance(i, (N.Const, N.Phi)) and id(i) in known:
                i.rep = Rep.I64
            elif isinstance(i, N.CallKnown) and id(i) in known:
                i.function, i.rep = fn, Rep.I64
            elif (isinstance(i, N.Prim) and i.op in RAW_OPS
                    and len(i.args) == 2 and all(id(a) in known for a in i.args)):
                op = N.IntOp(RAW_OPS[i.op], i.args[0], i.args[1], i.span)
                op.block, op.inlined, op.returns_for, op.inline_path = (
                    b, i.inlined, i.returns_for, i.inline_path)
                b.instrs[k] = new[id(i)] = op
                if id(i) in known:
                    known.add(id(op))
    for i in fn.instructions():
        _map_operands(i, lambda v: new.get(id(v), v))
    boxed: dict[int, N.Instr] = {}

    def box(v: N.Value) -> N.Value:
        got = boxed.get(id(v))
        if got is None:
            if isinstance(v, N.Const):
                got = N.Const(Rep.VALUE, v.value)
            else:
                got = N.Box(v)
            boxed[id(v)] = got
            if isinstance(v, N.Param):
                block, k = fn.blocks[0], 0
            else:
                block = v.block
                k = len(block.phis) if isinstance(v, N.Phi) else block.instrs.index(v) + 1
            got.block = block
            block.instrs.insert(k, got)
        return got

    def raw_or_boxed(v: N.Value) -> N.Value:
        # Only what became raw here: other I64s (a Switch's value, a runtime call's
        # count) were raw before and stay so.
        return box(v) if v.rep is Rep.I64 and id(v) in known else v

    for i in list(fn.instructions()):
        if i.rep is Rep.I64 and isinstance(i, (N.Phi, N.CallKnown, N.IntOp)):
            if isinstance(i, N.CallKnown):
                i.closure = raw_or_boxed(i.closure)
            continue        # its operands are known ints, I64 now
        if isinstance(i, (N.IntOp, N.Return, N.Box)):
            continue
        _map_operands(i, raw_or_boxed)


def _guard_raw_entry(fn: N.Function, fixfn: N.Function) -> None:
    """``f``: all arguments fixnums -> their ints go to ``f_fix``, whose int
    comes back boxed; else the old body."""
    fast = _guarded_entry_block(fn)
    ints = [_add(fast, N.Untag(p)) for p in fn.params]
    me = _add(fast, N.SelfClosure())
    call = _add(fast, N.CallKnown(fixfn, me, ints, fn.span))
    call.rep, call.hidden = Rep.I64, True
    _add(fast, N.Return(_add(fast, N.Box(call))))


def _specialise(module: N.Module, fn: N.Function, header: N.Block, raw: bool) -> None:
    fixfn, bmap = _clone(fn, fn.name + "_fix")
    module.functions.insert(module.functions.index(fn) + 1, fixfn)
    known = _raw_ints(fn, fixfn) if raw else None
    if known is not None:
        _make_raw(fn, fixfn, known)
        _drop_self(module, fn, fixfn)
        _guard_raw_entry(fn, fixfn)
        return
    fixfn.fixnum_params = True
    _Specialiser(fn, fixfn, bmap[header]).run()
    _drop_self(module, fn, fixfn)
    _guard_entry(fn, fixfn)
