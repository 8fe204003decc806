"""Inlining of small known functions.

In: any IR module (after passes/known_calls.py). Out: the same module where a
``CallKnown`` of a small function (at most ``BUDGET`` instructions) is replaced
by a copy of the callee's blocks: parameters become the arguments, a
``LoadFree`` the matching capture of the ``MakeClosure`` the call goes through,
``SelfClosure`` the call's closure operand, and each ``Return`` a jump to the
rest of the caller (one phi joins several). Inlined code can expose more known
calls (``(my-compose (make-adder k) (make-adder 1))`` returns a closure built
in view), so known calls are resolved again after each step, until nothing is
left to inline or the function has grown by ``GROWTH`` instructions. Closures
whose only uses were inlined calls are then dead, and passes/dce.py removes
the allocation.

Not inlined: a call with the wrong number of arguments (it must raise the
arity error), a callee with a rest parameter or that reads its caller's
location (``RuntimeCall.loc_from_caller``), a callee that captures variables
when the call does not go through a closure built in this function (or one
patched by ``SetFree``, a letrec knot) unless the call is ``closure_known``
(passes/list_closure_calls.py: the callee's ``LoadFree`` become ``ClosureSlot``
reads of the call's closure), and a callee already on the path of
functions the code was inlined from (``Instr.inline_path``), or the function itself: recursion is not
unrolled at all here (fib and tak grew and got slower in callgrind when it was, in their generic,
tagged form); passes/self_inline.py unrolls one level of their raw-ints clones.

Error reports keep the program's call chain: every copied instruction gets an
``Inlined`` record (ir/nodes.py) naming the function it came from and the call
that would have made its frame; the backend turns it into call-site entries
that the runtime prints as the missing frames (runtime_c/callchain.c). Proper
tail calls stay proper: at a tail call the callee's returns stay returns and
its tail calls stay tail calls, and its frame replaces the caller's in the
chain, as the tail call would have; at any other call its tail calls become
ordinary calls, which use the same stack as before (the caller's frame plus
the tail-called function's), and are recorded as the call the replaced frame
came from (``Instr.returns_for``), which is where the chain showed them.
"""
from __future__ import annotations

from typing import Optional

from .. import nodes as N
from ..copying import copy_blocks
from .known_calls import Uses, resolve_known_calls, root

BUDGET = 40         # instructions of a callee
GROWTH = 400        # instructions a function may gain by inlining


def inline_small_functions(module: N.Module) -> None:
    by_name = {fn.name: fn for fn in module.functions}
    sizes: dict[N.Function, int] = {}
    for fn in list(module.functions):
        inline_calls_among(fn, list(fn.instructions()), by_name, Uses(fn), sizes)


def inline_calls_among(fn: N.Function, instrs: list[N.Instr], by_name: dict[str, N.Function],
                       uses: Uses, sizes: dict[N.Function, int]) -> None:
    """Resolve the known calls among ``instrs`` (of ``fn``) and inline what the
    budgets allow, with the calls the inlined code exposes. ``sizes`` caches
    the size of functions across calls (passes/list_loops.py calls this for
    the calls it makes)."""
    sizes.pop(fn, None)         # its callees' copies make it grow now
    patched = {id(root(i.closure)) for i in fn.instructions() if isinstance(i, N.SetFree)}
    # Calls to look at, last first; inlined code adds its own.
    work = resolve_known_calls(instrs, by_name, uses)
    work.reverse()
    grown = 0
    while work and grown <= GROWTH:
        call = work.pop()
        if not (isinstance(call, N.CallKnown) and _can_inline(fn, call, patched, sizes)):
            continue
        result, clones = _inline(fn, call, uses)
        grown += len(clones)
        sizes.pop(fn, None)
        patched |= {id(root(i.closure)) for i in clones if isinstance(i, N.SetFree)}
        # The copies, and the calls of what the call returned (a closure
        # built in the copies, maybe), are new candidates.
        more = resolve_known_calls(clones + _calls_of(result, uses), by_name, uses)
        work.extend(reversed([i for i in more if isinstance(i, (N.Call, N.CallKnown))]))


