"""Known lists: list primitives skip the checks that the data flow already made.

In:  IR after the other passes. A *list* here is ``[]`` or a pair: what
     ``cons`` accepts as its tail and what the tail of every pair is (``cons``
     rejects any other tail, and ``set_tail`` only ever writes a pair).
Out: the same module where
     - a ``prim.head``/``prim.tail`` of a value known to be a pair at that point
       is a ``prim.unsafe_head``/``prim.unsafe_tail`` (no tag test, no header
       load and compare, no call of the builtin for its error);
     - such an access dominated by the same access of the same pair is gone: it
       reads the earlier result (a pair's head never changes; its tail may, by
       ``set_tail`` while a list is built, so tails are reused only in
       functions without ``set_tail``);
     - a ``prim.cons`` whose tail is known to be a list is marked ``list_tail``
       (printed ``prim.cons.list``): the backend allocates without the test;
     - a ``prim.is_null`` of a known list is a ``prim.is_empty`` (nil is no
       list): one compare instead of two.

A value is *known to be a list* when it is ``[]``, the result of ``cons``,
``set_tail``, ``unsafe_tail`` or ``tail``, a phi of lists, the result of a
known call of a function whose every return is a list, or a parameter of a
*closed* function whose every call passes a list there; it is *known to be a
pair* when it is the result of ``cons`` or ``set_tail``, a list on the false
edge of a ``prim.is_null`` (or ``is_empty``) test of it, on the true edge of ``prim.is_pair``, or
a value whose ``head``/``tail`` dominates the point. The facts of parameters
and returns are found together over the whole module, optimistically (every
fact holds until a call site or return refutes it), which is sound because
every value of a closed function's parameter comes from one of its calls.

A function is closed when its closure can reach no code but these calls: the
module is compiled as a whole program (``Module.closed``: the command line's
``jit`` and ``compile``, not the Python API, whose host may call any global
by name, nor a REPL session), and every use of its closure (its static
``LoadConst`` or ``MakeClosure``, its ``self``, the ``global.get`` of a slot
set once to it) is the closure operand of a ``CallKnown`` of it with the
right number of arguments (ir/closed.py, shared with passes/closure_args.py).

Facts that rest on a checked primitive having succeeded (the result of
``cons`` or ``tail`` is a list; an accessed value is a pair) hold only where
no ``error:catch`` can be installed: there a handler can answer the error with
any value, which the primitive then returns (a resume point,
runtime_c/fluentai.h). Facts from tests and from ``[]`` hold everywhere.
Nothing else changes: every error that could still happen is raised by the
same instruction with the same span, so messages and call chains are kept.
"""
from __future__ import annotations

from typing import Optional

from .. import nodes as N
from ..closed import closed_functions
from ..dominators import Dominators
from ..nodes import Rep

LIST, PAIR, TOP = 1, 2, 3        # facts grow stronger upwards; None: unknown
LIST_RESULTS = {"cons", "set_tail", "unsafe_tail", "tail"}


def _meet(a, b):
    if a is None or b is None:
        return None
    return min(a, b)


def known_lists(module: N.Module) -> None:
    nocatch = not module.session and "error:catch" not in module.effect_ops
    closed = closed_functions(module)
    params, returns = _interprocedural(module, closed, nocatch)
    for fn in module.functions:
        facts = _value_facts(fn, params.get(fn), returns, nocatch)
        _rewrite(fn, facts, nocatch)


# ---- facts --------------------------------------------------------------------

