"""Closure flattening: a closure that only calls a captured closure captures
what that closure captured, with its body inlined.

In: any IR module (after passes/inline.py, which builds the pattern: inlining
``(my-compose (make-adder k) (make-adder 1))`` leaves
``closure @compose-lambda [closure @adder-lambda [k], closure @adder-lambda [1]]``).
Out: the same module where a ``MakeClosure`` of ``L`` whose capture ``i`` is,
through phis of one value, a ``MakeClosure`` of a small ``Li`` in the same
function (or the ``LoadConst`` of a static closure of ``Li``), and whose body
uses its free variable ``i`` only as the callee of calls with exactly ``Li``'s
number of arguments, is a ``MakeClosure`` of a clone ``L'`` of ``L``. ``L'``
captures ``L``'s captures without ``i``, then the inner closure's captures
that are not constants (``Const``, ``LoadConst``: those are copied into
``L'``'s body instead), and its calls of capture ``i`` are ``Li``'s body,
inlined by passes/inline.py (the inner closure is rebuilt in ``L'`` from its
captures, the calls become known calls of it, and the inliner does the rest,
including the ``Inlined`` records that keep error locations and call chains,
and proper tail calls). The inner closure is then dead at the site and
passes/dce.py removes it. A site left with no captures becomes a static
closure (passes/static_closures.py). This repeats until nothing changes: the
captures of a flattened closure may be flattenable closures themselves
(composition nested three deep). Sites that flatten the same capture of the
same ``L`` into the same ``Li`` with the same constants share one clone.

Why: bench/closures_escape allocates three closures per element and makes
two unknown calls per call of the composed function; flattened it allocates
one closure and its body is ``(+ (+ x 1) n)``, as Chez's cp0 makes it.

Not flattened: an ``Li`` larger than the inliner's ``BUDGET``, recursive (it
calls itself or uses its own closure), with a rest parameter or reading its
caller's location; a capture ``i`` that ``L`` stores, returns, compares,
passes as an argument, captures again or calls with another number of
arguments (the arity error must stay); a closure patched by ``SetFree`` (a
letrec knot: its captures are not final when it is built); a site where the
inliner would not inline every call (the growth budget): the clone is
dropped. The identity of the inner closure is not observable (only ``L``'s
calls see it), and the outer closure is still one object per evaluation.
"""
from __future__ import annotations

from typing import Optional

from .. import nodes as N
from ..copying import copy_blocks
from .dce import remove_unused
from .inline import BUDGET, inline_calls_among
from .known_calls import Uses, root
from .static_closures import make_static_closures

CONST_CLONES = 8        # clones of one (L, capture, Li) that differ in their constants


def flatten_closures(module: N.Module) -> None:
    by_name = {fn.name: fn for fn in module.functions}
    flat = _Flattener(module, by_name)
    work = list(module.functions)
    while work:
        fn = work.pop()
        # The inner closures left dead at the sites are passes/dce.py's.
        flat.flatten_sites(fn)
        work.extend(flat.new_functions)
        flat.new_functions.clear()
    _drop_unused_clones(module, flat.made, flat.origin)
    # Sites left with nothing to capture are built once. Not done as they are
    # made: one may still be flattened into an outer closure, and its clone
    # dropped, but a static closure's constant stays in the module's table.
    make_static_closures(module)


def _drop_unused_clones(module: N.Module, made: set[N.Function],
                        origin: dict[N.Function, N.Function]) -> None:
    """Remove the clones that no code refers to any more: a clone made for an
    inner closure that was then flattened into its outer one is dead with it.
    Code inlined from a removed clone names the function it was cloned from
    as its frame (the same name and span, so call chains read the same)."""
    dropped = set()
    while True:
        used = set()
        for fn in module.functions:
            for i in fn.instructions():
                if isinstance(i, (N.MakeClosure, N.CallKnown)):
                    used.add(i.function.name)
                elif (isinstance(i, N.LoadConst) and isinstance(i.value, N.Special)
                      and i.value.kind == "closure"):
                    used.add(i.value.text)
        dead = [fn for fn in module.functions if fn in made and fn.name not in used]
        if not dead:
            break
        for fn in dead:
            module.functions.remove(fn)
            made.discard(fn)
            dropped.add(fn)
    if not dropped:
        return
    seen: set[int] = set()
    for fn in module.functions:
        for i in fn.instructions():
            for rec in (i.inlined, i.returns_for):
                while rec is not None and id(rec) not in seen:
                    seen.add(id(rec))
                    while rec.function in dropped:
                        rec.function = origin[rec.function]
                    rec = rec.caller


