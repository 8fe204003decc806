"""State updates inline: ``(state:update k f)`` with a known, calling-free f.

In: any IR module (after passes/inline.py, which exposes the performs of small
functions such as bench/closures_escape's counter). Out: the same module where
every ``Perform`` of ``state:update`` with two arguments whose function is the
``LoadConst`` of a static closure (passes/static_closures.py), or a read of a
top-level function defined once (``Module.known_globals``), of a function
that takes one argument, captures nothing and contains no call, perform,
runtime call or write of a global, closure slot or letrec cell, is split into

    %c = state.find %k              ; the key's cell, 0: no fast path
    branch state.found %c, fast, slow
  fast:
    %old = state.get %c
    %new = call.known @f self=%f (%old)   ; then inlined where small enough
    state.set %c, %new
  slow:
    %r = perform state:update(%k, %f)     ; the original, unchanged
  join:
    phi [fast: %new], [slow: %r]

``StateCell`` nodes (ir/nodes.py) appear; nothing disappears. The known call
is offered to passes/inline.py at once.

Why: the default update (runtime_c/state.c) costs a call of the direct entry,
a closure test, the cell lookup and an indirect call of f (about 80
instructions per update in bench/closures_escape, whose counter does one per
element). ``fl_state_update_cell`` returns a cell only where that path would
have run with no catch frame, no handler that could answer and no open
transaction, and f, calling nothing, cannot change the store between the read
and the write, so the cell is still the key's when it is written. An error in
f unwinds past the write as before, from the same call chain: the known call
carries the perform's span and inlining records f's frame there, which is the
frame the runtime's call of f showed.
"""
from __future__ import annotations

from .. import nodes as N
from .inline import inline_calls_among, split_block
from .known_calls import Uses, root

# Instructions that could run FluentAI code or change what the update reads.
_UNSAFE = (N.Call, N.CallKnown, N.CallBuiltin, N.Perform, N.RuntimeCall, N.GlobalSet,
           N.SetFree, N.CellSet, N.StateCell, N.Trmc)


def inline_state_updates(module: N.Module) -> None:
    by_name = {fn.name: fn for fn in module.functions}
    sizes: dict[N.Function, int] = {}
    for fn in list(module.functions):
        sites = [(i, g) for i in fn.instructions() if (g := _target(i, module, by_name)) is not None]
        if not sites:
            continue
        uses = Uses(fn)
        calls = [_split(fn, p, g, uses) for p, g in sites]
        inline_calls_among(fn, calls, by_name, uses, sizes)


def _target(i: N.Instr, module: N.Module, by_name: dict[str, N.Function]):
    if not (isinstance(i, N.Perform) and i.op == "state:update" and len(i.args) == 2):
        return None
    f = root(i.args[1])
    if isinstance(f, N.GlobalGet):
        g = module.known_globals.get(f.slot)
    elif (isinstance(f, N.LoadConst) and isinstance(f.value, N.Special)
            and f.value.kind == "closure"):
        g = by_name.get(f.value.text)
    else:
        return None
    if (g is None or g.arity != 1 or g.rest_param is not None or g.nfree
            or any(isinstance(x, _UNSAFE) for x in g.instructions())):
        return None
    return g


def _split(fn: N.Function, perform: N.Perform, g: N.Function, uses: Uses) -> N.CallKnown:
    block = perform.block
    head, join = split_block(fn, block, perform)
    fast, slow = fn.new_block("stfast"), fn.new_block("stslow")
    key, f = perform.args

    def put(b: N.Block, instr: N.Instr) -> N.Instr:
        instr.block, instr.inlined = b, perform.inlined
        instr.inline_path = perform.inline_path
        b.instrs.append(instr)
        uses.add(instr)
        return instr

    cell = put(head, N.StateCell("find", [key], perform.span))
    found = put(head, N.StateCell("found", [cell], perform.span))
    put(head, N.Branch(found, fast, slow, likely=True))
    old = put(fast, N.StateCell("get", [cell], perform.span))
    call = put(fast, N.CallKnown(g, f, [old], perform.span))
    put(fast, N.StateCell("set", [cell, call], perform.span))
    put(fast, N.Jump(join))
    perform.block = slow
    slow.instrs.append(perform)
    put(slow, N.Jump(join))
    phi = N.Phi(N.Rep.VALUE)
    uses.replace(perform, phi)
    phi.incoming = [(fast, call), (slow, perform)]
    phi.block, phi.inlined, phi.inline_path = join, perform.inlined, perform.inline_path
    join.instrs.insert(0, phi)
    uses.add(phi)
    return call