def _interprocedural(module: N.Module, closed: set, nocatch: bool):
    """Parameter facts of closed functions and return facts of all: the greatest
    fixed point, from TOP down, by a worklist of functions (a function is looked
    at again when the facts of its parameters or of a callee's returns fell)."""
    params = {fn: [TOP] * fn.arity for fn in closed}
    returns = {fn: TOP for fn in module.functions}
    sites = {fn: [i for i in fn.instructions() if isinstance(i, N.CallKnown)]
             for fn in module.functions}
    exits = {fn: [i for b in fn.blocks if isinstance(i := b.instrs[-1] if b.instrs else None, N.Return)]
             for fn in module.functions}
    cache: dict = {}
    callers: dict = {fn: set() for fn in module.functions}
    for fn, calls in sites.items():
        for c in calls:
            if c.function in callers:
                callers[c.function].add(fn)
    given: dict = {fn: {} for fn in closed}      # callee -> caller -> its arguments' facts
    work, queued = list(module.functions), set(module.functions)
    budget = 8 * (len(module.functions) + sum(fn.arity for fn in closed)) + 64
    while work:
        budget -= 1
        if budget < 0:          # not settled: assume nothing rather than something unproven
            return {}, {}
        fn = work.pop()
        queued.discard(fn)
        facts = _value_facts(fn, params.get(fn), returns, nocatch, final=False, cache=cache)
        ret = TOP
        for r in exits[fn]:
            ret = _meet(ret, _fact(facts, r.value))
        changed = []
        if ret != returns[fn]:
            returns[fn] = ret
            changed.extend(callers[fn])
        passed: dict = {}
        for c in sites[fn]:
            if c.function in given:
                slots = passed.setdefault(c.function, [TOP] * c.function.arity)
                for k, a in enumerate(c.args):
                    slots[k] = _meet(slots[k], _fact(facts, a))
        for callee, slots in passed.items():
            if given[callee].get(fn) != slots:
                given[callee][fn] = slots
                now = [TOP] * callee.arity
                for fs in given[callee].values():
                    now = [_meet(a, b) for a, b in zip(now, fs)]
                if now != params[callee]:
                    params[callee] = now
                    changed.append(callee)
        for g in changed:
            if g not in queued:
                queued.add(g)
                work.append(g)
    return ({fn: [None if f == TOP else f for f in fs] for fn, fs in params.items()},
            {fn: None if f == TOP else f for fn, f in returns.items()})


def _fact(facts: dict, v: N.Value):
    if getattr(v, "rep", None) is not Rep.VALUE:
        return None
    return facts.get(id(v), TOP if isinstance(v, N.Instr) else None)


def _value_facts(fn: N.Function, params: Optional[list], returns: dict, nocatch: bool,
                 final: bool = True, cache: Optional[dict] = None) -> dict:
    """Flow-insensitive facts of ``fn``'s values, iterated to a fixed point from
    TOP (phis of loops). ``final``: unresolved TOPs (unreachable cycles) become
    unknown. ``cache`` keeps what does not change between calls for one ``fn``."""
    shape = cache.get(fn) if cache is not None else None
    if shape is None:
        fixed: dict = {}
        instrs = []
        for i in fn.instructions():
            if i.rep is Rep.VALUE and (isinstance(i, (N.Phi, N.CallKnown))
                                       or isinstance(i, N.Prim) and i.op in LIST_RESULTS):
                instrs.append(i)            # TOP until computed
            elif isinstance(i, N.Const) and i.value == N.EMPTY_LIST:
                fixed[id(i)] = LIST
            else:
                fixed[id(i)] = None
        if fn.rest_param is not None:
            fixed[id(fn.rest_param)] = None
        shape = (fixed, instrs)
        if cache is not None:
            cache[fn] = shape
    fixed, instrs = shape
    facts = fixed.copy()
    for k, p in enumerate(fn.params):
        facts[id(p)] = params[k] if params else None
    changed = True
    while changed:
        changed = False
        for i in instrs:
            f = _base_fact(i, facts, returns, nocatch)
            if facts.get(id(i), 0) != f:
                facts[id(i)] = f
                changed = True
    if final:
        for key, f in facts.items():
            if f == TOP:
                facts[key] = None
    return facts


def _base_fact(i: N.Instr, facts: dict, returns: dict, nocatch: bool):
    if isinstance(i, N.Const):
        return LIST if i.value == N.EMPTY_LIST else None
    if isinstance(i, N.Phi):
        f = TOP
        for _, v in i.incoming:
            f = _meet(f, _fact(facts, v))
        return f
    if isinstance(i, N.Prim):
        if i.op == "cons":
            return PAIR if nocatch or _fact(facts, i.args[1]) in (LIST, PAIR) else None
        if i.op == "set_tail":
            return PAIR
        if i.op == "unsafe_tail":
            return LIST
        if i.op == "tail":
            return LIST if nocatch or _fact(facts, i.args[0]) == PAIR else None
        return None
    if isinstance(i, N.CallKnown):
        return returns.get(i.function)
    return None