class _Flattener:
    def __init__(self, module: N.Module, by_name: dict[str, N.Function]):
        self.module = module
        self.by_name = by_name
        self.clones: dict[tuple, Optional[N.Function]] = {}    # None: tried, not flattenable
        self.sizes: dict[N.Function, int] = {}                  # the inliner's cache
        self.small: dict[N.Function, bool] = {}
        self.const_clones: dict[tuple, int] = {}   # clones with constants copied in, per shape
        self.new_functions: list[N.Function] = []
        self.made: set[N.Function] = set()
        self.origin: dict[N.Function, N.Function] = {}      # clone -> the function cloned
        self.count = 0

    def flatten_sites(self, fn: N.Function) -> bool:
        """Flatten the sites of ``fn`` as far as they go; True when one changed.
        Rewriting a site changes only that site, so one look at each will do."""
        patched = {id(root(i.closure)) for i in fn.instructions() if isinstance(i, N.SetFree)}
        uses: Optional[Uses] = None
        changed = False
        for site in list(fn.instructions()):
            if not isinstance(site, N.MakeClosure) or id(site) in patched:
                continue
            while True:
                found = self._flatten_one(site, patched)
                if found is None:
                    break
                if uses is None:
                    uses = Uses(fn)     # the users of sites, which rewriting keeps
                self._rewrite(site, *found, uses.users)
                changed = True
        return changed

    def _flatten_one(self, site: N.MakeClosure, patched: set[int]):
        """(capture index, clone, inner captures) for one capture of ``site``
        that can be flattened, or None."""
        for k, cap in enumerate(site.captures):
            inner = self._inner(root(cap), patched)
            if inner is None:
                continue
            target, inner_caps = inner
            static = isinstance(root(cap), N.LoadConst)
            shape = (site.function.name, k, target.name, static)
            consts = tuple(_const_key(root(d)) for d in inner_caps)
            if any(c is not None for c in consts) and (shape, consts) not in self.clones:
                # Constants are copied into the clone, so each set of them makes
                # a clone: past a few, they are captured like other values.
                if self.const_clones.get(shape, 0) >= CONST_CLONES:
                    consts = (None,) * len(consts)
                else:
                    self.const_clones[shape] = self.const_clones.get(shape, 0) + 1
            key = (shape, consts)
            if key not in self.clones:
                self.clones[key] = self._make_clone(site.function, k, root(cap), target,
                                                    inner_caps, consts)
            clone = self.clones[key]
            if clone is None:
                continue
            return k, clone, [d for d, c in zip(inner_caps, consts) if c is None]
        return None

    def _inner(self, value: N.Value, patched: set[int]):
        """(Li, its captures) when ``value`` is a closure of a flattenable Li."""
        if isinstance(value, N.MakeClosure):
            g, caps = value.function, value.captures
            if id(value) in patched or len(caps) != g.nfree:
                return None
        elif (isinstance(value, N.LoadConst) and isinstance(value.value, N.Special)
              and value.value.kind == "closure"):
            g, caps = self.by_name.get(value.value.text), []
            if g is None or g.nfree:
                return None
        else:
            return None
        if g not in self.small:
            self.small[g] = _small(g)
        return (g, caps) if self.small[g] else None

    def _make_clone(self, f: N.Function, k: int, inner: N.Value, g: N.Function,
                    inner_caps: list[N.Value], consts: tuple) -> Optional[N.Function]:
        """L' for capture ``k`` of ``f`` being ``inner``, a closure of ``g``
        capturing ``inner_caps`` (those with a ``consts`` entry are copied in),
        or None when ``f`` does not only call that capture."""
        loads = [i for i in f.instructions() if isinstance(i, N.LoadFree) and i.index == k]
        users = Uses(f).users
        if not all(_only_called(v, g.arity, users, set()) for v in loads):
            return None
        base = f
        while base in self.origin:
            base = self.origin[base]
        self.count += 1
        clone = N.Function(f"{base.name}_flat{self.count}", f.display_name,
                           f.arity, f.rest_param is not None, f.kind, f.span)
        clone.trmc_site = f.trmc_site
        # Free variables: f's without k, then the inner closure's that are not constants.
        index = {j: j if j < k else j - 1 for j in range(f.nfree) if j != k}
        labels = [lab for j, lab in enumerate(f.free_labels) if j != k]
        inner_index: dict[int, int] = {}
        for t, c in enumerate(consts):
            if c is None:
                inner_index[t] = len(labels)
                labels.append(g.free_labels[t])
        clone.nfree, clone.free_labels = len(labels), labels
        values: dict[int, N.Value] = {id(p): q for p, q in zip(f.params, clone.params)}
        if f.rest_param is not None:
            values[id(f.rest_param)] = clone.rest_param
        bmap = {b: N.Block(b.label) for b in f.blocks}
        clone.blocks = list(bmap.values())
        copy_blocks(f.blocks, bmap, values)
        rebuilt = []
        for b in clone.blocks:
            out = []
            for i in b.instrs:
                if isinstance(i, N.LoadFree) and i.index == k:
                    new = self._rebuild(b, i, inner, g, inner_caps, inner_index)
                    out.extend(new)
                    rebuilt.append((i, new[-1]))
                    continue
                if isinstance(i, N.LoadFree):
                    i.index = index[i.index]
                out.append(i)
            b.instrs = out
        uses = Uses(clone)
        calls = []
        for old, new in rebuilt:
            uses.replace(old, new)
            calls.extend(_calls_through(new, uses.users))
        self.module.functions.append(clone)
        self.by_name[clone.name] = clone
        inline_calls_among(clone, calls, self.by_name, uses, self.sizes)
        remove_unused(clone)
        left = {id(new) for _, new in rebuilt}
        if any(id(i) in left for i in clone.instructions()):
            # A call was not inlined: the clone would build g's closure on every call.
            self.module.functions.remove(clone)
            del self.by_name[clone.name]
            return None
        self.new_functions.append(clone)
        self.made.add(clone)
        self.origin[clone] = f
        return clone

    def _rebuild(self, block: N.Block, load: N.LoadFree, inner: N.Value, g: N.Function,
                 inner_caps: list[N.Value], inner_index: dict[int, int]) -> list[N.Instr]:
        """The instructions that stand for capture ``k`` in the clone: the
        inner closure built from the clone's own captures and constants."""
        if isinstance(inner, N.LoadConst):
            c = N.LoadConst(inner.index, inner.value)
            new = [c]
        else:
            caps: list[N.Instr] = []
            for t, d in enumerate(inner_caps):
                d = root(d)
                if t in inner_index:
                    c = N.LoadFree(inner_index[t], g.free_labels[t])
                elif isinstance(d, N.Const):
                    c = N.Const(d.rep, d.value)
                else:
                    c = N.LoadConst(d.index, d.value)
                caps.append(c)
            new = caps + [N.MakeClosure(g, list(caps))]
        for c in new:
            c.block, c.span, c.inlined, c.inline_path = block, load.span, load.inlined, load.inline_path
        return new

    def _rewrite(self, site: N.MakeClosure, k: int, clone: N.Function,
                 captured: list[N.Value], users: dict[int, list[N.Instr]]) -> None:
        caps = site.captures[:k] + site.captures[k + 1:] + captured
        # Known calls through the site (left by the inliner, which does not
        # inline a function into its own inlined copy: a composed closure
        # called in view) call the clone now: the closure is laid out for it.
        for call in _calls_through(site, users, N.CallKnown):
            if call.function is site.function:
                call.function = clone
        site.function, site.captures = clone, caps


