"""Code generation: SSA IR module -> LLVM IR module (llvmlite.ir, bodies as text: textir.py).

In:  a verified ``ir.nodes.Module``.
Out: an ``llvmlite.ir.Module`` defining ``fl_program_entry`` (the top level,
     ``i64 ()``), one function per closure with the uniform signature
     ``i64 (i64 self, i64 argc, i64 a0, i64 a1, i64 a2, ptr rest)``, the
     location table, the call-site table and the module info the runtime
     formats errors with. A long top level is cut into internal ``void ()``
     functions that ``fl_program_entry`` calls in order (``top_level_chunks``).

Fast paths are inlined (fixnum arithmetic with overflow checks, comparisons,
pair access, truthiness, closure calls); everything rare is a call into the
runtime, which keeps the emitted IR small. Tail calls are ``musttail``. No
heap pointer is ever stored in a module global: constants live in the
runtime's uncollectable tables (DESIGN.md "Memory").

Call chains cost nothing on the fast path: every call that returns is
followed by an ``llvm.experimental.stackmap`` with a site id and no live
values, so LLVM writes the return address of each call into the
``.llvm_stackmaps`` section; the site table maps the ids to source positions
and function names. Generated functions keep frame pointers, and closures are
``noinline`` so that every FluentAI frame is a machine frame. When an error is
reported, runtime_c/callchain.c walks the frame pointers and looks the return
addresses up (docs/internals.md "Call chains").

Ctrl-C is noticed at safepoint polls (``FunctionCodegen.emit_poll``), which
load the runtime's ``fl_interrupt_pending`` and branch, marked cold, to
``fl_interrupt_poll_slow`` with a location; that call is a recorded site like
any other, so the `interrupted` error gets its call chain
(runtime_c/interrupt.c). Every cycle of execution passes one: a loop through
its retreating edge (the jumps of self tail calls and contified loops, located
at the call that loops), a recursion through the entry of every closure that
calls anything (located at the function; leaf functions have no poll).
"""
from __future__ import annotations

import struct
from typing import Optional

from llvmlite import ir

from ..frontend.ast import Keyword, Span, Symbol
from ..ir import nodes as N
from ..ir.dominators import Dominators, reverse_postorder
from ..ir.nodes import Rep
from ..ir.passes.known_calls import root
from . import abi
from .debuginfo import DebugInfo, function_name
from .textir import RawConstant, TextBuilder, TextFunction, Value, type_text

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
F64 = ir.DoubleType()
PTR = ir.PointerType()
VOID = ir.VoidType()

UNIFORM = ir.FunctionType(I64, [I64, I64, I64, I64, I64, PTR])
LOC_T = ir.LiteralStructType([I32, I32, I32, I32])
# fl_site_info (runtime_c/fluentai.h): line, col, function index, location id, outer site.
SITE_T = ir.LiteralStructType([I32, I32, I32, I32, I32])
# fl_module_info: filename, source, source_len, locs, nlocs, stackmaps, sites, nsites,
# function_names, nfunctions.
MODULE_INFO_T = ir.LiteralStructType([PTR, PTR, I64, PTR, I64, PTR, PTR, I64, PTR, I64])
STACKMAP = ir.FunctionType(VOID, [I64, I32], var_arg=True)
I32_ZERO = ir.Constant(I32, 0)
# LLVM labels the start of .llvm_stackmaps with this local symbol; the module's
# own asm makes it global (and hidden), so the module info can take its address.
STACKMAP_SYMBOL = "__LLVM_StackMaps"
STACKMAP_CALL = 'call void (i64, i32, ...) @"llvm.experimental.stackmap"(i64 '
POOL_SYMBOL = "fl_string_pool"

# Runtime functions the generated code calls, with their LLVM types.
# (operation, argument count) -> the runtime's direct entry (runtime_c/state.c).
STATE_DIRECT = {
    ("state:get", 1): "fl_state_get_direct",
    ("state:set", 2): "fl_state_set_direct",
    ("state:update", 2): "fl_state_update_direct",
}

RUNTIME_HELPERS: dict[str, ir.FunctionType] = {
    "fl_module_register": ir.FunctionType(VOID, [PTR]),
    "fl_globals_new": ir.FunctionType(PTR, [I64]),
    "fl_session_globals": ir.FunctionType(PTR, [I64]),
    "fl_constants_new": ir.FunctionType(PTR, [I64]),
    "fl_rest_array": ir.FunctionType(PTR, [I64]),
    "fl_list_from_table": ir.FunctionType(I64, [I64, PTR, PTR, PTR, PTR]),
    "fl_alloc": ir.FunctionType(PTR, [I64]),
    "fl_make_float": ir.FunctionType(I64, [F64]),
    "fl_make_int": ir.FunctionType(I64, [I64]),
    "fl_make_string": ir.FunctionType(I64, [PTR, I64]),
    "fl_intern_keyword": ir.FunctionType(I64, [PTR, I64]),
    "fl_intern_symbol": ir.FunctionType(I64, [PTR, I64]),
    "fl_make_closure": ir.FunctionType(I64, [PTR, I32, I32, I64, I64]),
    "fl_make_cell": ir.FunctionType(I64, [I64]),
    "fl_cons": ir.FunctionType(I64, [I64, I64, I64]),
    "fl_not_callable": ir.FunctionType(I64, [I64, I64]),
    "fl_arity_fail": ir.FunctionType(I64, [I64, I64]),
    "fl_undefined_global": ir.FunctionType(I64, [I64, I64]),
    "fl_unbound_local": ir.FunctionType(I64, [I64, I64]),
    "fl_collect_rest": ir.FunctionType(I64, [I64, I64, I64, I64, I64, PTR]),
    "fl_add": ir.FunctionType(I64, [I64, I64, I64]),
    "fl_sub": ir.FunctionType(I64, [I64, I64, I64]),
    "fl_mul": ir.FunctionType(I64, [I64, I64, I64]),
    "fl_lt": ir.FunctionType(I32, [I64, I64, I64]),
    "fl_le": ir.FunctionType(I32, [I64, I64, I64]),
    "fl_gt": ir.FunctionType(I32, [I64, I64, I64]),
    "fl_ge": ir.FunctionType(I32, [I64, I64, I64]),
    "fl_equal": ir.FunctionType(I32, [I64, I64]),
    "fl_effect_op": ir.FunctionType(I64, [PTR]),
    "fl_perform": UNIFORM,
    "fl_state_get_direct": ir.FunctionType(I64, [I64, I64, I64]),
    "fl_state_set_direct": ir.FunctionType(I64, [I64, I64, I64, I64]),
    "fl_state_update_direct": ir.FunctionType(I64, [I64, I64, I64, I64]),
    "fl_state_update_cell_site": ir.FunctionType(I64, [I64, I64, PTR]),
    "fl_builtin_value": ir.FunctionType(I64, [PTR]),
    "fl_map_empty": ir.FunctionType(I64, []),
    "fl_map_set": ir.FunctionType(I64, [I64, I64, I64]),
    "fl_map_from_list": ir.FunctionType(I64, [I64]),
    "fl_make_constructor": ir.FunctionType(I64, [I64, I64]),
    "fl_data_is": ir.FunctionType(I32, [I64, I64, I64]),
    "fl_list_has_prefix": ir.FunctionType(I32, [I64, I64]),
    "fl_list_drop_pairs": ir.FunctionType(I64, [I64, I64]),
    "fl_number_to_double": ir.FunctionType(F64, [I64, PTR, I64]),
    "fl_int_overflow": ir.FunctionType(VOID, [PTR, I64]),
    "fl_with_handlers": ir.FunctionType(I64, [I64, I64, I64]),
    "fl_spawn": ir.FunctionType(I64, [I64, I64]),
    "fl_await": ir.FunctionType(I64, [I64, I64]),
    "fl_select": ir.FunctionType(I64, [I64, I64, I64]),
    "fl_match_fail": ir.FunctionType(I64, [I64, I64]),
    "fl_match_table": ir.FunctionType(I64, [I64, I64]),
    "fl_match_index": ir.FunctionType(I64, [I64, I64]),
    "fl_match_result": ir.FunctionType(I64, [I64, I64]),
    "fl_interrupt_poll_slow": ir.FunctionType(VOID, [I64]),
}

# The fault slow paths (fl_not_callable, fl_arity_fail, fl_undefined_global, fl_unbound_local,
# fl_match_fail, fl_cons's type error) are not noreturn: they return an error:catch handler's
# answer, which becomes the value of the failing operation.
NORETURN: set[str] = set()
# Size limits that keep code generation linear and fast on huge functions (see
# prim_cons, uniform_operands and _build_datum).
INLINE_CONS_BUDGET = 256
# Iterations of a loop counted up by 1 from a literal to a literal that needs no
# Ctrl-C poll of its own (FunctionCodegen._counts_to_a_literal).
SHORT_COUNT = 1 << 16
CONSTANT_TABLE_MIN = 16
QUOTED_CONS_MAX = 16       # longer quoted lists are built from tables by one runtime call
# The element kinds of fl_list_from_table (runtime_c/fluentai.h).
DATUM_VALUE, DATUM_SYMBOL, DATUM_KEYWORD, DATUM_STRING, DATUM_FLOAT, DATUM_INT, DATUM_BUILT = range(7)
# Calls in one basic block of the module's set-up (its constants) before codegen starts
# another: under the JIT's large code model LLVM's instruction selection grew faster than
# linearly with the calls of one block (10^4 strings in one literal: 0.94 -> 0.61 s of
# llvm-codegen). LLVM's -O1+ pipelines merge the blocks again.
CALLS_PER_BLOCK = 64
# IR instructions of the top level per LLVM function: a longer straight-line stretch of the
# module's entry is emitted as calls of internal functions of about this many instructions
# each (``top_level_chunks``), so that no LLVM function grows with the program.
TOP_LEVEL_CHUNK = 512

# Instructions that may run FluentAI code before they return (a callee, a handler, a callback
# of a builtin): a closure with one polls for Ctrl-C at its entry.
CALLS = (N.Call, N.CallKnown, N.CallBuiltin, N.Perform, N.RuntimeCall)
# Runtime helpers whose last argument is the location id of the IR node's span.
TAKES_LOC = {"fl_match_fail", "fl_with_handlers", "fl_spawn", "fl_await", "fl_select"}

PRIM_SLOW = {"add": "fl_add", "sub": "fl_sub", "mul": "fl_mul",
             "lt": "fl_lt", "le": "fl_le", "gt": "fl_gt", "ge": "fl_ge"}
ICMP = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}
FCMP = {"flt": "<", "fle": "<=", "fgt": ">", "fge": ">=", "feq": "=="}


_I64_CONSTANTS: dict[int, ir.Constant] = {}


def _c(v: int) -> ir.Constant:
    # Constants are immutable and llvmlite caches each one's text: a few
    # hundred distinct ones serve a whole program.
    c = _I64_CONSTANTS.get(v)
    if c is None:
        if len(_I64_CONSTANTS) > 100_000:
            _I64_CONSTANTS.clear()
        c = _I64_CONSTANTS[v] = ir.Constant(I64, v)
    return c


class LocationTable:
    """Source spans -> small ids (0 = unknown), emitted as ``fl_loc[]``."""

    def __init__(self):
        self.spans: list[Optional[Span]] = [None]
        self.index: dict[tuple, int] = {}

    def id_of(self, span: Optional[Span], frame: Optional[N.Inlined] = None) -> int:
        """``frame``: the code at ``span`` is a copy of its own (an inlined frame),
        and gets an id of its own (see ``FunctionCodegen.argc``)."""
        if span is None:
            return 0
        key = (span.line, span.col, span.end_line, span.end_col, id(frame) if frame else 0)
        if key not in self.index:
            self.index[key] = len(self.spans)
            self.spans.append(span)
        return self.index[key]


