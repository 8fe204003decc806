"""The SSA IR: modules of functions of basic blocks of typed instructions.

Every instruction that produces a value is itself the SSA value and carries a
representation (``Rep``): a tagged ``VALUE`` word, a raw ``I64``, an unboxed
``F64`` or an ``BOOL`` (i1). Blocks start with ``Phi`` nodes and end with exactly
one terminator (``Jump``, ``Branch``, ``Switch``, ``Return``, ``Unreachable``). A call with
``tail=True`` must be immediately followed by a ``Return`` of its own value; the
backend emits it with ``musttail``.

Functions are closed: a lambda's captured variables arrive through ``LoadFree``
from its own closure object (flat closures, built by ``MakeClosure``), globals
through ``GlobalGet`` from the runtime-owned slot table. Classes are final (never
subclass a concrete instruction), so ``isinstance`` dispatch stays sound.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional

from ..frontend.ast import Span


class Rep(enum.Enum):
    VALUE = "value"     # tagged 64-bit word (runtime_c/fluentai.h)
    I64 = "i64"         # raw integer (argc, effect op ids)
    F64 = "f64"         # unboxed double
    BOOL = "bool"       # i1

    def __str__(self) -> str:
        return self.value


class Value:
    """Anything an instruction can use as an operand."""
    rep: Rep = Rep.VALUE
    name: str = "?"

    def operands(self) -> list["Value"]:
        return []


class Param(Value):
    """A declared parameter of a function (index counts the formal parameters)."""

    def __init__(self, index: int, label: str):
        self.index = index
        self.label = label
        self.rep = Rep.VALUE


class Instr(Value):
    """Base of all instructions. ``span`` is the source form it comes from;
    ``inlined``: set on code that passes/inline.py copied from another function."""
    span: Optional[Span] = None
    block: Optional["Block"] = None
    inlined: Optional["Inlined"] = None
    # A call that was a tail call of inlined code: its callee returns where the
    # frame described here would have returned, so a call chain shows it there.
    returns_for: Optional["Inlined"] = None
    # The functions whose inlining made this copy, outermost first (recursion
    # is inlined at most once along it, whatever frames tail calls replaced).
    inline_path: tuple = ()
    is_terminator = False

    def replace_operand(self, old: Value, new: Value) -> None:
        for attr, val in list(vars(self).items()):
            if val is old:
                setattr(self, attr, new)
            elif isinstance(val, list):
                setattr(self, attr, [new if x is old else x for x in val])


class Inlined:
    """Where inlined code comes from, so that error reports keep the call chain
    of the program as written: the code is ``function``'s, and its frame would
    have been made by the call at ``call_span`` in the frame ``caller``
    describes (None: the function the code now sits in). ``call_span`` None:
    the call was a tail call of the function the code now sits in, so that
    frame would have been replaced and there is no caller frame to show."""

    def __init__(self, function: "Function", call_span: Optional[Span],
                 caller: Optional["Inlined"]):
        self.function = function
        self.call_span = call_span
        self.caller = caller


# ---- constants -------------------------------------------------------------

class Const(Instr):
    """An immediate constant: VALUE (int fitting a fixnum, True/False, None=nil,
    EMPTY), I64, F64 or BOOL."""

    def __init__(self, rep: Rep, value):
        self.rep = rep
        self.value = value


EMPTY_LIST = "EMPTY"        # Const(Rep.VALUE, EMPTY_LIST) is the empty list
UNBOUND = "UNBOUND"         # the marker of a not-yet-defined variable


class LoadConst(Instr):
    """A heap constant (string, float, keyword, symbol, big int, quoted list),
    built once at module start and kept in the runtime-owned constant table."""

    def __init__(self, index: int, value):
        self.index = index
        self.value = value


# ---- arithmetic and primitives ---------------------------------------------

class Prim(Instr):
    """A primitive operation with an inline fast path in the backend.

    VALUE results: add sub mul (fixnum fast path, runtime slow path), cons,
    head, tail; set_tail writes its second operand into the tail of its first,
    a pair made by the same function that nothing else has seen yet
    (passes/list_loops.py builds lists in order with it), and is that pair. BOOL results: lt le gt ge numeq equal (structural ==),
    is_null (nil or []), is_empty ([] only), truthy, not_truthy.
    """
    VALUE_OPS = {"add", "sub", "mul", "mod", "quotient", "remainder", "cons", "head", "tail",
                 "unsafe_head", "unsafe_tail", "set_tail"}      # unsafe_*: after an is_pair test
    BOOL_OPS = {"lt", "le", "gt", "ge", "numeq", "equal", "truthy", "is_null", "is_empty",
                "is_pair", "is_data", "is_fixnum"}
    # Both operands are known fixnums (passes/specialise_fixnums.py): no tag checks.
    fixnums = False
    # equal: the index of an operand that is a known fixnum (passes/fixnum_loops.py):
    # only the other operand's tag is tested.
    fixnum_operand = -1
    # A cons whose tail is known to be a list (passes/known_lists.py): no tail test.
    list_tail = False

    def __init__(self, op: str, args: list[Value], span: Optional[Span]):
        assert op in self.VALUE_OPS or op in self.BOOL_OPS, op
        self.op = op
        self.args = args
        self.span = span
        self.rep = Rep.BOOL if op in self.BOOL_OPS else Rep.VALUE

    def operands(self):
        return list(self.args)


class FloatOp(Instr):
    """Unboxed float arithmetic (fadd fsub fmul fdiv -> F64) or comparison
    (flt fle fgt fge feq -> BOOL), introduced by representation inference."""
    ARITH = {"fadd", "fsub", "fmul", "fdiv"}
    COMPARE = {"flt", "fle", "fgt", "fge", "feq"}

    def __init__(self, op: str, a: Value, b: Value):
        assert op in self.ARITH or op in self.COMPARE, op
        self.op = op
        self.a = a
        self.b = b
        self.rep = Rep.F64 if op in self.ARITH else Rep.BOOL

    def operands(self):
        return [self.a, self.b]


class IntOp(Instr):
    """Raw int64 arithmetic (add sub -> I64) or comparison (lt le gt ge numeq
    -> BOOL) of two I64 operands (passes/specialise_fixnums.py). An add or sub
    whose result leaves int64 raises the generic operation's overflow-error at
    ``span``, as `+` and `-` of two ints do; with ``bail`` set (an
    accumulator loop, passes/accumulate.py) it makes its function return -1
    instead, and the caller reruns code that raises the error itself."""
    ARITH = {"add", "sub"}
    bail = False
    COMPARE = {"lt", "le", "gt", "ge", "numeq"}

    def __init__(self, op: str, a: Value, b: Value, span: Optional[Span]):
        assert op in self.ARITH or op in self.COMPARE, op
        self.op = op
        self.a = a
        self.b = b
        self.span = span
        self.rep = Rep.I64 if op in self.ARITH else Rep.BOOL

    def operands(self):
        return [self.a, self.b]


class Untag(Instr):
    """A VALUE proven a fixnum -> its I64."""

    def __init__(self, a: Value):
        self.a = a
        self.rep = Rep.I64

    def operands(self):
        return [self.a]


class Not(Instr):
    """Boolean negation of a BOOL."""

    def __init__(self, a: Value):
        self.a = a
        self.rep = Rep.BOOL

    def operands(self):
        return [self.a]


class Box(Instr):
    """Convert a raw representation to a tagged VALUE (BOOL -> true/false,
    F64 -> a heap float, I64 -> a fixnum or a boxed int)."""

    def __init__(self, a: Value):
        assert a.rep in (Rep.BOOL, Rep.F64, Rep.I64), a.rep
        self.a = a
        self.rep = Rep.VALUE

    def operands(self):
        return [self.a]


class Unbox(Instr):
    """Tagged VALUE -> F64. With ``checked_op`` empty the value is proven a
    float; otherwise ints convert and anything else raises the type error of
    that operation (e.g. "`+` expects numbers, got a string")."""

    def __init__(self, a: Value, checked_op: str = "", span: Optional[Span] = None):
        self.a = a
        self.checked_op = checked_op
        self.span = span
        self.rep = Rep.F64

    def operands(self):
        return [self.a]


class DataField(Instr):
    """Field ``index`` of a data value already tested by ``fl_data_is``."""

    def __init__(self, value: Value, index: int):
        self.value = value
        self.index = index

    def operands(self):
        return [self.value]


# ---- variables and closures ------------------------------------------------

class LoadFree(Instr):
    """Captured value number ``index`` of the current function's closure."""

    def __init__(self, index: int, label: str):
        self.index = index
        self.label = label

    def operands(self):
        return []