def _calls_of(value: N.Value, uses: Uses) -> list[N.Instr]:
    """The unknown calls whose callee is ``value``, directly or through phis."""
    calls, seen, todo = [], {id(value)}, [value]
    while todo:
        v = todo.pop()
        for u in uses.users.get(id(v), []):
            if isinstance(u, N.Call) and u.fn is v and u.block is not None:
                calls.append(u)
            elif isinstance(u, N.Phi) and id(u) not in seen:
                seen.add(id(u))
                todo.append(u)
    return calls


def _size(fn: N.Function) -> int:
    return sum(len(b.instrs) for b in fn.blocks)


def _can_inline(fn: N.Function, call: N.CallKnown, patched: set[int],
                sizes: dict[N.Function, int]) -> bool:
    g = call.function
    if g is fn or g.kind != "closure" or g.rest_param is not None or g.arity != len(call.args):
        return False
    if g in call.inline_path:
        return False
    if g not in sizes:
        sizes[g] = _size(g)
    if sizes[g] > BUDGET:
        return False
    if any(isinstance(i, N.RuntimeCall) and i.loc_from_caller for i in g.instructions()):
        return False
    if g.nfree and not call.closure_known:
        closure = root(call.closure)
        if not (isinstance(closure, N.MakeClosure) and closure.function is g
                and len(closure.captures) == g.nfree):
            return False
        if id(closure) in patched:
            return False
    return True


def _frame(fn: N.Function, call: N.CallKnown) -> N.Inlined:
    """The frame record of the callee's code inlined at ``call``."""
    if call.returns_for is not None:
        # A tail call of code inlined before: its frame replaces that code's.
        return N.Inlined(call.function, call.returns_for.call_span, call.returns_for.caller)
    here = call.inlined
    if call.tail and fn.kind == "closure":
        # The callee's frame would have replaced the caller's.
        if here is None:
            return N.Inlined(call.function, None, None)
        return N.Inlined(call.function, here.call_span, here.caller)
    return N.Inlined(call.function, call.span, here)


def _rebaser(outer: N.Inlined):
    """Maps the ``inlined`` record of a callee instruction to its record in
    the caller, where the callee's own frame is ``outer``."""
    memo: dict[int, N.Inlined] = {}

    def rebase(x: Optional[N.Inlined]) -> N.Inlined:
        if x is None:
            return outer
        got = memo.get(id(x))
        if got is None:
            if x.call_span is None:     # x replaced the callee's frame (a tail call)
                got = N.Inlined(x.function, outer.call_span, outer.caller)
            else:
                got = N.Inlined(x.function, x.call_span, rebase(x.caller))
            memo[id(x)] = got
        return got
    return rebase


def _inline(fn: N.Function, call: N.CallKnown, uses: Uses) -> tuple[N.Value, list[N.Instr]]:
    """Inline ``call``; returns what replaces its value and the instructions
    copied in."""
    g = call.function
    block = call.block
    last = block.instrs[-1]
    tail = (call.tail and fn.kind == "closure" and len(block.instrs) >= 2
            and block.instrs[-2] is call and isinstance(last, N.Return) and last.value is call)
    # A closure not built in view (``closure_known``) keeps its captures: the
    # copies of the callee's LoadFree read them from it (ClosureSlot).
    captures = root(call.closure).captures if g.nfree and not call.closure_known else None
    rebase = _rebaser(_frame(fn, call))

    values: dict[int, N.Value] = {id(p): a for p, a in zip(g.params, call.args)}
    blocks = {gb: fn.new_block("inl") for gb in g.blocks}

    def substitute(i: N.Instr) -> Optional[N.Value]:
        if isinstance(i, N.LoadFree) and captures is not None:
            return captures[i.index]
        if isinstance(i, N.SelfClosure):
            return call.closure
        return None

    clones = copy_blocks(g.blocks, blocks, values, substitute)
    if captures is None:
        _read_captures_from(call.closure, clones)
    for c in clones:
        c.inline_path = call.inline_path + (g,) + c.inline_path
        c.inlined = rebase(c.inlined)
        if c.returns_for is not None:
            c.returns_for = rebase(c.returns_for)
        uses.add(c)

    entry = blocks[g.blocks[0]]
    if tail:
        block.instrs[-2:] = [_jump(entry, block, None)]
        return call, clones
    block, cont = split_block(fn, block, call)
    returns = []
    frame = rebase(None)
    for nb in blocks.values():
        for j, c in enumerate(nb.instrs):
            if isinstance(c, (N.Call, N.CallKnown, N.CallBuiltin)) and c.tail:
                c.tail = False
                if c.returns_for is None:
                    c.returns_for = frame
            if isinstance(c, N.Return):
                returns.append((nb, c.value))
                nb.instrs[j] = _jump(cont, nb, c.inlined)
    result = join_returns(cont, returns, call.rep, "ret")
    if len(returns) > 1:                    # a new phi: its operands are uses too
        uses.add(result)
    block.instrs.append(_jump(entry, block, call.inlined))
    uses.replace(call, result)
    return result, clones