class CallSites:
    """Stack-map ids -> (span, function index, outer site): what ``fl_sites[]``
    holds. The outer site of code inlined by the IR (``Instr.inlined``) is the
    call its function's frame would have returned to: an entry of its own with
    no stack map record, so that the runtime prints the frames inlining removed."""

    def __init__(self):
        self.sites: list[tuple[Optional[Span], int, int]] = []
        # (id(Inlined), function index) -> (it, site): a specialised clone shares the
        # Inlined records of its generic function but has frames of its own.
        self.frames: dict[tuple[int, int], tuple[N.Inlined, int]] = {}

    def add(self, span: Optional[Span], function: int, outer: int = -1) -> int:
        self.sites.append((span, function, outer))
        return len(self.sites) - 1

    def outer_site(self, inlined: Optional[N.Inlined], root: int,
                   index: dict[N.Function, int]) -> int:
        """The site standing for the call that made the frame of code inlined
        as ``inlined`` into the function numbered ``root``; -1 for none."""
        if inlined is None or inlined.call_span is None:
            return -1
        known = self.frames.get((id(inlined), root))
        if known is not None:
            return known[1]
        caller = inlined.caller
        function = root if caller is None else index[caller.function]
        site = self.add(inlined.call_span, function, self.outer_site(caller, root, index))
        self.frames[(id(inlined), root)] = (inlined, site)
        return site


class SiteRecordingBuilder(TextBuilder):
    """A builder that follows every call that can return here with a stack
    map recording the call site (``site_span`` of ``site_function``). Musttail
    calls never return to this frame, and intrinsics are not calls at all."""

    def __init__(self, block, llfn: TextFunction, sites: CallSites, stackmap: ir.Function,
                 function: int):
        super().__init__(block, llfn)
        self.split_calls = False     # straight-line code: split after CALLS_PER_BLOCK calls
        self.sites = sites
        self.stackmap = stackmap
        self.site_function = function
        self.site_outer = -1
        self.site_span: Optional[Span] = None
        # A loop of passes/trmc.py: (the frame's slot counting the frames it
        # stands for, the site those frames are at), recorded at every call.
        self.trmc_depth: Optional[tuple] = None

    def call(self, fn, args, tail=False):
        result = super().call(fn, args, tail)
        if tail != "musttail" and not getattr(fn, "name", "").startswith("llvm."):
            site = self.sites.add(self.site_span, self.site_function, self.site_outer)
            if self.trmc_depth is None:     # the common case, formatted directly
                self._emit(f"{STACKMAP_CALL}{site}, i32 0)")
            else:
                super().call(self.stackmap, [_c(site), I32_ZERO] + list(self.trmc_depth))
            self.calls_here += 1
            if self.split_calls and self.calls_here >= CALLS_PER_BLOCK:
                self.start_block()
        return result

    def start_block(self) -> None:
        """Continue in a new block (see CALLS_PER_BLOCK)."""
        block = self.function.append_basic_block("calls")
        self.branch(block)
        self.position_at_end(block)


class ProgramModule(ir.Module):
    """An ``ir.Module`` whose text carries the module asm that exports the
    stack-map label to the module itself (``.hidden``: not beyond it). LLVM's
    parser wants it after the target lines of the header."""

    def __repr__(self):
        header, sep, body = super().__repr__().partition("\ntarget datalayout")
        first, newline, rest = body.partition("\n")
        asm = (f'module asm ".globl {STACKMAP_SYMBOL}"\n'
               f'module asm ".hidden {STACKMAP_SYMBOL}"\n')
        return header + sep + first + newline + asm + rest


# The runtime's data that generated code reads on its hottest paths: the
# interrupt flag (every safepoint poll) and the small-object free lists (every
# inline allocation).
HOT_RUNTIME_DATA = ("fl_small_free", "fl_interrupt_pending")
# Declared only by modules that use them: the state cells' generation (a site cache's test).
HOT_RUNTIME_DATA_IF_USED = ("fl_state_generation",)


def for_executable(llvm_ir: str) -> str:
    """The module's IR for an executable, which links the runtime archive
    statically: its hot runtime data is then in the same linked image, so it can
    be declared ``dso_local`` and read with one RIP-relative load instead of an
    address computation plus a load (the GOT access, even once the linker
    relaxes it). A shared object or the JIT must not assume that: the data
    lives in another image there, so the generic IR keeps plain declarations."""
    for name in HOT_RUNTIME_DATA + HOT_RUNTIME_DATA_IF_USED:
        decl = f'@"{name}" = external global'
        assert decl in llvm_ir or name in HOT_RUNTIME_DATA_IF_USED, name
        llvm_ir = llvm_ir.replace(decl, f'@"{name}" = external dso_local global', 1)
    return llvm_ir


def small_class(nbytes: int) -> int:
    """The free list (granules of 16 bytes) of an object of ``nbytes``: see
    ``FunctionCodegen.inline_alloc``."""
    return nbytes // 16 + 1


def closure_flags(fn: N.Function) -> int:
    return abi.CLOSURE_HAS_REST if fn.rest_param is not None else 0


def chain_function_name(fn: N.Function) -> str:
    """How a call chain names a frame of ``fn``."""
    if fn.kind == "entry":
        return "the top level"
    if fn.display_name:
        return f"`{fn.display_name}`"
    if fn.span is not None:
        return f"the lambda at {fn.span.line}:{fn.span.col}"
    return "a lambda"


def use_blocks(fn: N.Function) -> dict[int, Optional[N.Block]]:
    """id of each value ``fn`` uses -> the one block whose instructions use it, or None when
    several blocks do or a phi does (a phi's operand is used at the end of its edge)."""
    where: dict[int, Optional[N.Block]] = {}
    for blk in fn.blocks:
        for x in blk.instrs:
            phi = type(x) is N.Phi
            for v in x.operands():
                if phi or where.get(id(v), blk) is not blk:
                    where[id(v)] = None
                else:
                    where[id(v)] = blk
    return where


