"""List builtins with a known function argument become loops.

In: any IR module (after passes/inline.py). Out: the same module where a
``CallBuiltin`` of ``map``, ``for-each``, ``filter``, ``fold``/``reduce``,
``any?`` or ``all?`` whose function argument is a closure built in view (or a
static closure) of a known function taking exactly the arguments the builtin
passes is a loop over the list in the calling function that calls that
function directly; the calls are then resolved and inlined like any other
(passes/inline.py), so ``(map (lambda (x) (* x x)) xs)`` allocates the result
and nothing else, and calls nothing.

What stays exactly as the builtin did it:
- the result and the order of the calls (the list's order, each call after
  the previous one returned; ``map`` and ``filter`` build their result in
  order with one pair per element, as the runtime's list builder does, by
  writing the tail of the pair just made: ``prim.set_tail``);
- a value in the list's place that is not a list (a string, a map...): the guard sends it to the
  original builtin call, which raises the same `type-error` (or returns what
  an ``error:catch`` handler answers);
- the call chain of an error inside the function: the builtin's frame never
  showed, and the function's frame returned to the builtin's call site; the
  loop's calls are located at that call site. A builtin in tail position of a
  closure's body replaced the closure's frame, which a loop cannot do, so
  such calls stay builtin calls -- unless the call is the former tail call of
  inlined code (``Instr.returns_for``), whose frame the loop's calls are then
  recorded for, as the builtin's callee was.
- Ctrl-C: the loop's back edge polls, located at the builtin's call.

At most ``BUDGET`` loops are made per function, the first ones in block order.
"""
from __future__ import annotations

from typing import Optional

from .. import nodes as N
from .inline import inline_calls_among, split_block
from .known_calls import Uses, known_target

ROUNDS = 4
# Loops made in one function at most: each is some 40 instructions and a dozen
# blocks, and LLVM's code generation time grows faster than linearly with a
# function's loops (a top level of 3,000 maps: 13 s -> 101 s at -O0 without it).
BUDGET = 32

# builtin -> (arguments, the function argument's arity)
LOOPS = {"map": (2, 1), "for-each": (2, 1), "filter": (2, 1), "fold": (3, 2), "reduce": (3, 2),
         "any?": (2, 1), "all?": (2, 1)}


def make_list_loops(module: N.Module) -> None:
    by_name = {fn.name: fn for fn in module.functions}
    sizes: dict[N.Function, int] = {}
    for fn in list(module.functions):
        made = 0
        # Inlined code may hold more candidates (a map in the lambda of a map):
        # a few rounds, as deep as such nests are written.
        for _ in range(ROUNDS):
            candidates = [i for i in fn.instructions() if _loopable(fn, i, by_name)]
            candidates = candidates[:BUDGET - made]
            if not candidates:
                break
            made += len(candidates)
            uses = Uses(fn)
            calls: list[N.Instr] = []
            for builtin in candidates:
                calls.extend(_make_loop(fn, builtin, uses))
            inline_calls_among(fn, calls, by_name, uses, sizes)
            for builtin in candidates:
                _sink_closure(builtin, uses)


def _loopable(fn: N.Function, i: N.Instr, by_name: dict[str, N.Function]) -> bool:
    if not isinstance(i, N.CallBuiltin) or i.name not in LOOPS or i.loop_fallback:
        return False
    nargs, arity = LOOPS[i.name]
    if len(i.args) != nargs:
        return False        # the builtin raises the arity error
    if i.tail and fn.kind == "closure":
        return False        # it replaces the closure's frame: see the docstring
    target = known_target(i.args[0], by_name)
    return target is not None and target.rest_param is None and target.arity == arity


def _sink_closure(fallback: N.CallBuiltin, uses: Uses) -> None:
    """A closure that only the not-a-list path still uses (the loop's calls
    were inlined) is built on that path only: not at every call of a
    function whose lists are always lists."""
    closure = fallback.args[0]
    if not isinstance(closure, N.MakeClosure) or closure.block is None:
        return
    # Uses keeps the users a rewrite dropped (a call made known, then inlined).
    users = [u for u in uses.users.get(id(closure), [])
             if u.block is not None and any(u is i for i in u.block.instrs)]
    if any(u is not fallback for u in users):
        return
    closure.block.instrs.remove(closure)
    slow = fallback.block
    slow.instrs.insert(slow.instrs.index(fallback), closure)
    closure.block = slow