class ClosureSlot(Instr):
    """Captured value number ``index`` of ``closure``, a closure of the function
    whose free variable ``label`` that is (passes/inline.py, where a known call
    goes through a closure not built in view: passes/list_closure_calls.py)."""

    def __init__(self, closure: Value, index: int, label: str):
        self.closure = closure
        self.index = index
        self.label = label

    def operands(self):
        return [self.closure]


class SelfClosure(Instr):
    """The closure object the current function was called through."""


class MakeClosure(Instr):
    """Allocate a flat closure of ``function`` capturing ``captures``."""

    def __init__(self, function: "Function", captures: list[Value]):
        self.function = function
        self.captures = captures

    def operands(self):
        return list(self.captures)


class SetFree(Instr):
    """Patch captured slot ``index`` of a closure just built (letrec knots)."""
    rep = None

    def __init__(self, closure: Value, index: int, value: Value):
        self.closure = closure
        self.index = index
        self.value = value

    def operands(self):
        return [self.closure, self.value]


class GlobalGet(Instr):
    """Read top-level slot ``slot``; ``checked`` raises undefined-variable when
    the define has not run yet."""

    def __init__(self, slot: int, label: str, checked: bool, span: Optional[Span]):
        self.slot = slot
        self.label = label
        self.checked = checked
        self.span = span