def _small(g: N.Function) -> bool:
    """Whether the inliner will inline every call of ``g`` (with the right
    argument count) and ``g`` is not recursive."""
    if g.kind != "closure" or g.rest_param is not None:
        return False
    if sum(len(b.instrs) for b in g.blocks) > BUDGET:
        return False
    for i in g.instructions():
        if isinstance(i, N.SelfClosure) or (isinstance(i, N.CallKnown) and i.function is g):
            return False                                    # recursive
        if isinstance(i, N.RuntimeCall) and i.loc_from_caller:
            return False
    return True


def _const_key(value: N.Value):
    """What identifies a constant capture (copied into the clone), or None."""
    if isinstance(value, N.Const):
        return ("const", value.rep, repr(value.value))
    if isinstance(value, N.LoadConst):
        return ("loadconst", value.index)
    return None


def _only_called(value: N.Value, arity: int, users: dict[int, list[N.Instr]],
                 seen: set[int]) -> bool:
    """``value`` (a free variable, or a phi of it) is used only as the callee
    of calls with ``arity`` arguments, directly or through phis of it alone."""
    for u in users.get(id(value), []):
        if isinstance(u, N.Call) and u.fn is value and not any(a is value for a in u.args):
            if len(u.args) != arity:
                return False
        elif isinstance(u, N.Phi) and root(u) is root(value):
            if id(u) not in seen:
                seen.add(id(u))
                if not _only_called(u, arity, users, seen):
                    return False
        else:
            return False
    return True


def _calls_through(value: N.Value, users: dict[int, list[N.Instr]],
                   kind: type = N.Call) -> list[N.Instr]:
    """The calls (of ``kind``) through ``value``: a ``Call`` whose callee or a
    ``CallKnown`` whose closure is ``value``, directly or through phis of it alone."""
    calls, seen, todo = [], {id(value)}, [value]
    while todo:
        v = todo.pop()
        for u in users.get(id(v), []):
            if isinstance(u, kind) and (u.fn if kind is N.Call else u.closure) is v:
                calls.append(u)
            elif isinstance(u, N.Phi) and id(u) not in seen and root(u) is value:
                seen.add(id(u))
                todo.append(u)
    return calls
