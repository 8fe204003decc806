"""Owned maps: a `set` whose map nobody else holds updates it in place.

In: any IR module. Out: the same module where a ``call.builtin set(m, k, v)``
is retargeted to the runtime's ``fl_bi_set_owned`` (printed
``call.builtin set [owned]``) when ``m`` is *owned* at that call: its object is
referenced by nothing but the SSA value ``m``, and ``m`` is never used once the
call has run. The runtime then edits a large map's trie in place and returns
the same object (runtime_c/map.c, "owned updates"); the rest of the program
cannot tell, because nothing can see the old map.

A map value ``m`` is owned at a use point when
- it is made by ``runtime fl_map_empty()`` (the static empty map, which the
  runtime copies rather than edits: it is small), or by an owned ``set`` (the
  old map it may return is dead, so its result is unshared too), or is a phi
  whose every incoming value is owned on its edge; and
- every other use of ``m`` is apart from the point: not reachable from it and
  the point not reachable from the use, without passing through ``m``'s
  definition again (a loop's next iteration has a new ``m``). A read that
  keeps nothing of the map (``get``, ``dict-has?``, ``dict-size`` with ``m``
  as the map argument) may come before the point, never after it.

Anything else -- a parameter, a global, a call result, a value also stored,
captured, passed to a function or compared -- is shared, and its `set` stays a
copying one. The rules are decided together (a loop's phi and the `set` that
feeds it back depend on each other) by starting from "everything owned" and
dropping what breaks a rule until nothing changes.

Why: in a loop that builds a map (`(loop (+ i 1) (set m k v))`), every `set`
on a 10^5-entry map copied a path of about four trie nodes (~900 bytes) only
to drop the old version at once; bench/maps spent a third of its time in the
allocator and the collector for it.
"""
from __future__ import annotations

from .. import nodes as N

OWNED_SET = "fl_bi_set_owned"
BORROWING = {"get": (2, 3), "dict-has?": (2, 2), "dict-size": (1, 1)}


def own_map_updates(module: N.Module) -> None:
    for fn in module.functions:
        _own_in(fn)


def _is_set(i: N.Instr) -> bool:
    return isinstance(i, N.CallBuiltin) and i.name == "set" and len(i.args) == 3


def _own_in(fn: N.Function) -> None:
    sets = [i for i in fn.instructions() if _is_set(i)]
    if not sets:
        return
    position: dict[int, tuple[N.Block, int]] = {}
    for b in fn.blocks:
        for k, i in enumerate(b.instrs):
            position[id(i)] = (b, k)
    # Every use of every value: ("at", block, index, instr, operand slot) or
    # ("edge", predecessor block, phi).
    uses: dict[int, list[tuple]] = {}
    for b in fn.blocks:
        for k, i in enumerate(b.instrs):
            if isinstance(i, N.Phi):
                for pred, v in i.incoming:
                    uses.setdefault(id(v), []).append(("edge", pred, -1, i, 0))
            else:
                for slot, v in enumerate(i.operands()):
                    uses.setdefault(id(v), []).append(("at", b, k, i, slot))
    succ = {b: b.successors() for b in fn.blocks}

    def reaches(frm: tuple, to: tuple, home: N.Block) -> bool:
        """Whether the use point `to` can run after `frm` without re-entering `home`."""
        fb, fk = frm[1], (len(frm[1].instrs) if frm[0] == "edge" else frm[2])
        tb, tk = to[1], (len(to[1].instrs) if to[0] == "edge" else to[2])
        if fb is tb and tk >= fk:
            return True
        seen: set[N.Block] = set()
        stack = [s for s in succ[fb]]
        while stack:
            b = stack.pop()
            if b is home or b in seen:
                continue
            if b is tb:
                return True
            seen.add(b)
            stack.extend(succ[b])
        return False

    def borrows(use: tuple, value: N.Value) -> bool:
        kind, _, _, instr, slot = use
        if kind != "at" or slot != 0 or not isinstance(instr, N.CallBuiltin):
            return False
        arity = BORROWING.get(instr.name)
        return (arity is not None and arity[0] <= len(instr.args) <= arity[1]
                and all(a is not value for a in instr.args[1:]))

    def apart(value: N.Value, point: tuple) -> bool:
        home = value.block if isinstance(value, N.Instr) else None
        for use in uses.get(id(value), []):
            if use[0] == point[0] and use[1] is point[1] and use[2] == point[2] \
                    and use[3] is point[3] and use[4] == point[4]:
                continue
            if reaches(point, use, home):
                return False
            if not borrows(use, value) and reaches(use, point, home):
                return False
        return True

    def set_point(s: N.CallBuiltin) -> tuple:
        b, k = position[id(s)]
        return ("at", b, k, s, 0)

    owned_sets = {id(s) for s in sets}
    owned_phis = {id(i) for i in fn.instructions() if isinstance(i, N.Phi) and i.rep is N.Rep.VALUE}

    def made_owned(v: N.Value) -> bool:
        if isinstance(v, N.RuntimeCall):
            return v.symbol == "fl_map_empty"
        return id(v) in owned_sets or id(v) in owned_phis

    changed = True
    while changed:
        changed = False
        for s in sets:
            if id(s) in owned_sets:
                m = s.args[0]
                if not (made_owned(m) and apart(m, set_point(s))):
                    owned_sets.discard(id(s))
                    changed = True
        for phi in [i for i in fn.instructions() if id(i) in owned_phis]:
            if not all(made_owned(v) and apart(v, ("edge", pred, -1, phi, 0))
                       for pred, v in phi.incoming):
                owned_phis.discard(id(phi))
                changed = True
    for s in sets:
        if id(s) in owned_sets:
            s.symbol = OWNED_SET