def top_level_chunks(blk: N.Block, used_in: dict[int, Optional[N.Block]], phi_inputs: set[int],
                     size: int = 0) -> dict[int, int]:
    """The stretches of ``blk`` (a block of the module's entry) to emit as functions of their
    own: start index -> end index, each about ``size`` instructions. A stretch holds no phi,
    no terminator and no tail call, uses no value defined before it except constants
    (``Const`` and ``LoadConst``, which codegen makes in whatever function uses them), and
    defines none that is used after it: its function takes nothing and returns nothing, and
    the entry calls it where its instructions stood. Empty for a block of at most ``size``
    instructions; a value live across a long stretch only leaves it in the entry."""
    size = size or TOP_LEVEL_CHUNK
    instrs = blk.instrs
    n = len(instrs)
    if n <= size:
        return {}

    def independent(v) -> bool:
        return type(v) is N.Const or (type(v) is N.LoadConst and id(v) not in phi_inputs)

    pos = {id(x): k for k, x in enumerate(instrs)}
    last: dict[int, int] = {}       # dependent value defined here -> its last use (n: beyond)
    for x in instrs:
        if used_in.get(id(x), blk) is not blk:
            last[id(x)] = n
    chunkable = []
    for k, x in enumerate(instrs):
        ok = not (type(x) is N.Phi or x.is_terminator or getattr(x, "tail", False))
        for v in x.operands():
            if independent(v):
                continue
            if id(v) not in pos:
                ok = False
            elif last.get(id(v), -1) < k:
                last[id(v)] = k
        chunkable.append(ok)
    chunks: dict[int, int] = {}
    start, reach, clean = -1, -1, -1    # reach: the last use of what is defined before k
    for k, x in enumerate(instrs):
        if k > reach:           # a clean cut before instrs[k]
            if start >= 0 and k - start >= size:
                chunks[start] = k
                start = -1
            clean = k
            if start < 0 and chunkable[k]:
                start = k
        if not chunkable[k]:
            if start >= 0 and clean - start >= max(1, size // 8):
                chunks[start] = clean
            start = -1
        if not independent(x):
            reach = max(reach, last.get(id(x), -1))
    return chunks


class ModuleCodegen:
    def __init__(self, module: N.Module, triple: str = "", print_value: bool = False,
                 session: bool = False, debug: bool = False):
        self.ir_module = module
        self.session = session      # globals in the REPL session's table, not a fresh one
        self.llmod = ProgramModule(name=module.filename)
        if triple:
            self.llmod.triple = triple
        self.print_value = print_value
        self.locs = LocationTable()
        self.declared: dict[str, ir.Function] = {}
        self.functions: dict[N.Function, ir.Function] = {}
        self.functions_by_name = {fn.name: fn for fn in module.functions}
        self.strings: dict[bytes, ir.GlobalVariable] = {}
        self.pool_offsets: dict[bytes, int] = {}
        self.pool_parts: list[bytes] = []
        self.pool_size = 0
        # Referenced by name while the pool grows; defined last (_emit_string_pool).
        self.pool_ref = Value(PTR, f'@"{POOL_SYMBOL}"')
        self.tables: list[ir.GlobalVariable] = []
        self.constants = module.constants.copy()    # grows: names for errors, effect ops
        self.effect_slots: dict[str, int] = {}
        self.g_globals = self._global_ptr("fl_globals")
        self.g_consts = self._global_ptr("fl_consts")
        self.g_small_free = ir.GlobalVariable(self.llmod, ir.ArrayType(PTR, abi.SMALL_GRANULES + 1),
                                              "fl_small_free")
        self.g_interrupt = ir.GlobalVariable(self.llmod, I32, "fl_interrupt_pending")
        self._state_generation: Optional[ir.GlobalVariable] = None
        self.state_sites = 0
        self.debug: Optional[DebugInfo] = DebugInfo(self.llmod, module.filename) if debug else None
        self.sites = CallSites()
        self.stackmap = ir.Function(self.llmod, STACKMAP, "llvm.experimental.stackmap")
        self.chain_names: list[str] = []     # per function index, for fl_sites[].function
        self.function_index = {fn: k for k, fn in enumerate(module.functions)}
        self.chunks = 0             # functions of the top level's stretches (_emit_chunk)

    # ---- module-level helpers ----

    def state_site(self) -> ir.GlobalVariable:
        """A new site cache of a state cell lookup (FunctionCodegen._state_cell_of_site)."""
        g = ir.GlobalVariable(self.llmod, ir.ArrayType(I64, 3), f"fl_state_site.{self.state_sites}")
        g.linkage = "internal"
        g.initializer = ir.Constant(ir.ArrayType(I64, 3), None)
        self.state_sites += 1
        return g

    def g_state_generation(self) -> ir.GlobalVariable:
        if self._state_generation is None:
            self._state_generation = ir.GlobalVariable(self.llmod, I64, "fl_state_generation")
        return self._state_generation

    def _global_ptr(self, name: str) -> ir.GlobalVariable:
        g = ir.GlobalVariable(self.llmod, PTR, name)
        g.linkage = "internal"
        g.initializer = ir.Constant(PTR, None)
        return g

    def runtime(self, name: str, fnty: Optional[ir.FunctionType] = None) -> ir.Function:
        fn = self.declared.get(name)
        if fn is None:
            fn = ir.Function(self.llmod, fnty or RUNTIME_HELPERS[name], name)
            if name in NORETURN:
                fn.attributes.add("noreturn")
            self.declared[name] = fn
        return fn

    def constant_table(self, items: list[ir.Constant]) -> ir.GlobalVariable:
        """A private constant array of i64 words."""
        arr = ir.ArrayType(I64, len(items))
        g = ir.GlobalVariable(self.llmod, arr, f".words{len(self.tables)}")
        g.linkage = "private"
        g.global_constant = True
        g.initializer = ir.Constant(arr, items)
        self.tables.append(g)
        return g

    def raw_table(self, elem, texts: list[str]) -> ir.GlobalVariable:
        """A private constant array of ``elem``s given as text: llvmlite builds and
        formats an object per element, too slow for the 10^5-element tables of a
        long quoted list."""
        arr = ir.ArrayType(elem, max(1, len(texts)))
        g = ir.GlobalVariable(self.llmod, arr, f".words{len(self.tables)}")
        g.linkage = "private"
        g.global_constant = True
        prefix = type_text(elem) + " "
        g.initializer = RawConstant(arr, "[" + ", ".join(prefix + t for t in texts) + "]"
                                    if texts else "zeroinitializer")
        self.tables.append(g)
        return g

    def assume(self) -> ir.Function:
        return self.llmod.declare_intrinsic("llvm.assume", fnty=ir.FunctionType(VOID, [I1]))

    def memcpy(self) -> ir.Function:
        return self.llmod.declare_intrinsic("llvm.memcpy", [PTR, PTR, I64])

    def cstring(self, data: bytes) -> ir.GlobalVariable:
        g = self.strings.get(data)
        if g is None:
            arr = ir.ArrayType(I8, len(data) + 1)
            g = ir.GlobalVariable(self.llmod, arr, f".str{len(self.strings)}")
            g.linkage = "private"
            g.global_constant = True
            g.initializer = ir.Constant(arr, bytearray(data + b"\0"))
            self.strings[data] = g
        return g

    def pooled(self, b: TextBuilder, data: bytes) -> Value:
        """The address of ``data`` (NUL-terminated) in the module's one string
        pool, for the constants the module's set-up builds. One global for all
        of them rather than one each: under the JIT's large code model LLVM's
        code generation is quadratic in the distinct globals one function
        references (10^4 strings in one literal took 20 s)."""
        return b.gep(self.pool_ref, [_c(self.pool_offset(data))], source_etype=I8)

    def pool_offset(self, data: bytes) -> int:
        offset = self.pool_offsets.get(data)
        if offset is None:
            offset = self.pool_offsets[data] = self.pool_size
            self.pool_size += len(data) + 1
            self.pool_parts.append(data + b"\0")
        return offset

    def _emit_string_pool(self) -> None:
        arr = ir.ArrayType(I8, max(1, self.pool_size))
        g = ir.GlobalVariable(self.llmod, arr, POOL_SYMBOL)
        g.linkage = "private"
        g.global_constant = True
        g.initializer = ir.Constant(arr, bytearray(b"".join(self.pool_parts) or b"\0"))

    def constant_slot(self, payload) -> int:
        return self.constants.index(payload)

    def effect_slot(self, op: str) -> int:
        return self.constant_slot(N.Special("effect-op", op))

    # ---- the whole module ----

    def generate(self) -> ir.Module:
        for fn in self.ir_module.functions:
            if fn.kind == "closure":
                llfn = TextFunction(self.llmod, UNIFORM, fn.name)
                llfn.linkage = "internal"
                self.functions[fn] = llfn
        entry_fn = TextFunction(self.llmod, ir.FunctionType(I64, []), "fl_program_entry")
        self.functions[self.ir_module.entry] = entry_fn
        for index, fn in enumerate(self.ir_module.functions):
            self.chain_names.append(chain_function_name(fn))
            llfn = self.functions[fn]
            # Frame pointers let the runtime walk the chain of calls (x86-64 keeps
            # one in any function with a stack map anyway); a closure inlined into
            # its caller would drop out of that chain.
            set.add(llfn.attributes, '"frame-pointer"="all"')
            if fn.kind == "closure":
                llfn.attributes.add("noinline")
            FunctionCodegen(self, fn, llfn, index).generate()
        self._emit_module_init()
        # Read by the AOT main (runtime_c/main.c): print the value after the output?
        flag = ir.GlobalVariable(self.llmod, I32, "fl_program_print_value")
        flag.global_constant = True
        flag.initializer = ir.Constant(I32, 1 if self.print_value else 0)
        return self.llmod

    def _emit_module_init(self) -> None:
        """Fill in fl_program_entry's prologue: register the module, allocate the
        global and constant tables, build every constant."""
        entry = self.functions[self.ir_module.entry]
        init_block = entry.insert_basic_block(0, "module_init")
        # Recording sites here too guarantees the module has a stack map section.
        b = SiteRecordingBuilder(init_block, entry, self.sites, self.stackmap,
                                 self.ir_module.functions.index(self.ir_module.entry))
        if self.debug is not None:
            b.debug_metadata = self.debug.location(entry.metadata["dbg"], 1, 1)
        b.split_calls = True
        info = ir.GlobalVariable(self.llmod, MODULE_INFO_T, "fl_module_info")
        b.call(self.runtime("fl_module_register"), [info])
        nglobals = max(1, len(self.ir_module.global_names))
        table = "fl_session_globals" if self.session else "fl_globals_new"
        b.store(b.call(self.runtime(table), [_c(nglobals)]), self.g_globals)
        consts = b.call(self.runtime("fl_constants_new"), [_c(max(1, len(self.constants)))])
        b.store(consts, self.g_consts)
        for index, payload in enumerate(self.constants):
            value = self._build_constant(b, payload)
            b.store(value, b.gep(consts, [_c(index)], source_etype=I64))
        b.branch(entry.blocks[1])
        self._fill_module_info(info)     # last: every site and location is known now
        self._emit_string_pool()

    def _build_constant(self, b: TextBuilder, payload) -> ir.Value:
        if isinstance(payload, N.Special):
            data = payload.text.encode("utf-8")
            if payload.kind == "builtin":
                return b.call(self.runtime("fl_builtin_value"), [self.pooled(b, data)])
            if payload.kind == "effect-op":
                return b.call(self.runtime("fl_effect_op"), [self.pooled(b, data)])
            if payload.kind == "closure":
                return self._build_static_closure(b, payload.text)
            return b.call(self.runtime("fl_make_string"), [self.pooled(b, data), _c(len(data))])
        if isinstance(payload, N.MatchTable):
            return b.call(self.runtime("fl_match_table"), [self._build_datum(b, payload.keys),
                                                           self._build_datum(b, payload.results)])
        return self._build_datum(b, payload)

    def _build_static_closure(self, b: TextBuilder, function_name: str) -> ir.Value:
        """The one closure object of a capture-free lambda (passes/static_closures.py).
        Its name is an earlier slot of the table being filled."""
        fn = self.functions_by_name[function_name]
        return b.call(self.runtime("fl_make_closure"),
                      [self.functions[fn], ir.Constant(I32, fn.arity),
                       ir.Constant(I32, closure_flags(fn)), self.closure_name(b, fn), _c(0)])

    def load_slot(self, b: TextBuilder, index: int) -> ir.Value:
        table = b.load(self.g_consts, typ=PTR)
        return b.load(b.gep(table, [_c(index)], source_etype=I64), typ=I64)

    def closure_name(self, b: TextBuilder, fn: N.Function) -> ir.Value:
        """The name field of ``fn``'s closures: its name string, or nil."""
        if not fn.display_name:
            return _c(abi.NIL)
        return self.load_slot(b, self.constant_slot(N.Special("name", fn.display_name)))

    @staticmethod
    def _immediate(v) -> Optional[ir.Constant]:
        """The constant of a datum that needs no code (nil, a boolean, a fixnum), else None."""
        if v is None:
            return _c(abi.NIL)
        if v is True:
            return _c(abi.TRUE)
        if v is False:
            return _c(abi.FALSE)
        if type(v) is int and abi.FIXNUM_MIN <= v <= abi.FIXNUM_MAX:
            return _c(abi.fixnum(v))
        return None

    def _build_datum(self, b: TextBuilder, v) -> ir.Value:
        immediate = self._immediate(v)
        if immediate is not None:
            return immediate
        if isinstance(v, int):
            return b.call(self.runtime("fl_make_int"), [ir.Constant(I64, v)])
        if isinstance(v, float):
            return b.call(self.runtime("fl_make_float"), [ir.Constant(F64, v)])
        if isinstance(v, str):
            data = v.encode("utf-8")
            return b.call(self.runtime("fl_make_string"), [self.pooled(b, data), _c(len(data))])
        if isinstance(v, Keyword):
            data = v.name.encode("utf-8")
            return b.call(self.runtime("fl_intern_keyword"), [self.pooled(b, data), _c(len(data))])
        if isinstance(v, Symbol):
            data = v.name.encode("utf-8")
            return b.call(self.runtime("fl_intern_symbol"), [self.pooled(b, data), _c(len(data))])
        if isinstance(v, tuple) and len(v) > QUOTED_CONS_MAX:
            return self._list_from_table(b, v)
        if isinstance(v, tuple):
            items = [v[i] for i in range(len(v))]
            acc: ir.Value = _c(abi.EMPTY)
            for item in reversed(items):
                acc = b.call(self.runtime("fl_cons"), [self._build_datum(b, item), acc, _c(0)])
            return acc
        if isinstance(v, dict):
            m = b.call(self.runtime("fl_map_empty"), [])
            for k, x in v.items():
                m = b.call(self.runtime("fl_map_set"), [m, self._build_datum(b, k), self._build_datum(b, x)])
            return m
        raise TypeError(f"no constant form for {v!r}")

    def _list_from_table(self, b: TextBuilder, items: tuple) -> ir.Value:
        """A long quoted list as one runtime call reading a table of words and a table
        of their kinds (fl_list_from_table): symbols, keywords and strings point into
        the string pool. Code per element (a call and a stack map each) cost about
        60 us of compile time and 10 KB of memory for every symbol of a 1 MiB quoted list.
        Only nested lists and maps are still built by code, each stored into an array
        as soon as it is built, so that one at a time is live across the calls."""
        words: list[int] = []
        kinds = bytearray()
        nested = []
        for item in items:
            immediate = self._immediate(item)
            if immediate is not None:
                words.append(immediate.constant)
                kinds.append(DATUM_VALUE)
            elif isinstance(item, (str, Symbol, Keyword)):
                data = (item if isinstance(item, str) else item.name).encode("utf-8")
                words.append((self.pool_offset(data) << 32) | len(data))
                kinds.append(DATUM_STRING if isinstance(item, str) else
                             DATUM_SYMBOL if isinstance(item, Symbol) else DATUM_KEYWORD)
            elif isinstance(item, float):
                words.append(struct.unpack("<q", struct.pack("<d", item))[0])
                kinds.append(DATUM_FLOAT)
            elif isinstance(item, int):
                words.append(item)
                kinds.append(DATUM_INT)
            else:
                words.append(0)
                kinds.append(DATUM_BUILT)
                nested.append(item)
        built: ir.Value = ir.Constant(PTR, None)
        if nested:
            built = b.call(self.runtime("fl_rest_array"), [_c(len(nested))])
            for k, item in enumerate(nested):
                b.store(self._build_datum(b, item), b.gep(built, [_c(k)], source_etype=I64))
        kind_table = self.raw_table(I8, [str(k) for k in kinds])
        word_table = self.raw_table(I64, [str(w) for w in words])
        return b.call(self.runtime("fl_list_from_table"),
                      [_c(len(items)), word_table, kind_table, self.pool_ref, built])

    def _fill_module_info(self, info: ir.GlobalVariable) -> None:
        m = self.ir_module
        sites = []
        for span, function, outer in self.sites.sites:
            # No span: the prologue's calls (arity check, rest list) and the module's
            # set-up; line 0 leaves them out of chains.
            line, col = (span.line, span.col) if span is not None else (0, 0)
            sites.append((line, col, function, self.locs.id_of(span), outer))
        # After the sites: they may add locations.
        locs = [(0, 0, 0, 0)] + [(s.line, s.col, s.end_line, s.end_col) for s in self.locs.spans[1:]]
        g_locs = self._i32_table("fl_locs", LOC_T, locs)
        g_sites = self._i32_table("fl_sites", SITE_T, sites)
        names = [self.cstring(n.encode("utf-8", "surrogateescape")) for n in self.chain_names]
        g_names = self._private_array("fl_function_names", PTR, names)
        stackmaps = ir.GlobalVariable(self.llmod, I8, STACKMAP_SYMBOL)
        stackmaps.linkage = "external"
        stackmaps.visibility = "hidden"
        source = m.source.encode("utf-8", "surrogateescape")
        info.linkage = "internal"
        info.global_constant = True
        info.initializer = ir.Constant(MODULE_INFO_T, [
            self.cstring(m.filename.encode("utf-8", "surrogateescape")),
            self.cstring(source), _c(len(source)), g_locs, _c(len(locs)),
            stackmaps, g_sites, _c(len(sites)), g_names, _c(len(names))])

    def _i32_table(self, name: str, elem, rows: list[tuple]) -> ir.GlobalVariable:
        """A private constant table of structs of i32s (``elem``), written as text and typed
        as one flat array of i32, which has the same layout: llvmlite builds and formats an
        object per field, which for the thousands of sites of a large program was a tenth of
        its code generation, and LLVM's parser makes and uniques a constant per struct but
        keeps an array of plain integers as one block of data."""
        width = len(elem.elements)
        arr_t = ir.ArrayType(I32, max(1, len(rows) * width))
        g = ir.GlobalVariable(self.llmod, arr_t, name)
        g.linkage = "private"
        g.global_constant = True
        g.align = 4
        text = ", ".join(f"i32 {x}" for row in rows for x in row)
        g.initializer = RawConstant(arr_t, f"[{text}]" if rows else "zeroinitializer")
        return g

    def _private_array(self, name: str, elem, items: list) -> ir.GlobalVariable:
        arr_t = ir.ArrayType(elem, max(1, len(items)))
        g = ir.GlobalVariable(self.llmod, arr_t, name)
        g.linkage = "private"
        g.global_constant = True
        g.initializer = ir.Constant(arr_t, items) if items else ir.Constant(arr_t, None)
        return g


class SlotLoad:
    """The value of a ``LoadConst`` (a slot of the constant table, which never
    changes once the module is set up), loaded at each use rather than once where
    the IR defines it. A 5,000-string list literal loaded all its strings before
    the call that allocates the argument array: so many values live across a
    call made LLVM's instruction selection quadratic under the JIT's large code
    model (2.6 s; 10^4 strings: 20 s). LLVM's -O1+ pipelines merge repeated loads."""
    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


class FunctionCodegen:
    def __init__(self, mc: ModuleCodegen, fn: N.Function, llfn: ir.Function, index: int):
        self.mc = mc
        self.fn = fn
        self.llfn = llfn
        self.index = index          # in the module's function list: fl_sites[].function
        self.values: dict[int, ir.Value] = {}
        self.blocks: dict[N.Block, ir.Block] = {}
        self.end_blocks: dict[N.Block, ir.Block] = {}
        self.phis: list[tuple[N.Phi, ir.Instruction]] = []
        self.order: dict[N.Block, int] = {}        # reverse postorder position
        self.list_walks: dict[N.Block, bool] = {}  # loop headers: see _walks_a_list
        self.short_counts: dict[N.Block, bool] = {}  # loop headers: see _counts_to_a_literal
        self.block: Optional[N.Block] = None       # the IR block being emitted
        # (pred, target) -> the LLVM block that ends a polled edge of a branch
        self.edge_ends: dict[tuple[N.Block, N.Block], ir.Block] = {}
        self.b: Optional[SiteRecordingBuilder] = None
        self.dbg_scope = None       # the DISubprogram under -g
        self.inline_conses = 0
        # prim.add/sub.fix -> an I1 that is true when its result is a fixnum
        self.fixnum_flags: dict[int, ir.Value] = {}
        # Blocks that poll before their first instruction (specialised clones)
        self.poll_blocks: set[N.Block] = set()
        self.phi_inputs: set[int] = set()         # id of every IR value a phi takes
        self.site_found: dict[int, ir.Value] = {}  # a state cell from a site -> its I1 "found"

    # ---- driver ----

    def generate(self) -> None:
        if self.fn.kind == "closure":
            self.self_arg, self.argc_arg, a0, a1, a2, self.rest_arg = self.llfn.args
            self.reg_args = [a0, a1, a2]
        pro = self.llfn.append_basic_block("prologue")
        order = reverse_postorder(self.fn)
        self.phi_inputs = {id(v) for blk in order for phi in blk.instrs if isinstance(phi, N.Phi)
                           for _, v in phi.incoming}
        for blk in order:
            self.blocks[blk] = self.llfn.append_basic_block(blk.label)
        self.order = {blk: k for k, blk in enumerate(order)}
        self.b = SiteRecordingBuilder(pro, self.llfn, self.mc.sites, self.mc.stackmap, self.index)
        debug = self.mc.debug
        if debug is not None:
            self.dbg_scope = self.debug_subprogram(self.fn, self.llfn)
            self.b.debug_metadata = debug.location(self.dbg_scope,
                                                   self.fn.span.line if self.fn.span else 1,
                                                   self.fn.span.col if self.fn.span else 1)
        if self.fn.trmc_site is not None:
            self._emit_trmc_slots()
        if self.fn.kind == "closure":
            self._emit_prologue()
        self.b.branch(self.blocks[self.fn.blocks[0]])
        chunked = (self.fn.kind == "entry" and self.fn.trmc_site is None
                   and self.mc.debug is None)
        used_in = None
        for blk in order:
            self.block = blk
            self.b.position_at_end(self.blocks[blk])
            poll_at = len(blk.phis) if blk in self.poll_blocks else -1
            chunks = {}
            if chunked and len(blk.instrs) > TOP_LEVEL_CHUNK:
                if used_in is None:
                    used_in = use_blocks(self.fn)
                chunks = top_level_chunks(blk, used_in, self.phi_inputs)
            k, n = 0, len(blk.instrs)
            while k < n:
                end = chunks.get(k)
                if end is not None:
                    self._emit_chunk(blk.instrs[k:end])
                    k = end
                else:
                    if k == poll_at:
                        self.emit_poll(self.fn.span)
                    self.emit(blk.instrs[k])
                    k += 1
                if self.b.calls_here >= CALLS_PER_BLOCK and k < n:
                    # Between two instructions, where no emit_ method holds a block
                    # it will branch from (see CALLS_PER_BLOCK).
                    self.b.start_block()
            self.end_blocks[blk] = self.b.block
        for phi, llphi in self.phis:
            for pred, value in phi.incoming:
                if pred in self.end_blocks:
                    end = self.edge_ends.get((pred, phi.block), self.end_blocks[pred])
                    llphi.add_incoming(self.get(value), end)

    def _emit_chunk(self, instrs: list[N.Instr]) -> None:
        """Emit a stretch of the top level (``top_level_chunks``) as an internal
        ``void ()`` function and call it here. Its calls are sites of the top level
        as before; the call of the function itself is a site of no line, which call
        chains skip, so reports are those of the unsplit entry."""
        mc, outer, entry = self.mc, self.b, self.llfn
        chunk = TextFunction(mc.llmod, ir.FunctionType(VOID, []), f"fl_top_level{mc.chunks}")
        mc.chunks += 1
        chunk.linkage = "internal"
        set.add(chunk.attributes, '"frame-pointer"="all"')
        chunk.attributes.add("noinline")
        b = SiteRecordingBuilder(chunk.append_basic_block("statements"), chunk, mc.sites,
                                 mc.stackmap, self.index)
        b.site_span, b.site_function, b.site_outer = outer.site_span, outer.site_function, -1
        self.b, self.llfn = b, chunk
        try:
            for k, instr in enumerate(instrs):
                self.emit(instr)
                if b.calls_here >= CALLS_PER_BLOCK and k < len(instrs) - 1:
                    b.start_block()
            b.ret_void()
        finally:
            self.b, self.llfn = outer, entry
        outer.site_span, outer.site_outer = None, -1
        outer.call(chunk, [])
        outer.site_span = b.site_span

    def _emit_trmc_slots(self) -> None:
        """The frame slots of a loop made by passes/trmc.py, before any call:
        the count of the frames the loop stands for (0 until its first
        ``trmc.push``), which every stack map of the function records as a
        Direct location with the site of those frames as a constant
        (runtime_c/callchain.c reads it), and the pair-shaped ``trmc.dest``.
        The empty asm takes the count's address first, so that LLVM treats
        every later call as one that may read it and keeps each store before
        the calls that follow it."""
        b = self.b
        depth = b.alloca(I64, 8)
        dest = b.alloca(ir.ArrayType(I64, 3), 16)
        b.store(_c(0), depth)
        TextBuilder.call(b, ir.InlineAsm(ir.FunctionType(VOID, [PTR]), "", "r", True), [depth])
        self.trmc_depth = depth
        self.trmc_dest = b.add(b.ptrtoint(dest, I64), _c(1))
        b.trmc_depth = (depth, _c(self.mc.sites.add(self.fn.trmc_site, self.index)))

    def emit_StateCell(self, i: N.StateCell):
        b = self.b
        if i.op == "find":
            return self._state_cell_of_site(self.get(i.args[0]))
        if i.op == "found":
            flag = self.site_found.get(id(self.get(i.args[0])))
            return flag if flag is not None else b.icmp_unsigned("!=", self.get(i.args[0]), _c(0))
        # runtime_c/state.c `cell`: the value is its second word, 1 while the key is unset.
        addr = b.inttoptr(b.add(self.get(i.args[0]), _c(8)), PTR)
        if i.op == "get":
            v = b.load(addr, typ=I64)
            return b.select(b.icmp_unsigned("==", v, _c(1)), _c(abi.NIL), v)
        b.store(self.get(i.args[1]), addr)
        return None

    def _state_cell_of_site(self, key: ir.Value) -> ir.Value:
        """The key's cell from this site's cache {generation, key, cell} while the
        runtime's generation has not moved since the site was filled, else from
        ``fl_state_update_cell_site``, which fills it (runtime_c/state.c): three
        loads and two compares in place of a call of ``fl_state_update_cell``."""
        b, mc = self.b, self.mc
        site = mc.state_site()
        words = [b.gep(site, [_c(0), _c(k)], source_etype=site.value_type) for k in range(3)]
        current = b.icmp_unsigned("==", b.load(words[0], typ=I64), b.load(mc.g_state_generation(), typ=I64))
        same_key = b.icmp_unsigned("==", b.load(words[1], typ=I64), key)
        hit, miss, done = self.split("site_hit"), self.split("site_miss"), self.split("site_done")
        b.cbranch(b.and_(current, same_key), hit, miss).set_weights([1000, 1])
        b.position_at_end(hit)
        cached = b.load(words[2], typ=I64)
        b.branch(done)
        b.position_at_end(miss)
        op = self.load_constant_slot(mc.effect_slot("state:update"))
        found = b.call(mc.runtime("fl_state_update_cell_site"), [op, key, site])
        missed = b.icmp_unsigned("!=", found, _c(0))
        b.branch(done)
        cell = self.phi_at(done, I64, [(cached, hit), (found, miss)])
        # A site holds only cells: `state.found` of this value is true on a hit,
        # which LLVM threads when the branch tests this flag (not cell != 0).
        self.site_found[id(cell)] = self.phi_at(done, I1, [(ir.Constant(I1, 1), hit), (missed, miss)])
        return cell

    def emit_Trmc(self, i: N.Trmc):
        b = self.b
        if i.op == "dest":
            return self.trmc_dest
        depth = b.load(self.trmc_depth, typ=I64)
        if i.op == "none":
            return b.icmp_unsigned("==", depth, _c(0))
        b.store(b.add(depth, _c(1 if i.op == "push" else -1)), self.trmc_depth)
        return None

    def _emit_prologue(self) -> None:
        fn, b = self.fn, self.b
        if fn.fixnum_params or fn.raw_ints:
            self._emit_fixnum_prologue()
            return
        nargs = b.and_(self.argc_arg, _c(abi.MAX_ARGS))
        if fn.rest_param is None:
            ok = b.icmp_unsigned("==", nargs, _c(fn.arity))
        else:
            ok = b.icmp_unsigned(">=", nargs, _c(fn.arity))
        good = self.llfn.append_basic_block("args_ok")
        bad = self.llfn.append_basic_block("arity_fail")
        b.cbranch(ok, good, bad).set_weights([1000, 1])
        b.position_at_end(bad)
        b.ret(b.call(self.mc.runtime("fl_arity_fail"), [self.self_arg, self.argc_arg]))
        b.position_at_end(good)
        # A leaf cannot recur: it ends, or loops through a polled back edge.
        if any(isinstance(i, CALLS) for i in fn.instructions()):
            self.emit_poll(fn.span)
        for p in fn.params:
            self.values[id(p)] = self._arg(p.index)
        if fn.rest_param is not None:
            self.values[id(fn.rest_param)] = b.call(
                self.mc.runtime("fl_collect_rest"),
                [_c(fn.arity), self.argc_arg] + self.reg_args + [self.rest_arg])

    def _emit_fixnum_prologue(self) -> None:
        """A specialised clone: its callers pass the right count and fixnums,
        which LLVM is told so that it drops the tag checks of values derived
        from them, or raw int64s (``raw_ints``: nothing to tell)."""
        fn, b = self.fn, self.b
        # No poll on entry: a block that calls polls before its first
        # instruction, and a back edge polls only when a path around its
        # loop misses the poll blocks. Every cycle of calls or jumps still
        # meets a poll, and a path that makes no call (a leaf: fib's n < 2)
        # does not poll. When every path from the nearest common dominator
        # of the calling blocks calls or loops back (tak), that block polls
        # instead, once for all calls of an iteration and its back edge.
        calling = {blk for blk in fn.blocks if any(isinstance(i, CALLS) for i in blk.instrs)}
        if calling:
            common = Dominators(fn).common([b for b in self.order if b in calling])
            self.poll_blocks = calling
            if not self._leaves_without_call(common, calling):
                self.poll_blocks = {common}
        self.keep_argc()
        assume = self.mc.assume()
        for p in fn.params:
            v = self._arg(p.index)
            if fn.fixnum_params:
                b.call(assume, [b.icmp_unsigned("==", b.and_(v, _c(1)), _c(0))])
            self.values[id(p)] = v

    def _leaves_without_call(self, start: N.Block, calling: set) -> bool:
        """Can ``start`` reach a return through no calling block and no
        retreating edge?"""
        seen, stack = {start}, [start]
        while stack:
            b = stack.pop()
            if b in calling:
                continue
            if isinstance(b.terminator, N.Return):
                return True
            for s in b.successors():
                if s not in seen and self.order[s] > self.order[b]:
                    seen.add(s)
                    stack.append(s)
        return False

    def keep_argc(self) -> None:
        """argc is used by nothing in a specialised clone, but the
        stack-overflow handler reads the location of the overflowing call from
        its register (error.c): an empty asm keeps LLVM from dropping the
        argument, and self before it, which would move argc to another
        register. On entry, so that neither lives across a call (in a loop
        block, both were spilled and reloaded at every iteration)."""
        self.b.asm(ir.FunctionType(VOID, [I64, I64]), "", "r,r", [self.self_arg, self.argc_arg], True)

    def emit_poll(self, span: Optional[Span]) -> None:
        """The safepoint poll: one load of the interrupt flag and a branch that
        is almost never taken. The load is atomic (monotonic) so that LLVM
        cannot hoist it out of a loop that does nothing else."""
        b = self.b
        flag = b.load_atomic(self.mc.g_interrupt, "monotonic", 4, typ=I32)
        slow, go_on = self.split("interrupted"), self.split("not_interrupted")
        b.cbranch(b.icmp_unsigned("!=", flag, ir.Constant(I32, 0)), slow, go_on).set_weights([1, 100000])
        b.position_at_end(slow)
        fn = self.mc.runtime("fl_interrupt_poll_slow")
        fn.attributes.add("cold")
        site_span, b.site_span = b.site_span, span
        b.call(fn, [_c(self.mc.locs.id_of(span))])
        b.site_span = site_span
        b.branch(go_on)
        b.position_at_end(go_on)

    def _retreats(self, target: N.Block) -> bool:
        """Does the edge from the current block to ``target`` go back in reverse
        postorder (every cycle of the control flow has such an edge), around a
        path that may miss the poll blocks?"""
        if self.order[target] > self.order[self.block]:
            return False
        if self._walks_a_list(target) or self._counts_to_a_literal(target):
            return False
        return not self.poll_blocks or _path_avoiding(target, self.block, self.poll_blocks)

    def _walks_a_list(self, header: N.Block) -> bool:
        """Does every retreating edge into ``header`` pass one phi ``p`` of it
        the ``unsafe_tail`` of ``p`` itself? Then the loop ends within the
        length of the list it started with (lists are finite and acyclic:
        ``set_tail`` writes only pairs nobody has seen), and since each cycle
        of execution has a retreating edge to a first header that only its own
        entry resets, every unbounded cycle still meets a poll elsewhere: the
        loop needs none (``ok?`` of bench/nqueens, a `length`-like walk).
        Only the unchecked tail counts: a checked one may be answered by an
        error:catch handler with any list, the same one each time."""
        known = self.list_walks.get(header)
        if known is None:
            back = [p for p in self.order if self.order[p] >= self.order[header]
                    and header in p.successors()]
            known = any(all(isinstance(v := dict(phi.incoming).get(p), N.Prim)
                            and v.op == "unsafe_tail" and v.args[0] is phi for p in back)
                        for phi in header.phis if phi.rep is Rep.VALUE)
            self.list_walks[header] = known
        return known

    def _counts_to_a_literal(self, header: N.Block) -> bool:
        """Does ``header`` end in a branch on ``(= i K)`` that leaves the loop
        when true, with ``i`` a phi of it entered as a literal ``i0`` and passed
        ``i + 1`` by every retreating edge, and ``K`` a literal at most
        ``SHORT_COUNT`` above ``i0``? Then the loop goes round at most that many
        times from each entry, and (as for a list walk) the cycles around it
        meet a poll elsewhere: the 1000-element loops of bench/closures_escape
        need none of their own."""
        known = self.short_counts.get(header)
        if known is None:
            known = self._short_count(header)
            self.short_counts[header] = known
        return known

    def _short_count(self, header: N.Block) -> bool:
        t = header.terminator
        test = t.cond if isinstance(t, N.Branch) else None
        if not (isinstance(test, N.Prim) and test.op in ("equal", "numeq") and test.block is header):
            return False
        back = [p for p in self.order if self.order[p] >= self.order[header]
                and header in p.successors()]
        for i, k in (test.args, reversed(test.args)):
            bound = _int_literal(k)
            if not (isinstance(i, N.Phi) and i.block is header and bound is not None):
                continue
            incoming = dict(i.incoming)
            starts = {_int_literal(v) for p, v in i.incoming if p not in back}
            if len(starts) != 1 or None in starts or not 0 <= bound - min(starts) <= SHORT_COUNT:
                continue
            if all(isinstance(v := incoming.get(p), N.Prim) and v.op == "add" and v.args[0] is i
                   and _int_literal(v.args[1]) == 1 for p in back):
                return not _reaches_avoiding(t.then, set(back), {header})
        return False

    def _edge_to(self, target: N.Block, span: Optional[Span]) -> ir.Block:
        """Where a branch to ``target`` goes: the target itself, or for a
        retreating edge a block of its own that polls first."""
        if not self._retreats(target):
            return self.blocks[target]
        here = self.b.block
        edge = self.split("back_edge")
        self.b.position_at_end(edge)
        self.emit_poll(span or self.fn.span)
        self.b.branch(self.blocks[target])
        self.edge_ends[(self.block, target)] = self.b.block
        self.b.position_at_end(here)
        return edge

    def _arg(self, i: int) -> ir.Value:
        if i < abi.REG_ARGS:
            return self.reg_args[i]
        slot = self.b.gep(self.rest_arg, [_c(i - abi.REG_ARGS)], source_etype=I64)
        return self.b.load(slot, typ=I64)

    def get(self, v: N.Value) -> ir.Value:
        return self.materialize(self.values[id(v)])

    def get_operand(self, v: N.Value):
        """A call's argument: its value, or a ``SlotLoad`` that call_args materializes."""
        return self.values[id(v)]

    def materialize(self, x):
        if type(x) is SlotLoad:
            return self.mc.load_slot(self.b, x.index)
        return x

    def debug_subprogram(self, fn: N.Function, llfn: Optional[ir.Function] = None) -> ir.DIValue:
        """``fn``'s DISubprogram, attached to ``llfn`` when that is its body."""
        line = fn.span.line if fn.span else 1
        return self.mc.debug.subprogram(fn, llfn, function_name(fn.display_name, fn.kind, line),
                                        line)

    def debug_location(self, span: Span, inlined: Optional[N.Inlined]) -> ir.DIValue:
        """An instruction's DILocation; inlined code sits in its own function's scope, inlined
        at the call that made its frame (a chain of them for nested inlining)."""
        if inlined is None:
            return self.mc.debug.location(self.dbg_scope, span.line, span.col)
        if inlined.call_span is None:   # a tail call's frame: it replaced its caller's
            return self.debug_location(span, inlined.caller)
        outer = self.debug_location(inlined.call_span, inlined.caller)
        return self.mc.debug.location(self.debug_subprogram(inlined.function), span.line,
                                      span.col, outer)

    def emit(self, instr: N.Instr) -> None:
        span = getattr(instr, "span", None)
        if span is not None:        # else the previous instruction's stays
            self.b.site_span = span
        inlined, index = instr.inlined, self.mc.function_index
        if inlined is None:
            self.b.site_function, self.b.site_outer = self.index, -1
        else:
            self.b.site_function = index[inlined.function]
            self.b.site_outer = self.mc.sites.outer_site(inlined, self.index, index)
        if not isinstance(instr, N.Call):     # emit_Call places its own
            self.record_as_returning(instr)
        if self.dbg_scope is not None:
            if span is not None:    # else the location of the previous instruction stays
                self.b.debug_metadata = self.debug_location(span, instr.inlined)
        method = getattr(self, "emit_" + type(instr).__name__)
        try:
            result = method(instr)
        except Exception as exc:
            # A codegen bug: the driver reports it at the form it hit (or the function).
            if getattr(exc, "fluentai_span", None) is None:
                exc.fluentai_span = span or self.b.site_span or self.fn.span
            raise
        if instr.returns_for is not None:
            self.b.site_span = span
        if result is not None:
            self.values[id(instr)] = result

    def record_as_returning(self, instr: N.Instr) -> None:
        """A call that was a tail call of inlined code (``Instr.returns_for``) is
        recorded as the call that made the frame it replaced: that frame's
        caller is where the callee returns to, as the tail call would have."""
        frame = instr.returns_for
        if frame is None or frame.call_span is None:
            return
        caller, index = frame.caller, self.mc.function_index
        self.b.site_function = self.index if caller is None else index[caller.function]
        self.b.site_outer = self.mc.sites.outer_site(caller, self.index, index)
        self.b.site_span = frame.call_span

    def loc(self, instr) -> int:
        return self.mc.locs.id_of(getattr(instr, "span", None))

    # ---- small helpers ----

    def split(self, name: str) -> ir.Block:
        return self.llfn.append_basic_block(name)

    def untag(self, v: ir.Value, offset: int, typ=I64) -> ir.Value:
        """Load the field at ``offset`` bytes of the heap object ``v``."""
        addr = self.b.inttoptr(self.b.add(v, _c(offset - 1)), PTR)
        return self.b.load(addr, typ=typ)

    def field_ptr(self, v: ir.Value, offset: int) -> ir.Value:
        return self.b.inttoptr(self.b.add(v, _c(offset - 1)), PTR)

    def is_heap_kind(self, v: ir.Value, kind: int) -> tuple[ir.Block, ir.Block]:
        """Branch on 'v is a heap object of kind'; returns (yes, no) blocks with
        the builder left in neither."""
        yes, no = self.split("kind_yes"), self.split("kind_no")
        self._branch_on_kind(v, kind, yes, no)
        return yes, no

    def _branch_on_kind(self, v: ir.Value, kind: int, yes: ir.Block, no: ir.Block) -> None:
        b = self.b
        check = self.split("kind_check")
        odd = b.trunc(v, I1)
        big = b.icmp_unsigned(">=", v, _c(abi.IMMEDIATE_LIMIT))
        b.cbranch(b.and_(odd, big), check, no)
        b.position_at_end(check)
        k = self.untag(v, abi.HEADER_KIND, I32)
        b.cbranch(b.icmp_unsigned("==", k, ir.Constant(I32, kind)), yes, no)

    def phi_at(self, done: ir.Block, typ, incoming: list) -> ir.Value:
        """Continue at the join block ``done`` with a phi of (value, block) pairs."""
        self.b.position_at_end(done)
        phi = self.b.phi(typ)
        for value, block in incoming:
            phi.add_incoming(value, block)
        return phi

    def both_fixnums(self, a, bv) -> ir.Value:
        return self.b.icmp_unsigned("==", self.b.and_(self.b.or_(a, bv), _c(1)), _c(0))

    def call_args(self, args: list[ir.Value]) -> list[ir.Value]:
        """The a0, a1, a2, rest operands of a uniform call."""
        return uniform_operands(self.b, self.mc, args, self.materialize)

    def argc(self, instr, n: int) -> ir.Constant:
        if n > abi.MAX_ARGS:
            raise ValueError("too many arguments in one call")
        if self.fn.raw_ints and isinstance(instr, N.CallKnown) and instr.function is self.fn:
            # A self call copied by passes/self_inline.py has the span of the call
            # it copies: with one location id, LLVM hoists the argc constant
            # they share into a callee-saved register (two more pushes and pops
            # per frame). The stack-overflow handler prints the same span.
            loc = self.mc.locs.id_of(instr.span, instr.inlined)
        else:
            loc = self.loc(instr)
        return _c(abi.argc(n, loc))

    # ---- constants and conversions ----

    def emit_Const(self, i: N.Const):
        if i.rep is Rep.VALUE:
            v = i.value
            if v is None:
                return _c(abi.NIL)
            if v is True:
                return _c(abi.TRUE)
            if v is False:
                return _c(abi.FALSE)
            if v == N.EMPTY_LIST:
                return _c(abi.EMPTY)
            if v == N.UNBOUND:
                return _c(abi.UNBOUND)
            return _c(abi.fixnum(v))
        if i.rep is Rep.BOOL:
            return ir.Constant(I1, 1 if i.value else 0)
        if i.rep is Rep.F64:
            return ir.Constant(F64, float(i.value))
        return _c(int(i.value))

    def load_constant_slot(self, index: int) -> ir.Value:
        return self.mc.load_slot(self.b, index)

    def emit_LoadConst(self, i: N.LoadConst):
        if id(i) in self.phi_inputs:       # a phi needs it at the end of its block
            return self.load_constant_slot(i.index)
        return SlotLoad(i.index)

    def emit_Box(self, i: N.Box):
        a = self.get(i.a)
        if i.a.rep is Rep.BOOL:
            return self.b.select(a, _c(abi.TRUE), _c(abi.FALSE))
        if i.a.rep is Rep.I64:
            return self.box_int(a)
        return self.b.call(self.mc.runtime("fl_make_float"), [a])

    def box_int(self, a: ir.Value) -> ir.Value:
        """An int64 as a VALUE: a + a is its fixnum, unless that overflows."""
        b = self.b
        pair = b.sadd_with_overflow(a, a)
        tagged = b.extract_value(pair, 0)
        fast = b.block
        big, done = self.split("box_big"), self.split("box_done")
        b.cbranch(b.extract_value(pair, 1), big, done).set_weights([1, 1000])
        b.position_at_end(big)
        boxed = b.call(self.mc.runtime("fl_make_int"), [a])
        big_end = b.block
        b.branch(done)
        return self.phi_at(done, I64, [(tagged, fast), (boxed, big_end)])

    def emit_Untag(self, i: N.Untag):
        return self.b.ashr(self.get(i.a), _c(1))

    def emit_IntOp(self, i: N.IntOp):
        """Raw int64 operations of a raw-ints clone; an add or sub that leaves
        int64 raises the overflow-error of the program's `+` or `-` there
        (``fl_int_overflow``: one call of constants, so that even at -O0 the
        clone's frame is no larger than the generic one's)."""
        a, c = self.get(i.a), self.get(i.b)
        b = self.b
        if i.op in ICMP or i.op == "numeq":
            return b.icmp_signed(ICMP.get(i.op, "=="), a, c)
        intrinsic = b.sadd_with_overflow if i.op == "add" else b.ssub_with_overflow
        pair = intrinsic(a, c)
        result = b.extract_value(pair, 0)
        slow, done = self.split("int_overflow"), self.split("int_done")
        b.cbranch(b.extract_value(pair, 1), slow, done).set_weights([1, 1000])
        b.position_at_end(slow)
        if i.bail:          # an accumulator loop's: its caller reruns the original
            b.ret(_c(-1))
            b.position_at_end(done)
            return result
        name = self.mc.cstring({"add": b"+", "sub": b"-"}[i.op])
        b.call(self.mc.runtime("fl_int_overflow"), [name, _c(self.loc(i))])
        b.unreachable()
        b.position_at_end(done)
        return result

    def emit_Unbox(self, i: N.Unbox):
        b = self.b
        v = self.get(i.a)
        if not i.checked_op:          # proven a heap float
            return self.untag(v, abi.FLOAT_VALUE, F64)
        fix, check, boxed, slow, done = (self.split("unbox_fix"), self.split("unbox_check"),
                                         self.split("unbox_float"), self.split("unbox_slow"),
                                         self.split("unbox_done"))
        b.cbranch(b.icmp_unsigned("==", b.and_(v, _c(1)), _c(0)), fix, check)
        b.position_at_end(fix)
        r1 = b.sitofp(b.ashr(v, _c(1)), F64)
        b.branch(done)
        b.position_at_end(check)
        self._branch_on_kind(v, abi.K_FLOAT, boxed, slow)
        b.position_at_end(boxed)
        r2 = self.untag(v, abi.FLOAT_VALUE, F64)
        b.branch(done)
        b.position_at_end(slow)
        name = self.mc.cstring(i.checked_op.encode())
        r3 = b.call(self.mc.runtime("fl_number_to_double"), [v, name, _c(self.loc(i))])
        b.branch(done)
        return self.phi_at(done, F64, [(r1, fix), (r2, boxed), (r3, slow)])

    def emit_Not(self, i: N.Not):
        return self.b.xor(self.get(i.a), ir.Constant(I1, 1))

    def emit_FloatOp(self, i: N.FloatOp):
        a, c = self.get(i.a), self.get(i.b)
        b = self.b
        if i.op in FCMP:
            return b.fcmp_ordered(FCMP[i.op], a, c)
        return {"fadd": b.fadd, "fsub": b.fsub, "fmul": b.fmul, "fdiv": b.fdiv}[i.op](a, c)

    # ---- primitives ----

    def emit_Prim(self, i: N.Prim):
        return getattr(self, "prim_" + i.op)(i, [self.get(a) for a in i.args])

    def _arith(self, i, a, c, intrinsic, prepare=None):
        b = self.b
        fast, slow, done = self.split("fix"), self.split("slow"), self.split("arith_done")
        if i.fixnums:
            b.branch(fast)
        else:
            b.cbranch(self.both_fixnums(a, c), fast, slow).set_weights([1000, 1])
        b.position_at_end(fast)
        lhs = prepare(a) if prepare else a
        pair = intrinsic(lhs, c)
        result = b.extract_value(pair, 0)
        b.cbranch(b.extract_value(pair, 1), slow, done).set_weights([1, 1000])
        fast_end = b.block
        b.position_at_end(slow)
        slow_result = b.call(self.mc.runtime(PRIM_SLOW[i.op]), [a, c, _c(self.loc(i))])
        if i.fixnums:
            slow_fixnum = b.icmp_unsigned("==", b.and_(slow_result, _c(1)), _c(0))
        slow_end = b.block
        b.branch(done)
        result = self.phi_at(done, I64, [(result, fast_end), (slow_result, slow_end)])
        if i.fixnums:
            # The fast result of two fixnums is one: a prim.is_fixnum of this
            # value tests this flag, which LLVM threads to the fast path.
            self.fixnum_flags[id(i)] = self.phi_at(
                done, I1, [(ir.Constant(I1, 1), fast_end), (slow_fixnum, slow_end)])
        return result

    def prim_add(self, i, args):
        return self._arith(i, *args, self.b.sadd_with_overflow)

    def prim_sub(self, i, args):
        return self._arith(i, *args, self.b.ssub_with_overflow)

    def prim_mul(self, i, args):
        return self._arith(i, *args, self.b.smul_with_overflow,
                           prepare=lambda a: self.b.ashr(a, _c(1)))

    def _int_division(self, i, a, c):
        """Fixnum fast path of mod / quotient / remainder; zero divisors, -1
        (quotient overflow) and non-fixnums go to the builtin. A ``mod`` by a
        literal power of two tests only the dividend's tag."""
        b = self.b
        fast, slow, done = self.split("div_fix"), self.split("div_slow"), self.split("div_done")
        mask = _power_of_two_mask(i)
        if mask is not None:
            ok = b.icmp_unsigned("==", b.and_(a, _c(1)), _c(0))
        else:
            divisor_ok = b.icmp_unsigned(">", b.add(c, _c(2)), _c(2))   # c not in {-2, 0}: -1, 0 tagged
            ok = b.and_(self.both_fixnums(a, c), divisor_ok)
        b.cbranch(ok, fast, slow).set_weights([1000, 1])
        b.position_at_end(fast)
        if mask is not None:
            # (mod x 2^k) of a fixnum is its low k bits (floored, so also for
            # x < 0), and the tag bit of x is 0: one `and` of the tagged word.
            r1 = b.and_(a, _c(mask))
        else:
            x, y = b.ashr(a, _c(1)), b.ashr(c, _c(1))
            if i.op == "quotient":
                r = b.sdiv(x, y)
            else:
                r = b.srem(x, y)
                if i.op == "mod":         # floored: the sign of the divisor
                    adjust = b.and_(b.icmp_signed("!=", r, _c(0)),
                                    b.icmp_signed("<", b.xor(r, y), _c(0)))
                    r = b.select(adjust, b.add(r, y), r)
            r1 = b.shl(r, _c(1))
        b.branch(done)
        b.position_at_end(slow)
        name = {"mod": "fl_bi_mod", "quotient": "fl_bi_quotient", "remainder": "fl_bi_remainder"}[i.op]
        r2 = b.call(self.mc.runtime(name, UNIFORM),
                    [_c(0), self.argc(i, 2), a, c, _c(0), ir.Constant(PTR, None)])
        b.branch(done)
        return self.phi_at(done, I64, [(r1, fast), (r2, slow)])

    prim_mod = prim_quotient = prim_remainder = lambda self, i, args: self._int_division(i, *args)

    def _compare(self, i, a, c):
        b = self.b
        if i.fixnums:
            return b.icmp_signed(ICMP[i.op], a, c)
        fast, slow, done = self.split("cmp_fix"), self.split("cmp_slow"), self.split("cmp_done")
        b.cbranch(self.both_fixnums(a, c), fast, slow).set_weights([1000, 1])
        b.position_at_end(fast)
        r1 = b.icmp_signed(ICMP[i.op], a, c)
        b.branch(done)
        b.position_at_end(slow)
        r2 = b.icmp_unsigned("!=", b.call(self.mc.runtime(PRIM_SLOW[i.op]), [a, c, _c(self.loc(i))]),
                             ir.Constant(I32, 0))
        b.branch(done)
        return self.phi_at(done, I1, [(r1, fast), (r2, slow)])

    prim_lt = prim_le = prim_gt = prim_ge = lambda self, i, args: self._compare(i, *args)

    def prim_is_fixnum(self, i, args):
        """Are all the operands fixnums? (One test of their bitwise or.)"""
        b = self.b
        flags = [self.fixnum_flags[id(v)] for v in i.args if id(v) in self.fixnum_flags]
        rest = [a for v, a in zip(i.args, args) if id(v) not in self.fixnum_flags]
        if rest:
            acc = rest[0]
            for a in rest[1:]:
                acc = b.or_(acc, a)
            flags.append(b.icmp_unsigned("==", b.and_(acc, _c(1)), _c(0)))
        test = flags[0]
        for f in flags[1:]:
            test = b.and_(test, f)
        return test

    def prim_equal(self, i, args):
        a, c = args
        b = self.b
        if i.fixnums:
            return b.icmp_unsigned("==", a, c)
        check, slow, done = self.split("eq_check"), self.split("eq_slow"), self.split("eq_done")
        start = b.block
        b.cbranch(b.icmp_unsigned("==", a, c), done, check)
        b.position_at_end(check)
        if i.fixnum_operand >= 0:
            # A fixnum is = only to itself among fixnums; another kind of
            # number (3.0) is fl_equal's question.
            other = args[1 - i.fixnum_operand]
            b.cbranch(b.icmp_unsigned("==", b.and_(other, _c(1)), _c(0)), done, slow)
        else:
            b.cbranch(self.both_fixnums(a, c), done, slow)
        b.position_at_end(slow)
        r = b.icmp_unsigned("!=", b.call(self.mc.runtime("fl_equal"), [a, c]), ir.Constant(I32, 0))
        b.branch(done)
        true, false = ir.Constant(I1, 1), ir.Constant(I1, 0)
        return self.phi_at(done, I1, [(true, start), (false, check), (r, slow)])

    def prim_truthy(self, i, args):
        return self.b.icmp_unsigned("!=", self.b.or_(args[0], _c(4)), _c(7))

    def prim_is_null(self, i, args):
        v = args[0]
        return self.b.or_(self.b.icmp_unsigned("==", v, _c(abi.NIL)),
                          self.b.icmp_unsigned("==", v, _c(abi.EMPTY)))

    def prim_is_empty(self, i, args):
        return self.b.icmp_unsigned("==", args[0], _c(abi.EMPTY))

    def prim_is_pair(self, i, args):
        b = self.b
        yes, no = self.is_heap_kind(args[0], abi.K_PAIR)
        done = self.split("pair_done")
        b.position_at_end(yes)
        b.branch(done)
        b.position_at_end(no)
        b.branch(done)
        return self.phi_at(done, I1, [(ir.Constant(I1, 1), yes), (ir.Constant(I1, 0), no)])

    def _pair_field(self, i, v, offset, builtin):
        b = self.b
        yes, no = self.is_heap_kind(v, abi.K_PAIR)
        done = self.split("field_done")
        b.position_at_end(yes)
        r1 = self.untag(v, offset)
        b.branch(done)
        b.position_at_end(no)
        fn = self.mc.runtime(builtin, UNIFORM)
        r2 = b.call(fn, [_c(0), self.argc(i, 1), v, _c(0), _c(0), ir.Constant(PTR, None)])
        b.branch(done)
        return self.phi_at(done, I64, [(r1, yes), (r2, no)])

    def prim_head(self, i, args):
        return self._pair_field(i, args[0], abi.PAIR_HEAD, "fl_bi_head")

    def prim_tail(self, i, args):
        return self._pair_field(i, args[0], abi.PAIR_TAIL, "fl_bi_tail")

    def prim_unsafe_head(self, i, args):
        return self.untag(args[0], abi.PAIR_HEAD)

    def prim_unsafe_tail(self, i, args):
        return self.untag(args[0], abi.PAIR_TAIL)

    def prim_set_tail(self, i, args):
        pair, tail = args
        self.b.store(tail, self.field_ptr(pair, abi.PAIR_TAIL))
        return pair

    def inline_alloc(self, nbytes: int) -> ir.Value:
        """A heap object of ``nbytes`` (a multiple of 8, below 64): pop the
        runtime's free list of its class, or call fl_alloc when it is empty.
        Returns its address as an i64 (untagged). The caller stores all of
        the first ``nbytes``; the words past them that Boehm scans are cleared
        here: the runtime's small objects are not cleared when a collection
        frees them (runtime_c/module.c, small_kind), and a stale pointer there
        would keep a dead object alive.

        The class is ``nbytes // 16 + 1`` granules, as fl_alloc's: while Boehm
        recognises interior pointers it never scans the last word of an object
        (it reserves the object's last byte), so an object must leave that
        word unused. A pair (24 bytes) takes 32; a closure of 48 bytes took 48
        and lost its last capture at a collection."""
        b = self.b
        granules = small_class(nbytes)
        head_ptr = b.inttoptr(b.add(b.ptrtoint(self.mc.g_small_free, I64), _c(8 * granules)), PTR)
        p = b.load(head_ptr, typ=PTR)
        fast, slow, done = self.split("alloc_pop"), self.split("alloc_call"), self.split("alloc_done")
        b.cbranch(b.icmp_unsigned("==", p, ir.Constant(PTR, None)), slow, fast).set_weights([1, 1000])
        b.position_at_end(fast)
        b.store(b.load(p, typ=PTR), head_ptr)
        b.branch(done)
        b.position_at_end(slow)
        # fl_alloc(n) serves class n // 16 + 1 (runtime_c/module.c): this
        # request refills the list just popped, of exactly `granules`.
        q = b.call(self.mc.runtime("fl_alloc"), [_c(granules * 16 - 1)])
        b.branch(done)
        addr = b.ptrtoint(self.phi_at(done, PTR, [(p, fast), (q, slow)]), I64)
        for offset in range(nbytes, granules * 16 - 8, 8):
            self.store_field(addr, offset, _c(0))
        return addr

    def store_field(self, addr: ir.Value, offset: int, value: ir.Value) -> None:
        self.b.store(value, self.b.inttoptr(self.b.add(addr, _c(offset)), PTR))

    def prim_cons(self, i, args):
        """Inline: check the tail is a list, allocate, fill. A non-list tail
        goes to fl_cons for its type error. Past ``INLINE_CONS_BUDGET`` conses
        in one function (a literal nested 10^4 deep) every cons is a call of
        fl_cons: the inline path is some 40 instructions, and emitting them
        is most of the compile time of such a function."""
        b = self.b
        h, t = args
        self.inline_conses += 1
        if self.inline_conses > INLINE_CONS_BUDGET:
            return b.call(self.mc.runtime("fl_cons"), [h, t, _c(self.loc(i))])
        if i.list_tail:
            return self._new_pair(h, t)
        ok, bad, check = self.split("cons_ok"), self.split("cons_bad"), self.split("cons_check")
        b.cbranch(b.icmp_unsigned("==", t, _c(abi.EMPTY)), ok, check)
        b.position_at_end(check)
        self._branch_on_kind(t, abi.K_PAIR, ok, bad)
        b.position_at_end(bad)
        answer = b.call(self.mc.runtime("fl_cons"), [h, t, _c(self.loc(i))])
        done = self.split("cons_done")
        b.branch(done)
        b.position_at_end(ok)
        pair = self._new_pair(h, t)
        built = b.block
        b.branch(done)
        return self.phi_at(done, I64, [(answer, bad), (pair, built)])

    def _new_pair(self, h, t):
        """An inline-allocated pair of ``h`` and ``t`` (``t`` already known to be a list)."""
        addr = self.inline_alloc(24)
        self.store_field(addr, 0, _c(abi.K_PAIR))
        self.store_field(addr, abi.PAIR_HEAD, h)
        self.store_field(addr, abi.PAIR_TAIL, t)
        return self.b.add(addr, _c(1))

    # ---- variables and closures ----

    def emit_SelfClosure(self, i):
        return self.self_arg

    def emit_LoadFree(self, i: N.LoadFree):
        return self.untag(self.self_arg, abi.CLOSURE_FREE + 8 * i.index)

    def emit_ClosureSlot(self, i: N.ClosureSlot):
        return self.untag(self.get(i.closure), abi.CLOSURE_FREE + 8 * i.index)

    def emit_MakeClosure(self, i: N.MakeClosure):
        fn = i.function
        name = self.mc.closure_name(self.b, fn)
        flags = closure_flags(fn)
        code = self.mc.functions[fn]
        size = abi.CLOSURE_FREE + 8 * fn.nfree
        if small_class(size) <= abi.SMALL_GRANULES:
            addr = self.inline_alloc(size)
            self.store_field(addr, 0, _c(abi.K_CLOSURE | (fn.nfree << 32)))
            self.store_field(addr, abi.CLOSURE_CODE, self.b.ptrtoint(code, I64))
            self.store_field(addr, abi.CLOSURE_ARITY, _c(fn.arity | (flags << 32)))
            self.store_field(addr, abi.CLOSURE_NAME, name)
            clo = self.b.add(addr, _c(1))
        else:
            clo = self.b.call(self.mc.runtime("fl_make_closure"),
                              [code, ir.Constant(I32, fn.arity), ir.Constant(I32, flags), name,
                               _c(fn.nfree)])
        for k, cap in enumerate(i.captures):
            self.b.store(self.get(cap), self.field_ptr(clo, abi.CLOSURE_FREE + 8 * k))
        if small_class(size) <= abi.SMALL_GRANULES:
            # Slots patched later by SetFree: inline_alloc leaves the object uncleared.
            for k in range(len(i.captures), fn.nfree):
                self.b.store(_c(0), self.field_ptr(clo, abi.CLOSURE_FREE + 8 * k))
        return clo

    def emit_SetFree(self, i: N.SetFree):
        self.b.store(self.get(i.value), self.field_ptr(self.get(i.closure), abi.CLOSURE_FREE + 8 * i.index))

    def _global_slot(self, slot: int) -> ir.Value:
        table = self.b.load(self.mc.g_globals, typ=PTR)
        return self.b.gep(table, [_c(slot)], source_etype=I64)

    def emit_GlobalGet(self, i: N.GlobalGet):
        b = self.b
        v = b.load(self._global_slot(i.slot), typ=I64)
        if not i.checked:
            return v
        bad, ok = self.split("unbound"), self.split("bound")
        b.cbranch(b.icmp_unsigned("==", v, _c(abi.UNBOUND)), bad, ok).set_weights([1, 1000])
        b.position_at_end(bad)
        return self._variable_or_fault(v, bad, ok, "fl_undefined_global", i)

    def emit_GlobalSet(self, i: N.GlobalSet):
        self.b.store(self.get(i.value), self._global_slot(i.slot))

    def emit_MakeCell(self, i):
        return self.b.call(self.mc.runtime("fl_make_cell"), [_c(abi.UNBOUND)])

    def emit_CellGet(self, i: N.CellGet):
        b = self.b
        v = self.untag(self.get(i.cell), abi.CELL_VALUE)
        bad, ok = self.split("cell_unbound"), self.split("cell_ok")
        b.cbranch(b.icmp_unsigned("==", v, _c(abi.UNBOUND)), bad, ok).set_weights([1, 1000])
        b.position_at_end(bad)
        return self._variable_or_fault(v, bad, ok, "fl_unbound_local", i)

    def _variable_or_fault(self, v, bad, ok, fault: str, i) -> ir.Value:
        """At ``bad`` (positioned there) the variable is unbound: the fault's
        answer (from an error:catch handler) stands in for its value."""
        b = self.b
        name = self.load_constant_slot(self.mc.constant_slot(N.Special("name", i.label)))
        answer = b.call(self.mc.runtime(fault), [name, _c(self.loc(i))])
        answered = b.block
        done = self.split("var_done")
        b.branch(done)
        b.position_at_end(ok)
        b.branch(done)
        return self.phi_at(done, I64, [(answer, answered), (v, ok)])

    def emit_CellSet(self, i: N.CellSet):
        self.b.store(self.get(i.value), self.field_ptr(self.get(i.cell), abi.CELL_VALUE))

    # ---- calls ----

    def emit_Call(self, i: N.Call):
        b = self.b
        f = self.get(i.fn)
        args = [self.get_operand(a) for a in i.args]
        argc = self.argc(i, len(args))
        yes, no = self.is_heap_kind(f, abi.K_CLOSURE)
        b.position_at_end(no)
        answer = b.call(self.mc.runtime("fl_not_callable"), [f, argc])
        if i.tail:
            b.ret(answer)
        else:
            answered = b.block
            done = self.split("call_done")
            b.branch(done)
        b.position_at_end(yes)
        code = b.inttoptr(self.untag(f, abi.CLOSURE_CODE), UNIFORM.as_pointer())
        operands = [f, argc] + self.call_args(args)
        # Not the not-callable report above: it is raised in this frame.
        site = b.site_span, b.site_function, b.site_outer
        self.record_as_returning(i)
        result = self.b.call(code, operands, tail="musttail" if i.tail else False)
        b.site_span, b.site_function, b.site_outer = site
        if i.tail:
            return result
        called = b.block
        b.branch(done)
        return self.phi_at(done, I64, [(answer, answered), (result, called)])

    def emit_CallKnown(self, i: N.CallKnown):
        if i.hidden:
            self.b.site_span = None     # a site of no line: call chains skip it
        args = [self.get_operand(a) for a in i.args]
        closure = self.get(i.closure)
        if i.function.raw_ints and isinstance(i.closure, N.Const):
            closure = ir.Constant(I64, ir.Undefined)    # a clone that captures nothing
        operands = [closure, self.argc(i, len(args))] + self.call_args(args)
        return self.b.call(self.mc.functions[i.function], operands,
                           tail="musttail" if i.tail else False)

    def emit_CallBuiltin(self, i: N.CallBuiltin):
        args = [self.get_operand(a) for a in i.args]
        operands = [_c(0), self.argc(i, len(args))] + self.call_args(args)
        return self.b.call(self.mc.runtime(i.symbol, UNIFORM), operands,
                           tail="musttail" if i.tail and self.fn.kind == "closure" else False)

    def emit_Perform(self, i: N.Perform):
        args = [self.get_operand(a) for a in i.args]
        op = self.load_constant_slot(self.mc.effect_slot(i.op))
        direct = STATE_DIRECT.get((i.op, len(args)))
        if direct:
            # The state operations the hot loops use skip fl_perform's uniform
            # convention (no rest pointer, no padding arguments); the entry
            # itself still falls back to fl_perform when a handler could answer.
            return self.b.call(self.mc.runtime(direct), [op, self.argc(i, len(args))]
                               + [self.materialize(a) for a in args])
        operands = [op, self.argc(i, len(args))] + self.call_args(args)
        return self.b.call(self.mc.runtime("fl_perform"), operands)

    def emit_RuntimeCall(self, i: N.RuntimeCall):
        args = [self.get(a) for a in i.args]
        if i.symbol in TAKES_LOC:
            if i.loc_from_caller:       # the location bits of our own argc
                args.append(self.b.ashr(self.argc_arg, _c(abi.ARGC_BITS)))
            else:
                args.append(_c(self.loc(i)))
        result = self.b.call(self.mc.runtime(i.symbol), args)
        if i.rep is Rep.BOOL:
            return self.b.icmp_unsigned("!=", result, ir.Constant(I32, 0))
        return result

    def emit_DataField(self, i: N.DataField):
        return self.untag(self.get(i.value), abi.DATA_FIELDS + 8 * i.index)

    # ---- control flow ----

    def emit_Phi(self, i: N.Phi):
        typ = {Rep.VALUE: I64, Rep.F64: F64, Rep.BOOL: I1, Rep.I64: I64}[i.rep]
        phi = self.b.phi(typ)
        self.phis.append((i, phi))
        return phi

    def emit_Jump(self, i: N.Jump):
        if self._retreats(i.target):
            self.emit_poll(i.span or self.fn.span)
        self.b.branch(self.blocks[i.target])

    def emit_Branch(self, i: N.Branch):
        span = getattr(i, "span", None)
        br = self.b.cbranch(self.get(i.cond), self._edge_to(i.then, span), self._edge_to(i.orelse, span))
        if i.likely is not None:
            br.set_weights([1000, 1] if i.likely else [1, 1000])

    def emit_Switch(self, i: N.Switch):
        """An LLVM ``switch``, written as one line (75K cases compile in one go)."""
        default = self._edge_to(i.default, None)
        cases = " ".join(f"i64 {k}, label {self._edge_to(t, None).ref}" for k, t in i.cases)
        self.b.switch(self.get(i.value), default, cases)

    def emit_Return(self, i: N.Return):
        self.b.ret(self.get(i.value))

    def emit_Unreachable(self, i):
        self.b.unreachable()


def _int_literal(v: N.Value) -> Optional[int]:
    """The integer of a fixnum literal, seen through phis that merge one value."""
    v = root(v)
    if isinstance(v, N.Const) and v.rep is Rep.VALUE and type(v.value) is int:
        return v.value
    return None


def _reaches_avoiding(start: N.Block, targets: set, avoid: set) -> bool:
    """Can ``start`` reach a block of ``targets`` through no block of ``avoid``
    (``start`` itself is not looked up in ``avoid``)?"""
    seen, stack = {start}, [start]
    while stack:
        b = stack.pop()
        if b in targets:
            return True
        for s in b.successors():
            if s not in seen and s not in avoid:
                seen.add(s)
                stack.append(s)
    return False


def _power_of_two_mask(i: N.Prim) -> Optional[int]:
    """For ``(mod x d)`` with d a literal power of two (1, 2, 4, ...): the mask
    that keeps the tagged bits of ``x mod d``, 2d - 2; else None."""
    d = i.args[1]
    if (i.op != "mod" or not isinstance(d, N.Const) or d.rep is not Rep.VALUE
            or type(d.value) is not int or d.value <= 0 or d.value & (d.value - 1)):
        return None
    return 2 * d.value - 2


def uniform_operands(b: TextBuilder, mc: ModuleCodegen, args: list,
                     materialize=None) -> list[ir.Value]:
    """The a0, a1, a2, rest operands of a uniform call of ``args``. ``materialize``
    turns a ``SlotLoad`` argument into its value: each is loaded where it is
    stored, after the rest array exists (see SlotLoad)."""
    if materialize is not None:
        args = list(args)
        for k in range(min(len(args), abi.REG_ARGS)):
            args[k] = materialize(args[k])
    regs = list(args[:abi.REG_ARGS]) + [_c(0)] * (abi.REG_ARGS - min(len(args), abi.REG_ARGS))
    if len(args) <= abi.REG_ARGS:
        return regs + [ir.Constant(PTR, None)]
    extra = args[abi.REG_ARGS:]
    rest = b.call(mc.runtime("fl_rest_array"), [_c(len(extra))])
    constant = [isinstance(a, ir.Constant) for a in extra]
    from_table = sum(constant) >= CONSTANT_TABLE_MIN
    if from_table:
        # One copy from a constant table rather than a store per constant argument:
        # a 10^4-element literal stays a handful of instructions.
        table = mc.constant_table([a if c else _c(0) for a, c in zip(extra, constant)])
        b.call(mc.memcpy(), [rest, table, _c(8 * len(extra)), ir.Constant(I1, 0)])
    for i, a in enumerate(extra):
        if not (from_table and constant[i]):
            if materialize is not None:
                a = materialize(a)
            b.store(a, b.gep(rest, [_c(i)], source_etype=I64))
    return regs + [rest]


def _path_avoiding(start: N.Block, end: N.Block, avoid: set) -> bool:
    """Is there a path from ``start`` to ``end`` through no block of ``avoid``
    (``start`` and ``end`` included)?"""
    return start not in avoid and end not in avoid and _reaches_avoiding(start, {end}, avoid)


def generate_module(module: N.Module, print_value: bool = False, session: bool = False,
                    debug: bool = False) -> ir.Module:
    """``debug``: DWARF for -g (``backend/debuginfo.py``)."""
    return ModuleCodegen(module, print_value=print_value, session=session, debug=debug).generate()
