"""Tail recursion modulo cons: a function that conses onto its own result loops.

In:  IR after list-loops (a self tail call is already a jump to the loop
     header, the block whose phis carry the parameters; a self call is a
     ``call.known`` of the function with its own ``self``).
Out: the same module where every closure with exactly one *cons site* -- a
     non-tail self call whose result only feeds a chain of ``prim.cons``
     (``(cons a (cons b (f ...)))``) that the block then returns -- and no tail
     call of another function is a loop that builds its result front to back:

     - the cons site allocates its pairs with ``[]`` as the innermost tail,
       writes the first one into the tail of the last pair made so far
       (``prim.set_tail``; the first time, of ``trmc.dest``, a pair-shaped slot
       of the frame), counts one more pending frame (``trmc.push``) and jumps
       back to the header with the call's arguments (a polled back edge,
       located at the function as the entry poll of the frame it replaces);
     - every other return stores its value into the last pair's tail and
       returns the tail of ``trmc.dest``: the first pair, or the value itself
       when no pair is pending. A value not known to be a list is checked as
       the innermost cons checked it: with pairs pending, a value that is not
       a list gets that cons's type error at its location, from the frame
       that made it (``trmc.pop`` first); with none, it is returned as is.

Why: the recursion used one machine frame per element (10^6 deep in
bench/lists), which every collection scanned; the loop uses one frame.

What stays exactly as it was:
- evaluation order: the cons heads and the call's arguments are evaluated
  where they were, before the jump; the pairs are allocated where the call
  was, which nothing can observe;
- immutability: only the loop sees the pairs it has not returned yet;
- call chains: ``Function.trmc_site`` is the recursive call's span; the
  backend keeps the count of pending frames in a frame slot that every stack
  map of the function records, and runtime_c/callchain.c prints that many
  frames at the recursive call after the loop's frame, as the recursion had;
- a fault that an ``error:catch`` handler answers: answered, the innermost
  cons would return a value to the next cons out, which the loop cannot
  replay; so where the module may install such a handler (or in a REPL
  session), only functions whose every other return is known to be a list
  are transformed, and their conses cannot fail.
"""
from __future__ import annotations

from typing import Optional

from .. import nodes as N


def make_trmc_loops(module: N.Module) -> None:
    may_answer = module.session or "error:catch" in module.effect_ops
    for fn in module.functions:
        found = _cons_site(fn)
        if found is None:
            continue
        call, conses = found
        header = _loop_header(fn)
        if header is None:
            continue
        returns = [b.terminator for b in fn.blocks
                   if isinstance(b.terminator, N.Return) and b is not call.block]
        lists = _list_values(fn, may_answer)
        if may_answer and not all(id(r.value) in lists for r in returns):
            continue
        _rewrite(fn, header, call, conses, returns, lists)


def _cons_site(fn: N.Function) -> Optional[tuple[N.CallKnown, list[N.Prim]]]:
    """The one cons site of ``fn`` (the call and its conses, innermost first),
    if ``fn`` can be made a loop."""
    if (fn.kind != "closure" or fn.rest_param is not None or fn.fixnum_params or fn.raw_ints
            or fn.trmc_site is not None or not fn.blocks):
        return None
    sites = []
    for b in fn.blocks:
        for k, i in enumerate(b.instrs):
            if getattr(i, "tail", False):
                return None     # it replaces the frame, which the loop cannot: see the docstring
            if (isinstance(i, N.CallKnown) and i.function is fn and i.inlined is None
                    and i.returns_for is None and isinstance(i.closure, N.SelfClosure)
                    and len(i.args) == fn.arity):
                conses = _conses_returned(b, k)
                if conses is not None:
                    sites.append((i, conses))
    return sites[0] if len(sites) == 1 else None


def _conses_returned(b: N.Block, k: int) -> Optional[list[N.Prim]]:
    """The conses after ``b.instrs[k]`` when the rest of ``b`` is a chain of
    conses onto it whose last one is returned."""
    value, conses = b.instrs[k], []
    for i in b.instrs[k + 1:]:
        if isinstance(i, N.Return):
            return conses if conses and i.value is value else None
        if not (isinstance(i, N.Prim) and i.op == "cons" and i.args[1] is value
                and i.inlined is None and i.returns_for is None
                and all(i.args[0] is not x for x in [b.instrs[k]] + conses)):
            return None
        conses.append(i)
        value = i
    return None


def _loop_header(fn: N.Function) -> Optional[N.Block]:
    """The block whose phis carry the parameters: entry (which may load the
    captured values first) jumps to it and gives each phi its parameter, in order."""
    entry = fn.blocks[0]
    if not isinstance(entry.terminator, N.Jump):
        return None
    header = entry.terminator.target
    phis = header.phis
    if header is entry or len(phis) != fn.arity:
        return None
    for phi, param in zip(phis, fn.params):
        if phi.rep is not N.Rep.VALUE or dict(phi.incoming).get(entry) is not param:
            return None
    return header


