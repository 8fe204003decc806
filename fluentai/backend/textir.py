"""Function bodies as LLVM IR text, written as they are built.

In:  the builder calls of ``codegen.FunctionCodegen`` (the subset of llvmlite's
     ``IRBuilder`` interface it uses: arithmetic, compares, casts, loads and
     stores, calls, phis, branches).
Out: ``TextFunction``, an ``llvmlite.ir.Function`` whose blocks hold finished
     lines of text, printed with the rest of the llvmlite module.

Why: llvmlite builds an object graph per instruction (name scopes, operand
lists, metadata dictionaries) and formats it again when the module is printed,
about 10 us each way per instruction; generated functions are tens of thousands
of instructions, so that was most of a -O0 compile. Here an instruction is one
formatted string, made once. Module-level things (declarations, globals, debug
metadata) stay llvmlite objects, and any llvmlite value (a constant, a global,
a function, an argument) can be an operand: only ``.type`` and
``get_reference()`` are read. Type errors that llvmlite's builder would raise
are caught by LLVM's parser and verifier instead (llvm_passes.optimize), which
the driver reports as compiler bugs.
"""
from __future__ import annotations

import re

from llvmlite import ir

_TYPE_TEXT: dict[int, tuple[ir.Type, str]] = {}   # id(type) -> (type kept alive, its text)


def type_text(t: ir.Type) -> str:
    entry = _TYPE_TEXT.get(id(t))
    if entry is None:
        entry = _TYPE_TEXT[id(t)] = (t, str(t))
    return entry[1]


def operand(v) -> str:
    return f"{type_text(v.type)} {v.get_reference()}"


class Value:
    """The result of one instruction."""
    __slots__ = ("type", "ref")

    def __init__(self, typ: ir.Type, ref: str):
        self.type = typ
        self.ref = ref

    def get_reference(self) -> str:
        return self.ref

    def __str__(self) -> str:
        return f"{type_text(self.type)} {self.ref}"


class Phi(Value):
    """Its incoming edges are added after the blocks they come from are built;
    its line is made when the function is printed."""
    __slots__ = ("incoming", "suffix")

    def __init__(self, typ: ir.Type, ref: str, suffix: str):
        super().__init__(typ, ref)
        self.incoming: list[tuple[object, "Block"]] = []
        self.suffix = suffix

    def add_incoming(self, value, block: "Block") -> None:
        self.incoming.append((value, block))

    def line(self) -> str:
        edges = ", ".join(f"[{v.get_reference()}, {b.ref}]" for v, b in self.incoming)
        return f"{self.ref} = phi {type_text(self.type)} {edges}{self.suffix}"


_PLAIN_LABEL = re.compile(r"[-a-zA-Z$._][-a-zA-Z$._0-9]*\Z")


class Block:
    __slots__ = ("name", "ref", "label", "lines")

    def __init__(self, name: str):
        self.name = name
        self.ref = f'%"{name}"'
        # As llvmlite writes it: quoted only when it must be.
        self.label = name if _PLAIN_LABEL.match(name) else f'"{name}"'
        self.lines: list = []       # str, or a Phi

    def get_reference(self) -> str:
        return self.ref


class TextFunction(ir.Function):
    """A defined function whose body is ``Block``s of text."""

    def __init__(self, module: ir.Module, ftype: ir.FunctionType, name: str):
        super().__init__(module, ftype, name)
        self.block_names: dict[str, int] = {}
        self.next_value = 0

    def _block(self, name: str) -> Block:
        n = self.block_names.get(name, 0)
        self.block_names[name] = n + 1
        return Block(name if n == 0 else f"{name}.{n}")

    def append_basic_block(self, name: str = "") -> Block:
        blk = self._block(name or "b")
        self.blocks.append(blk)
        return blk

    def insert_basic_block(self, before: int, name: str = "") -> Block:
        blk = self._block(name or "b")
        self.blocks.insert(before, blk)
        return blk

    def descr_body(self, buf: list) -> None:
        for blk in self.blocks:
            buf.append(f"{blk.label}:\n")
            for line in blk.lines:
                buf.append("  ")
                buf.append(line if isinstance(line, str) else line.line())
                buf.append("\n")