class GlobalSet(Instr):
    rep = None

    def __init__(self, slot: int, label: str, value: Value):
        self.slot = slot
        self.label = label
        self.value = value

    def operands(self):
        return [self.value]


class MakeCell(Instr):
    """A mutable box for a letrec binding captured before its init has run."""

    def __init__(self):
        pass


class CellGet(Instr):
    def __init__(self, cell: Value, label: str, span: Optional[Span]):
        self.cell = cell
        self.label = label
        self.span = span

    def operands(self):
        return [self.cell]


class CellSet(Instr):
    rep = None

    def __init__(self, cell: Value, value: Value):
        self.cell = cell
        self.value = value

    def operands(self):
        return [self.cell, self.value]


# ---- calls -----------------------------------------------------------------

class Call(Instr):
    """Call an unknown function value through its closure's code pointer."""

    def __init__(self, fn: Value, args: list[Value], span: Optional[Span], tail: bool = False):
        self.fn = fn
        self.args = args
        self.span = span
        self.tail = tail

    def operands(self):
        return [self.fn] + list(self.args)


class CallKnown(Instr):
    """Direct call of a known IR function; ``closure`` is passed as its self."""

    # The call of a raw-ints clone from its own guarded entry: the two frames
    # are one frame of the program's function, so call chains skip this call.
    hidden = False
    # ``closure`` is one of ``function``'s closures though not one built in view
    # (passes/list_closure_calls.py): inlining reads its captures from it.
    closure_known = False

    def __init__(self, function: "Function", closure: Value, args: list[Value],
                 span: Optional[Span], tail: bool = False):
        self.function = function
        self.closure = closure
        self.args = args
        self.span = span
        self.tail = tail

    def operands(self):
        return [self.closure] + list(self.args)


class CallBuiltin(Instr):
    """Direct call of a runtime builtin (uniform signature) by its C symbol."""
    # The path of a loop made by passes/list_loops.py for an argument that is
    # not a list: it raises the builtin's error, and is not made a loop again.
    loop_fallback = False

    def __init__(self, name: str, symbol: str, args: list[Value], span: Optional[Span],
                 tail: bool = False):
        self.name = name
        self.symbol = symbol
        self.args = args
        self.span = span
        self.tail = tail

    def operands(self):
        return list(self.args)


class Perform(Instr):
    """Perform effect operation ``op`` ("io:print") through the handler stack."""

    def __init__(self, op: str, args: list[Value], span: Optional[Span]):
        self.op = op
        self.args = args
        self.span = span

    def operands(self):
        return list(self.args)


class RuntimeCall(Instr):
    """A call of a runtime helper that is not a builtin (map literals, data
    values, match failures...). ``symbol`` names a function of fluentai.h
    listed in ``backend.codegen.RUNTIME_HELPERS`` with its LLVM type."""

    def __init__(self, symbol: str, args: list[Value], span: Optional[Span], rep: Rep = Rep.VALUE,
                 loc_from_caller: bool = False):
        self.symbol = symbol
        self.args = args
        self.span = span
        self.rep = rep
        # pass the location of the call that entered this function, not the span's
        self.loc_from_caller = loc_from_caller

    def operands(self):
        return list(self.args)