def _read_captures_from(closure: N.Value, clones: list[N.Instr]) -> None:
    """Replace the copied ``LoadFree``s in ``clones`` by ``ClosureSlot``s of
    ``closure``, in place (in the callee's entry block: the call dominates it)."""
    slots: dict[int, N.ClosureSlot] = {}
    for k, c in enumerate(clones):
        if isinstance(c, N.LoadFree):
            s = N.ClosureSlot(closure, c.index, c.label)
            s.block, s.span, s.inlined = c.block, c.span, c.inlined
            c.block.instrs[c.block.instrs.index(c)] = s
            clones[k] = s
            slots[id(c)] = s
    if slots:
        for c in clones:
            for o in c.operands():
                if id(o) in slots:
                    c.replace_operand(o, slots[id(o)])


def join_returns(cont: N.Block, returns: list[tuple[N.Block, N.Value]], rep, hint: str) -> N.Value:
    """The value an inlined body gives its caller at `cont`: the one returned value
    when one block returns (that block dominates the rest of the caller), else a phi
    at the head of `cont` over every (returning block, value)."""
    if len(returns) == 1:
        return returns[0][1]
    result = N.Phi(rep, hint)
    result.block = cont
    for nb, v in returns:
        result.add_incoming(nb, v)
    cont.instrs.insert(0, result)
    return result


def split_block(fn: N.Function, block: N.Block, instr: N.Instr,
                hint: str = "cont") -> tuple[N.Block, N.Block]:
    """Split ``block`` around ``instr`` (dropped): returns the block of the
    instructions before it (to be ended by the caller) and the block of those
    after it. The shorter half moves to a new block (named after ``hint`` when
    it is the second), and ``instr`` is looked for from both ends at once:
    inlining many calls of one long block (a top level of 10^4 calls) updates
    the shorter half each time, not the whole block. (The halves are still
    sliced from the list, at C speed; when the first half moves, the jumps to
    ``block`` are found by one look at each block's terminator.)"""
    instrs = block.instrs
    k = _position(instrs, instr)
    if k + 1 >= len(instrs) - k - 1:
        cont = fn.new_block(hint)
        cont.instrs = instrs[k + 1:]
        for i in cont.instrs:
            i.block = cont
        for succ in cont.successors():
            for phi in succ.phis:
                phi.incoming = [(cont if p is block else p, v) for p, v in phi.incoming]
        block.instrs = instrs[:k]
        return block, cont
    head = N.Block(f"split{len(fn.blocks)}")
    head.instrs = instrs[:k]
    for i in head.instrs:
        i.block = head
    block.instrs = instrs[k + 1:]
    for other in fn.blocks:
        t = other.terminator
        if isinstance(t, N.Jump) and t.target is block:
            t.target = head
        elif isinstance(t, N.Branch):
            t.then = head if t.then is block else t.then
            t.orelse = head if t.orelse is block else t.orelse
        elif isinstance(t, N.Switch):
            t.retarget(block, head)
    if fn.blocks[0] is block:
        fn.blocks.insert(0, head)
    else:
        fn.blocks.append(head)
    return head, block


def _position(instrs: list[N.Instr], instr: N.Instr) -> int:
    """Where ``instr`` is in ``instrs``, in steps of the shorter distance to an end."""
    n = len(instrs)
    for d in range((n + 1) // 2):
        if instrs[d] is instr:
            return d
        if instrs[n - 1 - d] is instr:
            return n - 1 - d
    raise ValueError("the instruction is not in its block")


def _jump(target: N.Block, block: N.Block, inlined: Optional[N.Inlined]) -> N.Jump:
    j = N.Jump(target)
    j.block, j.inlined = block, inlined
    return j

