"""``-g``: DWARF line tables and function names for gdb (and any DWARF consumer).

In: the LLVM module being generated, the program's file name, the IR functions and the
spans of the IR instructions. Out: a compile unit for the source file, a ``DISubprogram``
per function (named with its FluentAI name: ``make-adder``, ``lambda@3``, ``toplevel``)
and, through the builder's ``debug_metadata``, a ``DILocation`` on every instruction
(the span of the nearest instruction that has one, else the function's first line).
LLVM carries these through its optimisations (inlined frames included) into the
object's ``.debug_line`` / ``.debug_info``, so ``break prog.fl:12`` and ``bt`` work in
gdb on an executable from ``fluentai compile -g``, and on ``fluentai jit -g``, which
loads the program as a shared object (cached, or temporary with ``--no-cache``) because
MCJIT's in-memory code is not registered with gdb.

Codegen calls ``DebugInfo`` from three places only: module creation, function start,
and each instruction emitted; without ``-g`` none of it runs.
"""
from __future__ import annotations

import os
from typing import Optional

from llvmlite import ir

_I32 = ir.IntType(32)
DWARF_VERSION = 4
DEBUG_INFO_VERSION = 3   # LLVM's own metadata format version: anything else is dropped


class DebugInfo:
    def __init__(self, module: ir.Module, filename: str):
        self.module = module
        path = os.path.abspath(filename) if not filename.startswith("<") else filename
        directory, name = os.path.split(path)
        self.file = module.add_debug_info("DIFile", {"filename": name,
                                                     "directory": directory or os.getcwd()})
        self.unit = module.add_debug_info("DICompileUnit", {
            # No DWARF language code for FluentAI: C is what debuggers handle most plainly.
            "language": ir.DIToken("DW_LANG_C"),
            "file": self.file,
            "producer": "fluentai",
            "isOptimized": False,     # the optimisation level is chosen after codegen
            "runtimeVersion": 0,
            "emissionKind": ir.DIToken("FullDebug"),
        }, is_distinct=True)
        module.add_named_metadata("llvm.dbg.cu", self.unit)
        for key, value in (("Dwarf Version", DWARF_VERSION), ("Debug Info Version", DEBUG_INFO_VERSION)):
            # behaviour 2 = Warning: modules with other values still link
            module.add_named_metadata("llvm.module.flags", [ir.Constant(_I32, 2), key,
                                                            ir.Constant(_I32, value)])
        self.fn_type = module.add_debug_info("DISubroutineType", {"types": module.add_metadata([])})
        self.subprograms: dict[int, ir.DIValue] = {}   # id(IR function) -> its DISubprogram

    def subprogram(self, key: object, llfn: Optional[ir.Function], name: str,
                   line: int) -> ir.DIValue:
        """The DISubprogram named ``name`` (the FluentAI name) of the function ``key``,
        attached to ``llfn`` (None: a function inlined everywhere, with no body left); made
        once, whether its own body or code inlined from it asks first."""
        known = self.subprograms.get(id(key))
        if known is not None:
            if llfn is not None:
                llfn.set_metadata("dbg", known)
            return known
        flags = "DISPFlagDefinition"
        if llfn is None or llfn.linkage in ("internal", "private"):
            flags += " | DISPFlagLocalToUnit"
        sp = self.module.add_debug_info("DISubprogram", {
            "name": name,
            "scope": self.file,
            "file": self.file,
            "line": line,
            "type": self.fn_type,
            "scopeLine": line,
            "spFlags": ir.DIToken(flags),
            "unit": self.unit,
        }, is_distinct=True)
        if llfn is not None:
            llfn.set_metadata("dbg", sp)
        self.subprograms[id(key)] = sp
        return sp

    def location(self, scope: ir.DIValue, line: int, col: int,
                 inlined_at: Optional[ir.DIValue] = None) -> ir.DIValue:
        """``inlined_at``: for code the IR inlined, the location of the call it replaced, so a
        debugger shows the inlined function's frame (``scope`` is that function's)."""
        fields = {"line": line, "column": col, "scope": scope}
        if inlined_at is not None:
            fields["inlinedAt"] = inlined_at
        return self.module.add_debug_info("DILocation", fields)


def function_name(display_name: Optional[str], kind: str, line: int) -> str:
    """What gdb shows for a function: its FluentAI name, or where an anonymous one starts."""
    if kind == "entry":
        return "toplevel"
    return display_name or f"lambda@{line}"