class Trmc(Instr):
    """The bookkeeping of a loop made by passes/trmc.py from a recursion
    modulo cons. One machine frame then stands for the frames of the pending
    conses, which the function counts in a slot of its frame (read by
    runtime_c/callchain.c at every call site of the function):

    - ``dest``: a pair-shaped slot of the frame (VALUE) whose tail the loop
      writes the first pair it makes into; it never escapes the frame;
    - ``push`` / ``pop``: one more / one fewer pending frame (no value);
    - ``none``: are there no pending frames? (BOOL)
    """
    OPS = {"dest": Rep.VALUE, "push": None, "pop": None, "none": Rep.BOOL}

    def __init__(self, op: str):
        assert op in self.OPS, op
        self.op = op
        self.rep = self.OPS[op]


class StateCell(Instr):
    """The inline path of ``state:update`` (passes/state_updates.py):

    - ``find`` [key]: the key's cell as a raw address (I64), or 0 when the
      update must go through the perform (a handler could answer, a
      transaction is open, the key has no cell yet);
    - ``found`` [cell]: is it not 0? (BOOL);
    - ``get`` [cell]: the value in the cell, nil for an unset key (VALUE);
    - ``set`` [cell, value]: write the value into the cell (no value).
    """
    OPS = {"find": Rep.I64, "found": Rep.BOOL, "get": Rep.VALUE, "set": None}

    def __init__(self, op: str, args: list[Value], span: Optional[Span]):
        assert op in self.OPS, op
        self.op = op
        self.args = args
        self.span = span
        self.rep = self.OPS[op]

    def operands(self):
        return list(self.args)


# ---- control flow ----------------------------------------------------------

class Phi(Instr):
    def __init__(self, rep: Rep, label: str = ""):
        self.rep = rep
        self.label = label
        self.incoming: list[tuple["Block", Value]] = []

    def add_incoming(self, block: "Block", value: Value) -> None:
        self.incoming.append((block, value))

    def operands(self):
        return [v for _, v in self.incoming]

    def replace_operand(self, old, new):
        self.incoming = [(b, new if v is old else v) for b, v in self.incoming]


class Jump(Instr):
    """``span``: for a jump back into a loop, the call that made it (the
    loop's safepoint poll reports Ctrl-C there)."""
    is_terminator = True
    rep = None

    def __init__(self, target: "Block", span: Optional[Span] = None):
        self.target = target
        self.span = span

    def successors(self):
        return [self.target]


class Branch(Instr):
    is_terminator = True
    rep = None

    def __init__(self, cond: Value, then: "Block", orelse: "Block", likely: Optional[bool] = None):
        self.cond = cond
        self.then = then
        self.orelse = orelse
        self.likely = likely

    def operands(self):
        return [self.cond]

    def successors(self):
        return [self.then, self.orelse]


class Switch(Instr):
    """A multi-way branch on an I64 ``value``: to the block of the case equal to
    it, else to ``default`` (an LLVM ``switch``). Case values are distinct and so
    are the case blocks, none of them ``default`` (so a phi of a target has one
    incoming per predecessor block). Made by ir/match.py for a column of many
    literals."""
    is_terminator = True
    rep = None

    def __init__(self, value: Value, cases: list[tuple[int, "Block"]], default: "Block"):
        self.value = value
        self.cases = cases
        self.default = default

    def operands(self):
        return [self.value]

    def successors(self):
        return [b for _, b in self.cases] + [self.default]

    def retarget(self, old: "Block", new: "Block") -> None:
        """Every edge to ``old`` goes to ``new`` instead."""
        self.cases = [(k, new if b is old else b) for k, b in self.cases]
        if self.default is old:
            self.default = new


class Return(Instr):
    is_terminator = True
    rep = None

    def __init__(self, value: Value):
        self.value = value

    def operands(self):
        return [self.value]

    def successors(self):
        return []


class Unreachable(Instr):
    is_terminator = True
    rep = None

    def successors(self):
        return []


class Block:
    def __init__(self, label: str):
        self.label = label
        self.instrs: list[Instr] = []

    @property
    def terminator(self) -> Optional[Instr]:
        if self.instrs and self.instrs[-1].is_terminator:
            return self.instrs[-1]
        return None

    @property
    def phis(self) -> list[Phi]:
        return [i for i in self.instrs if isinstance(i, Phi)]

    def successors(self) -> list["Block"]:
        t = self.terminator
        return t.successors() if t is not None else []

    def __repr__(self) -> str:
        return f"Block({self.label})"