class _Emitter:
    """Appends instructions to a block with the builtin call's provenance, so
    that errors and polls in the loop are located where the call was."""

    def __init__(self, fn: N.Function, builtin: N.CallBuiltin, uses: Uses):
        self.fn, self.builtin, self.uses = fn, builtin, uses
        self.block: Optional[N.Block] = None
        self.phis: list[N.Phi] = []

    def at(self, block: N.Block) -> "_Emitter":
        self.block = block
        return self

    def new_block(self, hint: str) -> N.Block:
        return self.fn.new_block(hint)

    def __call__(self, instr: N.Instr) -> N.Instr:
        b = self.builtin
        instr.block, instr.inlined, instr.inline_path = self.block, b.inlined, b.inline_path
        self.block.instrs.append(instr)
        if isinstance(instr, N.Phi):
            self.phis.append(instr)     # its uses are known once it is complete
        else:
            self.uses.add(instr)
        return instr

    def prim(self, op: str, *args: N.Value, span=None) -> N.Instr:
        return self(N.Prim(op, list(args), span))

    def const(self, value) -> N.Instr:
        return self(N.Const(N.Rep.VALUE, value))

    def call(self, fn_value: N.Value, args: list[N.Value]) -> N.Instr:
        c = self(N.Call(fn_value, args, self.builtin.span))
        c.returns_for = self.builtin.returns_for
        return c

    def jump(self, target: N.Block, span=None) -> None:
        self(N.Jump(target, span))

    def branch(self, cond: N.Value, then: N.Block, orelse: N.Block, likely=None) -> None:
        self(N.Branch(cond, then, orelse, likely))


def _make_loop(fn: N.Function, builtin: N.CallBuiltin, uses: Uses) -> list[N.Instr]:
    """Replace ``builtin`` by its loop; returns the calls of the function argument."""
    block = builtin.block
    head, cont = split_block(fn, block, builtin)
    e = _Emitter(fn, builtin, uses)
    f, xs = builtin.args[0], builtin.args[-1]

    # The guard: a pair goes round the loop, [] takes the loop's exit for an
    # empty list, anything else goes to the builtin.
    loop_pre, not_pair = e.new_block("loop_pre"), e.new_block("not_pair")
    empty, slow = e.new_block("loop_empty"), e.new_block("not_list")
    e.at(head).branch(e.prim("is_pair", xs), loop_pre, not_pair, likely=True)
    e.at(not_pair).branch(e.prim("is_empty", xs), empty, slow, likely=True)
    slow.instrs.append(builtin)
    builtin.block, builtin.loop_fallback = slow, True
    e.at(slow).jump(cont)

    loop = _Loop(e, xs, loop_pre, cont)
    calls, results = LOOP_BODIES[builtin.name](e, loop, f, empty)
    result = N.Phi(N.Rep.VALUE, "list_loop")
    result.block = cont
    cont.instrs.insert(0, result)
    uses.replace(builtin, result)
    for pred, value in results + [(slow, builtin)]:
        result.add_incoming(pred, value)
    for phi in e.phis + [result]:
        uses.add(phi)
    return calls


