"""Static closures: a closure with nothing to capture is built once.

In: any IR module. Out: the same module where every ``MakeClosure`` with no
captures (a lambda with no free variables; module-level names are globals,
read through ``global.get`` inside the body, so a lambda whose only free
variables are top-level definitions has none either) is replaced by a
``LoadConst`` of a ``Special("closure", <LLVM function name>)`` payload. The
backend builds that closure once, at module start, into the constant table;
the table is allocated uncollectable and scanned by the GC, so the closure,
its name string and the code it points to stay alive for the whole run.

Why: such a lambda inside a loop (the ``(lambda (count) (+ count 1))`` that
bench/closures passes to ``state:update`` on every iteration) otherwise costs
one heap allocation per evaluation. A closure object is never mutated once
built (SetFree only patches captured slots, and there are none), so sharing
one is invisible except to `==`: the language reference (LANGUAGE.md) says functions are equal
only to themselves and does not promise that two evaluations of one lambda give
different functions, so ``(== (f) (f))`` for an ``f`` returning such a lambda
may now be true (as R7RS allows for ``eqv?`` on procedures).
"""
from __future__ import annotations

from .. import nodes as N


def make_static_closures(module: N.Module) -> None:
    for fn in module.functions:
        replaced: dict[N.Value, N.Value] = {}
        for block in fn.blocks:
            for k, instr in enumerate(block.instrs):
                if isinstance(instr, N.MakeClosure) and not instr.captures:
                    replaced[instr] = block.instrs[k] = _static(module, instr)
        if replaced:
            for instr in fn.instructions():
                for op in instr.operands():
                    if op in replaced:
                        instr.replace_operand(op, replaced[op])


def _static(module: N.Module, instr: N.MakeClosure) -> N.LoadConst:
    load = static_closure(module, instr.function)
    load.span, load.block, load.rep = instr.span, instr.block, instr.rep
    return load


def static_closure(module: N.Module, target: N.Function) -> N.LoadConst:
    """A load of the one closure of ``target``, which captures nothing."""
    assert target.nfree == 0, target.name
    if target.display_name:
        # Built before the closure in the module prologue: the closure's name
        # field is read from this slot.
        module.constant_index(N.Special("name", target.display_name))
    payload = N.Special("closure", target.name)
    return N.LoadConst(module.constant_index(payload), payload)
