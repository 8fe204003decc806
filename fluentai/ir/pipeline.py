"""The compilation pipeline: every pass, in order, in one visible list.

  frontend.parse_program     source text -> resolved core AST   (frontend/)
  ir.lower.lower_program     core AST -> SSA IR with flat closures
  PASSES below               SSA IR -> SSA IR
  backend.codegen            SSA IR -> LLVM IR                  (backend/)
  backend.llvm_passes        LLVM's own -O0..-O3 pipeline
  backend.jit / backend.aot  machine code in memory / object file + cc

With ``verify=True`` (the tests) the IR verifier runs after lowering and after
every pass, and a failure names the pass.
"""
from __future__ import annotations

from typing import Callable, Optional

from .. import timing
from ..frontend import ast as A
from . import nodes as N
from .lower import lower_program
from .passes.accumulate import make_accumulator_loops
from .passes.closure_args import specialise_closure_args
from .passes.dce import eliminate_dead_code
from .passes.fixnum_loops import fixnum_loops
from .passes.flatten_closures import flatten_closures
from .passes.inline import inline_small_functions
from .passes.known_calls import make_known_calls
from .passes.known_lists import known_lists
from .passes.leaf_exits import inline_leaf_exits
from .passes.list_closure_calls import make_list_closure_calls
from .passes.list_loops import make_list_loops
from .passes.owned_maps import own_map_updates
from .passes.self_inline import inline_self_calls
from .passes.specialise_fixnums import specialise_fixnums
from .passes.state_updates import inline_state_updates
from .passes.static_closures import make_static_closures
from .passes.trmc import make_trmc_loops
from .passes.unbox_floats import unbox_floats
from .printer import format_module
from .verify import IRVerifyError, verify_module

PASSES: list[tuple[str, Callable[[N.Module], None]]] = [
    ("static-closures", make_static_closures),
    ("closure-args", specialise_closure_args),
    ("known-calls", make_known_calls),
    ("inline", inline_small_functions),
    ("state-updates", inline_state_updates),
    ("list-loops", make_list_loops),
    ("trmc", make_trmc_loops),
    ("flatten-closures", flatten_closures),
    ("dce", eliminate_dead_code),
    ("unbox-floats", unbox_floats),
    ("dce-after-unbox", eliminate_dead_code),
    ("specialise-fixnums", specialise_fixnums),
    ("self-inline", inline_self_calls),
    ("leaf-exits", inline_leaf_exits),
    ("accumulate", make_accumulator_loops),
    ("known-lists", known_lists),
    ("list-closure-calls", make_list_closure_calls),
    ("fixnum-loops", fixnum_loops),
    ("owned-maps", own_map_updates),
]

PASS_NAMES = ["lower"] + [name for name, _ in PASSES]


def build_ir(program: A.Program, *, verify: bool = False, dump_after: Optional[str] = None,
             session: bool = False, closed: bool = False) -> tuple[N.Module, Optional[str]]:
    """Lower and optimise; returns the module and the dump asked for, if any.
    ``session``: the program is one input of a REPL session; ``closed``: a
    whole program, whose globals no host calls (``Module.closed``). Each step
    is a ``timing.phase`` (``--time-passes``)."""
    dump = None
    with timing.phase("lower"):
        module = lower_program(program, session)
    module.closed = closed and not session
    steps = [("lower", None)] + PASSES
    for name, run in steps:
        if run is not None:
            with timing.phase(name):
                run(module)
        if verify:
            try:
                with timing.phase("verify-ir"):
                    verify_module(module)
            except IRVerifyError as e:
                raise IRVerifyError(f"after pass {name}: {e}") from None
        if dump_after == name:
            dump = format_module(module)
    return module, dump