class _Loop:
    """The skeleton of a walk of ``xs``: ``header`` holds the phi ``p`` (the
    rest of the list) and the carried values' phis; ``body`` runs with ``p``
    a pair, ``done`` once the list is exhausted; ``close`` ends a block of the
    body with the jump back, giving the carried values' next values."""

    def __init__(self, e: _Emitter, xs: N.Value, pre: N.Block, cont: N.Block):
        self.e, self.xs, self.pre, self.cont = e, xs, pre, cont
        self.header, self.body, self.done = (e.new_block("loop"), e.new_block("loop_body"),
                                             e.new_block("loop_done"))
        self.carried: list[N.Phi] = []

    def start(self, *inits: N.Value) -> list[N.Phi]:
        """Enter the loop (from ``pre``) with the carried values' first values."""
        e = self.e
        e.at(self.pre).jump(self.header)
        self.p = e.at(self.header)(N.Phi(N.Rep.VALUE, "rest"))
        self.p.add_incoming(self.pre, self.xs)
        for init in inits:
            phi = e(N.Phi(N.Rep.VALUE, "acc"))
            phi.add_incoming(self.pre, init)
            self.carried.append(phi)
        e.branch(e.prim("is_pair", self.p), self.body, self.done, likely=True)
        e.at(self.body)
        return self.carried

    def head(self) -> N.Value:
        return self.e.prim("unsafe_head", self.p)

    def close(self, *nexts: N.Value) -> None:
        e = self.e
        latch = e.block
        self.p.add_incoming(latch, e.prim("unsafe_tail", self.p))
        for phi, v in zip(self.carried, nexts):
            phi.add_incoming(latch, v)
        e.jump(self.header, e.builtin.span)

    def leave(self, block: N.Block) -> None:
        self.e.at(block).jump(self.cont)


def _map_like(keep: bool):
    """map (keep False: the results) and filter (keep True: the elements whose
    result is true) build a list in order: a dummy first pair whose tail is
    the result, and the last pair's tail written as each pair is made."""
    def build(e: _Emitter, loop: _Loop, f: N.Value, empty: N.Block):
        span = e.builtin.span
        dummy = e.at(loop.pre).prim("cons", e.const(None), e.const(N.EMPTY_LIST), span=span)
        (last,) = loop.start(dummy)
        x = loop.head()
        y = e.call(f, [x])
        if not keep:
            cell = e.prim("cons", y, e.const(N.EMPTY_LIST), span=span)
            e.prim("set_tail", last, cell)
            loop.close(cell)
        else:
            tested, push, latch = e.block, e.new_block("loop_keep"), e.new_block("loop_next")
            e.branch(e.prim("truthy", y), push, latch)
            cell = e.at(push).prim("cons", x, e.const(N.EMPTY_LIST), span=span)
            e.prim("set_tail", last, cell)
            e.jump(latch)
            now_last = e.at(latch)(N.Phi(N.Rep.VALUE, "last"))
            now_last.add_incoming(tested, last)
            now_last.add_incoming(push, cell)
            loop.close(now_last)
        result = e.at(loop.done).prim("unsafe_tail", dummy)
        loop.leave(loop.done)
        nothing = e.at(empty).const(N.EMPTY_LIST)
        loop.leave(empty)
        return [y], [(loop.done, result), (empty, nothing)]
    return build


def _for_each(e: _Emitter, loop: _Loop, f: N.Value, empty: N.Block):
    loop.start()
    y = e.call(f, [loop.head()])
    loop.close()
    nil = e.at(loop.done).const(None)
    loop.leave(loop.done)
    nil_too = e.at(empty).const(None)
    loop.leave(empty)
    return [y], [(loop.done, nil), (empty, nil_too)]


def _fold(e: _Emitter, loop: _Loop, f: N.Value, empty: N.Block):
    init = e.builtin.args[1]
    (acc,) = loop.start(init)
    y = e.call(f, [acc, loop.head()])
    loop.close(y)
    loop.leave(loop.done)
    loop.leave(empty)
    return [y], [(loop.done, acc), (empty, init)]


def _find_truth(want: bool):
    """any? (want True) stops at the first true result and answers true; all?
    (want False) at the first false one and answers false."""
    def build(e: _Emitter, loop: _Loop, f: N.Value, empty: N.Block):
        loop.start()
        y = e.call(f, [loop.head()])
        found, latch = e.new_block("loop_found"), e.new_block("loop_next")
        truthy = e.prim("truthy", y)
        if want:
            e.branch(truthy, found, latch)
        else:
            e.branch(truthy, latch, found)
        e.at(latch)
        loop.close()
        answers = []
        for block, value in ((found, want), (loop.done, not want), (empty, not want)):
            answers.append((block, e.at(block).const(value)))
            loop.leave(block)
        return [y], answers
    return build


LOOP_BODIES = {"map": _map_like(False), "filter": _map_like(True), "for-each": _for_each,
               "fold": _fold, "reduce": _fold, "any?": _find_truth(True),
               "all?": _find_truth(False)}