class RawConstant:
    """A constant initializer given as finished text (large tables: the sites
    and locations of the module info), of type ``typ``."""

    def __init__(self, typ: ir.Type, text: str):
        self.type = typ
        self.text = text

    def get_reference(self) -> str:
        return self.text


class _Branch:
    """What ``cbranch`` returns: the line can still take branch weights."""
    __slots__ = ("builder", "block", "index")

    def __init__(self, builder: "TextBuilder", block: Block, index: int):
        self.builder, self.block, self.index = builder, block, index

    def set_weights(self, weights: list[int]) -> None:
        md = self.builder.weights(tuple(weights))
        self.block.lines[self.index] += f", !prof {md.get_reference()}"


ICMP_UNSIGNED = {"==": "eq", "!=": "ne", "<": "ult", "<=": "ule", ">": "ugt", ">=": "uge"}
ICMP_SIGNED = {"==": "eq", "!=": "ne", "<": "slt", "<=": "sle", ">": "sgt", ">=": "sge"}
FCMP_ORDERED = {"==": "oeq", "!=": "one", "<": "olt", "<=": "ole", ">": "ogt", ">=": "oge"}
I1 = ir.IntType(1)
PTR = ir.PointerType()


class TextBuilder:
    """The part of llvmlite's ``IRBuilder`` interface codegen uses, writing text.
    ``debug_metadata``: a DILocation attached to every instruction, as there."""

    def __init__(self, block: Block, function: TextFunction):
        self.function = function
        self.module = function.module
        self._block = block
        self.debug_metadata = None
        self.calls_here = 0         # recorded calls in the current block (codegen.CALLS_PER_BLOCK)

    @property
    def block(self) -> Block:
        return self._block

    def position_at_end(self, block: Block) -> None:
        self._block = block
        self.calls_here = 0

    def weights(self, weights: tuple) -> ir.MDValue:
        cache = self.module.__dict__.setdefault("_fl_weights", {})
        md = cache.get(weights)
        if md is None:
            md = cache[weights] = self.module.add_metadata(
                [ir.MetaDataString(self.module, "branch_weights")]
                + [ir.Constant(ir.IntType(32), w) for w in weights])
        return md

    # ---- emission ----

    def _name(self) -> str:
        fn = self.function
        fn.next_value += 1
        return f"%t{fn.next_value}"

    def _emit(self, text: str) -> int:
        if self.debug_metadata is not None:
            text += f", !dbg {self.debug_metadata.get_reference()}"
        lines = self._block.lines
        lines.append(text)
        return len(lines) - 1

    def _value(self, typ: ir.Type, body: str) -> Value:
        ref = self._name()
        self._emit(f"{ref} = {body}")
        return Value(typ, ref)

    def _binop(self, op: str, a, b) -> Value:
        return self._value(a.type, f"{op} {type_text(a.type)} {a.get_reference()}, {b.get_reference()}")

    def add(self, a, b):
        return self._binop("add", a, b)

    def sub(self, a, b):
        return self._binop("sub", a, b)

    def and_(self, a, b):
        return self._binop("and", a, b)

    def or_(self, a, b):
        return self._binop("or", a, b)

    def xor(self, a, b):
        return self._binop("xor", a, b)

    def shl(self, a, b):
        return self._binop("shl", a, b)

    def ashr(self, a, b):
        return self._binop("ashr", a, b)

    def sdiv(self, a, b):
        return self._binop("sdiv", a, b)

    def srem(self, a, b):
        return self._binop("srem", a, b)

    def fadd(self, a, b):
        return self._binop("fadd", a, b)

    def fsub(self, a, b):
        return self._binop("fsub", a, b)

    def fmul(self, a, b):
        return self._binop("fmul", a, b)

    def fdiv(self, a, b):
        return self._binop("fdiv", a, b)

    def _cmp(self, kind: str, op: str, a, b) -> Value:
        return self._value(I1, f"{kind} {op} {type_text(a.type)} {a.get_reference()}, {b.get_reference()}")

    def icmp_unsigned(self, op: str, a, b):
        return self._cmp("icmp", ICMP_UNSIGNED[op], a, b)

    def icmp_signed(self, op: str, a, b):
        return self._cmp("icmp", ICMP_SIGNED[op], a, b)

    def fcmp_ordered(self, op: str, a, b):
        return self._cmp("fcmp", FCMP_ORDERED[op], a, b)

    def _cast(self, op: str, v, typ: ir.Type) -> Value:
        return self._value(typ, f"{op} {operand(v)} to {type_text(typ)}")

    def inttoptr(self, v, typ):
        return self._cast("inttoptr", v, typ)

    def ptrtoint(self, v, typ):
        return self._cast("ptrtoint", v, typ)

    def trunc(self, v, typ):
        return self._cast("trunc", v, typ)

    def sitofp(self, v, typ):
        return self._cast("sitofp", v, typ)

    def select(self, cond, a, b):
        return self._value(a.type, f"select {operand(cond)}, {operand(a)}, {operand(b)}")

    def load(self, ptr, typ):
        return self._value(typ, f"load {type_text(typ)}, {operand(ptr)}")

    def load_atomic(self, ptr, ordering: str, align: int, typ):
        return self._value(typ, f"load atomic {type_text(typ)}, {operand(ptr)} {ordering}, align {align}")

    def alloca(self, typ: ir.Type, align: int) -> Value:
        """A slot of the frame; only in a function's first block, where LLVM
        makes it part of the fixed frame."""
        return self._value(PTR, f"alloca {type_text(typ)}, align {align}")

    def store(self, value, ptr) -> None:
        self._emit(f"store {operand(value)}, {operand(ptr)}")

    def gep(self, ptr, indices: list, source_etype):
        idx = "".join(", " + operand(i) for i in indices)
        return self._value(PTR, f"getelementptr {type_text(source_etype)}, {operand(ptr)}{idx}")

    def extract_value(self, agg, index: int):
        return self._value(agg.type.elements[index],
                           f"extractvalue {operand(agg)}, {index}")

    def phi(self, typ) -> Phi:
        suffix = "" if self.debug_metadata is None else f", !dbg {self.debug_metadata.get_reference()}"
        phi = Phi(typ, self._name(), suffix)
        self._block.lines.append(phi)
        return phi

    def call(self, fn, args: list, tail=False):
        ftype = fn.type.pointee if isinstance(fn, Value) else fn.function_type
        ret = ftype.return_type
        callee = type_text(ftype) if ftype.var_arg else type_text(ret)
        call = "musttail call" if tail == "musttail" else "call"
        text = f"{call} {callee} {fn.get_reference()}({', '.join(operand(a) for a in args)})"
        if isinstance(ret, ir.VoidType):
            self._emit(text)
            return Value(ret, "")
        return self._value(ret, text)

    def asm(self, ftype: ir.FunctionType, asm: str, constraint: str, args: list, side_effect: bool):
        return self.call(ir.InlineAsm(ftype, asm, constraint, side_effect), args)

    def _with_overflow(self, op: str, a, b):
        fnty = ir.FunctionType(ir.LiteralStructType([a.type, I1]), [a.type, a.type])
        fn = self.module.declare_intrinsic(f"llvm.{op}.with.overflow", [a.type], fnty)
        return self.call(fn, [a, b])

    def sadd_with_overflow(self, a, b):
        return self._with_overflow("sadd", a, b)

    def ssub_with_overflow(self, a, b):
        return self._with_overflow("ssub", a, b)

    def smul_with_overflow(self, a, b):
        return self._with_overflow("smul", a, b)

    # ---- terminators ----

    def branch(self, target: Block) -> None:
        self._emit(f"br label {target.ref}")

    def cbranch(self, cond, then: Block, orelse: Block) -> _Branch:
        index = self._emit(f"br {operand(cond)}, label {then.ref}, label {orelse.ref}")
        return _Branch(self, self._block, index)

    def switch(self, value, default: Block, cases: str) -> None:
        """``cases``: the finished ``i64 K, label %B`` pairs, separated by spaces."""
        self._emit(f"switch {operand(value)}, label {default.ref} [{cases}]")

    def ret(self, value) -> None:
        self._emit(f"ret {operand(value)}")

    def ret_void(self) -> None:
        self._emit("ret void")

    def unreachable(self) -> None:
        self._emit("unreachable")