# ---- rewriting, along the dominator tree ------------------------------------

def _rewrite(fn: N.Function, facts: dict, nocatch: bool) -> None:
    if not any(isinstance(i, N.Prim) and i.op in ("head", "tail", "unsafe_head", "unsafe_tail", "cons")
               for i in fn.instructions()):
        return
    doms = Dominators(fn)
    idom, preds, order = doms.idom, doms.preds, doms.order
    children: dict = {b: [] for b in order}
    for b in order[1:]:
        children[idom[b]].append(b)
    reuse_tails = not any(isinstance(i, N.Prim) and i.op == "set_tail" for i in fn.instructions())
    pairs: set = set()                      # ids of values known to be pairs here
    seen: dict = {}                         # (op, id(value)) -> the value read
    replaced: dict = {}
    dead: set = set()

    def is_list(v):
        return facts.get(id(v)) in (LIST, PAIR) or id(v) in pairs

    def final(v):
        while id(v) in replaced:
            v = replaced[id(v)]
        return v

    stack = [(order[0], None)]
    while stack:
        block, undo = stack.pop()
        if undo is not None:                # leaving block's subtree
            added_pairs, added_seen = undo
            pairs.difference_update(added_pairs)
            for key in added_seen:
                del seen[key]
            continue
        added_pairs, added_seen = [], []

        def know_pair(v):
            if id(v) not in pairs:
                pairs.add(id(v))
                added_pairs.append(id(v))

        edge = _edge_fact(block, preds)
        if edge is not None:
            test, v = edge
            if test == "is_pair" or facts.get(id(v)) in (LIST, PAIR):
                know_pair(v)
        for i in block.instrs:
            if not isinstance(i, N.Prim):
                continue
            if i.op == "cons":
                if is_list(i.args[1]):
                    i.list_tail = True
                continue
            if i.op == "is_null":
                if is_list(final(i.args[0])):
                    i.op = "is_empty"
                continue
            if i.op not in ("head", "tail", "unsafe_head", "unsafe_tail"):
                continue
            v = final(i.args[0])
            field = i.op[-4:]
            if i.op in ("head", "tail") and (facts.get(id(v)) == PAIR or id(v) in pairs):
                i.op = "unsafe_" + field
            key = (field, id(v))
            if i.op.startswith("unsafe_") or nocatch:
                if key in seen and (field == "head" or reuse_tails):
                    replaced[id(i)] = seen[key]
                    dead.add(id(i))
                else:
                    seen[key] = i
                    added_seen.append(key)
                if nocatch or i.op.startswith("unsafe_"):
                    know_pair(v)
        stack.append((block, (added_pairs, added_seen)))
        for c in reversed(children[block]):
            stack.append((c, None))
    if not replaced:
        return
    for b in fn.blocks:
        b.instrs = [i for i in b.instrs if id(i) not in dead]
        for i in b.instrs:
            for op in i.operands():
                if id(op) in replaced:
                    i.replace_operand(op, final(op))


def _edge_fact(block: N.Block, preds: dict):
    """(test, value) when ``block`` is entered only by the edge of a branch that
    says ``value`` is not null (``is_null`` false) or is a pair (``is_pair``
    true)."""
    ps = preds.get(block, [])
    if len(ps) != 1 or ps[0] is block:
        return None
    t = ps[0].terminator
    if not isinstance(t, N.Branch) or t.then is t.orelse or not isinstance(t.cond, N.Prim):
        return None
    c = t.cond
    if c.op in ("is_null", "is_empty") and t.orelse is block:
        return ("is_null", c.args[0])
    if c.op == "is_pair" and t.then is block:
        return ("is_pair", c.args[0])
    return None