def _list_values(fn: N.Function, may_answer: bool) -> set[int]:
    """The ids of the values of ``fn`` that are lists whatever the program
    does: ``[]``, pairs, and phis of those (the greatest fixpoint, so a loop's
    phi is one when every value entering it is). A cons whose tail may not be
    a list is a pair only where no ``error:catch`` handler can answer its
    fault with another value."""
    deps: dict[int, list[N.Value]] = {}
    for i in fn.instructions():
        if isinstance(i, N.Const) and i.rep is N.Rep.VALUE and i.value == N.EMPTY_LIST:
            deps[id(i)] = []
        elif isinstance(i, N.Prim) and i.op == "set_tail":
            deps[id(i)] = []
        elif isinstance(i, N.Prim) and i.op == "cons":
            deps[id(i)] = [i.args[1]] if may_answer else []
        elif isinstance(i, N.Phi):
            deps[id(i)] = [v for _, v in i.incoming]
    lists = set(deps)
    users: dict[int, list[int]] = {}
    for k, ds in deps.items():
        for d in ds:
            users.setdefault(id(d), []).append(k)
    work = [k for k, ds in deps.items() if any(id(d) not in lists for d in ds)]
    while work:
        k = work.pop()
        if k in lists:
            lists.discard(k)
            work.extend(users.get(k, ()))
    return lists


def _add(block: N.Block, instr: N.Instr, at: Optional[int] = None) -> N.Instr:
    instr.block = block
    if at is None:
        block.instrs.append(instr)
    else:
        block.instrs.insert(at, instr)
    return instr


def _rewrite(fn: N.Function, header: N.Block, call: N.CallKnown, conses: list[N.Prim],
             returns: list[N.Return], lists: set[int]) -> None:
    entry, site = fn.blocks[0], call.block
    preds = [b for b in fn.blocks if header in b.successors()]
    dest = _add(entry, N.Trmc("dest"), 0)
    last = _add(header, N.Phi(N.Rep.VALUE, "last"), len(header.phis))
    for p in preds:
        last.add_incoming(p, dest if p is entry else last)

    # The cons site: pairs first, then the jump with the call's arguments.
    innermost = conses[0]
    k = site.instrs.index(call)
    del site.instrs[k:]
    empty = _add(site, N.Const(N.Rep.VALUE, N.EMPTY_LIST))
    innermost.args[1] = empty
    for c in conses:
        _add(site, c)
    _add(site, N.Prim("set_tail", [last, conses[-1]], None))
    _add(site, N.Trmc("push"))
    _add(site, N.Jump(header, fn.span))
    for phi, arg in zip(header.phis, call.args):
        phi.add_incoming(site, arg)
    last.add_incoming(site, innermost)

    for ret in returns:
        _finish(fn, ret, dest, last, innermost, id(ret.value) in lists)
    fn.trmc_site = call.span


def _finish(fn: N.Function, ret: N.Return, dest: N.Trmc, last: N.Phi, innermost: N.Prim,
            is_list: bool) -> None:
    """``return v`` -> the pending pairs' result with ``v`` as the last tail."""
    block, v = ret.block, ret.value
    block.instrs.pop()      # the return: the block's terminator
    if is_list:
        _link(block, v, dest, last)
        return
    check, join = fn.new_block("trmc_check"), fn.new_block("trmc_list")
    not_list, plain, fail = (fn.new_block("trmc_not_list"), fn.new_block("trmc_plain"),
                             fn.new_block("trmc_fail"))
    _add(block, N.Branch(_add(block, N.Prim("is_empty", [v], None)), join, check))
    _add(check, N.Branch(_add(check, N.Prim("is_pair", [v], None)), join, not_list, likely=True))
    _link(join, v, dest, last)
    _add(not_list, N.Branch(_add(not_list, N.Trmc("none")), plain, fail))
    _add(plain, N.Return(v))
    # The innermost cons of the last frame that made a pair raises its error
    # there: that frame had the pending frames but itself.
    _add(fail, N.Trmc("pop"))
    head = _add(fail, N.Prim("unsafe_head", [last], None))
    _add(fail, N.Prim("cons", [head, v], innermost.span))
    _add(fail, N.Unreachable())


def _link(block: N.Block, v: N.Value, dest: N.Trmc, last: N.Phi) -> None:
    _add(block, N.Prim("set_tail", [last, v], None))
    _add(block, N.Return(_add(block, N.Prim("unsafe_tail", [dest], None))))
