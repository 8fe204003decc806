"""Representation inference for floats: keep proven floats unboxed.

In:  IR where every number is a tagged VALUE (floats are heap boxes).
Out: the same IR where values proven to be floats are computed as ``F64``
     (``FloatOp``), float phis carry raw doubles, comparisons of floats are
     ``FloatOp`` compares, and a ``Box`` is inserted only where a float flows
     into a generic use (a call, a store, a return...).

A value is a proven float when it is a float literal, a ``Box`` of an F64, the
result of ``to-float`` or ``sqrt``, the sum/difference/product/quotient of a
proven float and anything, or a phi all of whose inputs are proven floats.
(``(+ 1.5 x)`` is a float whatever ``x`` is, or a type error: the other operand
is unboxed with a check that raises exactly the error the generic operation
would.) Phis are assumed floats first and the assumption is withdrawn until
nothing changes (an optimistic fixpoint, so loop-carried floats stay unboxed).
"""
from __future__ import annotations

from .. import nodes as N
from ..nodes import Rep

ARITH = {"add": "fadd", "sub": "fsub", "mul": "fmul"}
OP_NAMES = {"add": "+", "sub": "-", "mul": "*", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
            "/": "/"}
COMPARE = {"lt": "flt", "le": "fle", "gt": "fgt", "ge": "fge"}
FLOAT_BUILTINS = {"to-float", "sqrt"}      # always return a float (or raise)


def unbox_floats(module: N.Module) -> None:
    for fn in module.functions:
        _FunctionUnboxer(fn).run()


def _is_float_const(v) -> bool:
    return isinstance(v, N.LoadConst) and isinstance(v.value, float)


def _is_division(i) -> bool:
    return isinstance(i, N.CallBuiltin) and i.name == "/" and len(i.args) == 2 and not i.tail


def _is_float_call(i) -> bool:
    return (isinstance(i, N.CallBuiltin) and i.name in FLOAT_BUILTINS and len(i.args) == 1
            and not i.tail)


def _is_int_const(v) -> bool:
    return (isinstance(v, N.Const) and v.rep is Rep.VALUE and isinstance(v.value, int)
            and not isinstance(v.value, bool))


class _FunctionUnboxer:
    def __init__(self, fn: N.Function):
        self.fn = fn
        self.floats: set[int] = set()
        self.shadow: dict[int, N.Value] = {}

    def run(self) -> None:
        self._infer()
        if not self.floats:
            return
        self._rewrite()

    # ---- inference ----

    def _candidates(self):
        for i in self.fn.instructions():
            if (_is_float_const(i) or (isinstance(i, N.Box) and i.a.rep is Rep.F64)
                    or _is_float_call(i) or _is_division(i)):
                yield i
            elif isinstance(i, N.Prim) and i.op in ARITH:
                yield i
            elif isinstance(i, N.Phi) and i.rep is Rep.VALUE:
                yield i

    def _holds(self, i) -> bool:
        fl = lambda v: id(v) in self.floats
        if _is_float_const(i) or isinstance(i, N.Box) or _is_float_call(i):
            return True
        if isinstance(i, N.Prim) or _is_division(i):
            a, b = i.args
            return fl(a) or fl(b)
        if isinstance(i, N.Phi):
            return bool(i.incoming) and all(fl(v) for _, v in i.incoming)
        return False

    def _infer(self) -> None:
        cands = list(self._candidates())
        self.floats = {id(i) for i in cands}
        changed = True
        while changed:
            changed = False
            for i in cands:
                if id(i) in self.floats and not self._holds(i):
                    self.floats.discard(id(i))
                    changed = True

    # ---- rewriting ----

    def _insert_before(self, anchor: N.Instr, new: N.Instr) -> N.Instr:
        block = anchor.block
        new.block = block
        block.instrs.insert(block.instrs.index(anchor), new)
        return new

    def _f64(self, v: N.Value, anchor: N.Instr, op: str = "") -> N.Value:
        """The F64 form of ``v`` as an operand of ``anchor``: a proven float's
        shadow, a converted int literal, or a checked unbox that raises the
        type error of operation ``op`` for a non-number."""
        if id(v) in self.shadow:
            return self.shadow[id(v)]
        if _is_int_const(v):
            return self._insert_before(anchor, N.Const(Rep.F64, float(v.value)))
        if id(v) not in self.floats:
            return self._insert_before(anchor, N.Unbox(v, op, anchor.span))
        if isinstance(v, N.Box):
            s = v.a
        elif _is_float_const(v):
            s = self._insert_before(v, N.Const(Rep.F64, v.value))
        elif _is_float_call(v):
            s = N.Unbox(v)
            s.block = v.block
            v.block.instrs.insert(v.block.instrs.index(v) + 1, s)
        else:
            name = v.op if isinstance(v, N.Prim) else "/"
            fop = ARITH.get(name, "fdiv")
            s = self._insert_before(v, N.FloatOp(fop, self._f64(v.args[0], v, OP_NAMES[name]),
                                                 self._f64(v.args[1], v, OP_NAMES[name])))
        self.shadow[id(v)] = s
        return s

    def _rewrite(self) -> None:
        originals = [i for i in self.fn.instructions() if id(i) in self.floats]
        phis = [i for i in originals if isinstance(i, N.Phi)]
        for phi in phis:
            fphi = N.Phi(Rep.F64, phi.label)
            fphi.block = phi.block
            phi.block.instrs.insert(0, fphi)
            self.shadow[id(phi)] = fphi
        for phi in phis:
            fphi = self.shadow[id(phi)]
            for pred, v in phi.incoming:
                anchor = pred.terminator
                fphi.add_incoming(pred, self._f64(v, anchor))
        for i in originals:
            if not isinstance(i, N.Phi):
                self._f64(i, i)
        self._rewrite_compares()
        # Generic users of a float now see a box of its F64 form.
        boxes: dict[int, N.Value] = {}
        for i in originals:
            if isinstance(i, N.Box) or _is_float_call(i):
                continue      # already a boxed float: its users keep it
            box = N.Box(self.shadow[id(i)])
            block = i.block
            box.block = block
            if isinstance(i, N.Phi):
                pos = len(block.phis)
            else:
                pos = block.instrs.index(i) + 1
            block.instrs.insert(pos, box)
            boxes[id(i)] = box
        shadows = {id(s) for s in self.shadow.values()}
        for instr in list(self.fn.instructions()):
            if id(instr) in shadows or id(instr) in boxes:
                continue
            for o in instr.operands():
                if id(o) in boxes:
                    instr.replace_operand(o, boxes[id(o)])
        for i in originals:
            if not isinstance(i, N.Box) and not _is_float_call(i):
                i.block.instrs.remove(i)

    def _rewrite_compares(self) -> None:
        fl = lambda v: id(v) in self.floats
        for i in list(self.fn.instructions()):
            if isinstance(i, N.Prim) and i.op in COMPARE:
                a, b = i.args
                if fl(a) or fl(b):
                    name = OP_NAMES[i.op]
                    new = self._insert_before(i, N.FloatOp(COMPARE[i.op], self._f64(a, i, name),
                                                           self._f64(b, i, name)))
                    for user in self.fn.instructions():
                        if i in user.operands():
                            user.replace_operand(i, new)
                    i.block.instrs.remove(i)
