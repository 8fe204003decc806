"""Copying a function's instructions under a value map and a block map.

In:  the blocks of a function ``g``, a map from each of them to an (empty)
     block that receives its copy, and a map ``values`` (keyed by ``id``) that
     says what some of ``g``'s values become: its parameters, at least (an
     inlined call's arguments, a clone's own parameters).
Out: every instruction of those blocks copied (shallow: the same class and
     attributes) into its block's copy, in order, and ``values`` extended with
     each original -> copy; then every operand and block reference of the
     copies goes through the maps. Values not in ``values`` (constants of the
     caller, globals) are kept; a block not in the block map is an error, since
     the copies cannot jump out of the code that was copied.

``substitute(instr)`` may return a value that stands for ``instr`` instead of a
copy (passes/inline.py: a ``LoadFree`` becomes the matching capture); that
instruction is not copied. Annotations that are not operands (``inlined``,
``returns_for``, ``inline_path``, ``fixnums``) are copied as they are; a caller
that must rewrite them does so on the returned copies.

Used by passes/inline.py (a callee's body into a caller) and
passes/specialise_fixnums.py (a whole function into its clone).
"""
from __future__ import annotations

import copy
from typing import Callable, Iterable, Optional

from . import nodes as N


def copy_blocks(blocks: Iterable[N.Block], bmap: dict[N.Block, N.Block],
                values: dict[int, N.Value],
                substitute: Optional[Callable[[N.Instr], Optional[N.Value]]] = None) -> list[N.Instr]:
    """Copy ``blocks`` into ``bmap``'s blocks; returns the copies in order."""
    copies: list[N.Instr] = []
    for b in blocks:
        nb = bmap[b]
        for i in b.instrs:
            if substitute is not None:
                v = substitute(i)
                if v is not None:
                    values[id(i)] = v
                    continue
            c = copy.copy(i)
            c.block = nb
            nb.instrs.append(c)
            values[id(i)] = c
            copies.append(c)
    for c in copies:
        _remap(c, values, bmap)
    return copies


def _remap(c: N.Instr, values: dict[int, N.Value], bmap: dict[N.Block, N.Block]) -> None:
    if isinstance(c, N.Phi):
        c.incoming = [(bmap[b], values.get(id(v), v)) for b, v in c.incoming]
        return
    for attr, val in list(vars(c).items()):
        if attr == "block":
            continue
        if isinstance(val, N.Block):
            setattr(c, attr, bmap[val])
        elif isinstance(val, N.Value):
            setattr(c, attr, values.get(id(val), val))
        elif isinstance(c, N.Switch) and attr == "cases":
            c.cases = [(k, bmap[b]) for k, b in val]
        elif isinstance(val, list):
            setattr(c, attr, [values.get(id(x), x) if isinstance(x, N.Value) else x for x in val])