class Function:
    """One IR function. Closure functions (``kind == "closure"``) have the
    uniform calling convention; the module's ``entry`` runs the top level."""

    def __init__(self, name: str, display_name: Optional[str], nparams: int,
                 has_rest: bool, kind: str = "closure", span: Optional[Span] = None):
        self.name = name                    # unique symbol-safe name
        self.display_name = display_name    # the FluentAI name, for #<function f> and errors
        self.kind = kind                    # "closure" or "entry"
        self.span = span
        self.params = [Param(i, f"p{i}") for i in range(nparams)]
        self.rest_param: Optional[Param] = Param(nparams, "rest") if has_rest else None
        self.nfree = 0
        self.free_labels: list[str] = []
        # Called only with fixnum arguments and the right count (a clone made by
        # passes/specialise_fixnums.py): no argument-count check.
        self.fixnum_params = False
        # Takes and returns raw int64s (I64 parameters, returns, results of its
        # known calls); called only from its guarded entry and itself (a clone
        # made by passes/specialise_fixnums.py), never through a closure.
        self.raw_ints = False
        # The recursive call of a loop made by passes/trmc.py: the frames its
        # ``Trmc`` push counts are frames of this function at that call.
        self.trmc_site: Optional[Span] = None
        self.blocks: list[Block] = []

    @property
    def arity(self) -> int:
        return len(self.params)

    def new_block(self, hint: str = "b") -> Block:
        block = Block(f"{hint}{len(self.blocks)}")
        self.blocks.append(block)
        return block

    def instructions(self):
        for b in self.blocks:
            yield from b.instrs


class Module:
    def __init__(self, filename: str, source: str):
        self.filename = filename
        self.source = source
        self.functions: list[Function] = []
        self.entry: Optional[Function] = None
        self.constants = ConstantTable()        # payloads of LoadConst
        self.global_names: list[str] = []       # by slot
        self.effect_ops: list[str] = []         # effect operations performed
        self.session = False                    # one input of a REPL session
        # Slots of top-level functions defined once (ir/lower.py): a read of the
        # slot that does not raise undefined-variable gives that function's closure.
        self.known_globals: dict[int, Function] = {}
        # A whole program: no code outside it calls its globals (the command line;
        # not the Python API, whose host may call any global by name).
        self.closed = False

    def constant_index(self, value) -> int:
        return self.constants.index(value)


class ConstantTable:
    """The payloads of a module's constant slots, each stored once."""

    def __init__(self, payloads=()):
        self.payloads: list[object] = []
        self._slots: dict = {}
        for p in payloads:
            self.index(p)

    def index(self, value) -> int:
        key = _const_key(value)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = len(self.payloads)
            self.payloads.append(value)
        return slot

    def copy(self) -> "ConstantTable":
        table = ConstantTable()
        table.payloads = list(self.payloads)
        table._slots = dict(self._slots)
        return table

    def __len__(self) -> int:
        return len(self.payloads)

    def __iter__(self):
        return iter(self.payloads)


@dataclass(frozen=True)
class Special:
    """A constant-table payload that is not a datum: ``builtin`` (the closure
    of a builtin), ``effect-op`` (an interned effect operation id, raw i64),
    ``name`` (a string naming a function, variable or constructor) or
    ``closure`` (the one closure of a capture-free lambda, by function name:
    passes/static_closures.py)."""
    kind: str
    text: str


@dataclass(frozen=True)
class MatchTable:
    """A constant-table payload: the lookup table of a ``match`` column of many
    literals (ir/match.py), built when the module starts by ``fl_match_table``
    from ``keys``, the literal constants in the order of their arms, and
    ``results``: empty, or the constant value of each arm (``fl_match_result``).
    ``fl_match_index`` looks a value up in it. The slot holds the table's raw
    address, which only the ``fl_match_*`` functions read (runtime_c/match.c)."""
    keys: tuple
    results: tuple = ()


def _const_key(value):
    # 1 and 1.0 and True must stay different constants, and so must 0.0 and -0.0 (equal
    # floats): a float is keyed by its text. Other atoms key themselves (no repr: a 1 MiB
    # quoted list has 524K elements).
    t = type(value)
    if t is tuple:
        return (tuple, tuple(map(_const_key, value)))
    if t is MatchTable:
        return (t, _const_key(value.keys), _const_key(value.results))
    if t is float or t is dict:
        return (t, repr(value))
    return (t, value)
