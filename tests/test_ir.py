"""Golden IR tests and the verifier-after-every-pass sweep.

``tests/ir/<name>.test`` holds a ``; pass: NAME`` line, the FluentAI source,
a ``; ----`` separator and the expected IR dump after that pass. A ``; closed``
line after the first compiles the program as the command line does, as a
whole program (``Module.closed``).
``pytest --update-goldens`` rewrites the expected part from the current
compiler; review the diff before committing.

The sweep compiles every golden program of ``tests/cases`` (those that
compile) with the IR verifier after lowering and after every pass.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from fluentai.diagnostics import CompileError
from fluentai.driver import compile_source
from fluentai.frontend import call_with_deep_stack, parse_program
from fluentai.ir.pipeline import PASS_NAMES, build_ir

HERE = Path(__file__).parent
IR_CASES = sorted((HERE / "ir").glob("*.test"))
PROGRAMS = sorted((HERE / "cases").glob("*.fl"))
SEPARATOR = "; ----\n"


def _split(text: str) -> tuple[str, str, str]:
    head, _, expected = text.partition(SEPARATOR)
    first, _, source = head.partition("\n")
    assert first.startswith("; pass: "), "the first line must be '; pass: NAME'"
    return first[len("; pass: "):].strip(), source, expected


@pytest.mark.parametrize("path", IR_CASES, ids=[p.stem for p in IR_CASES])
def test_ir_golden(path: Path, update_goldens: bool) -> None:
    pass_name, source, expected = _split(path.read_text())
    assert pass_name in PASS_NAMES + ["final"], f"unknown pass {pass_name}"
    closed = source.startswith("; closed\n")
    compiled = compile_source(source, path.stem + ".fl", verify=True, dump_after=pass_name,
                              closed=closed)
    if update_goldens:
        path.write_text(f"; pass: {pass_name}\n{source}{SEPARATOR}{compiled.ir_text}")
        return
    assert compiled.ir_text == expected


@pytest.mark.parametrize("path", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_verifier_after_every_pass(path: Path) -> None:
    data = path.read_bytes()
    try:
        program = parse_program(data, path.name)
    except CompileError:
        return          # a case about a compile error: nothing to lower
    call_with_deep_stack(program.nesting_depth, lambda: build_ir(program, verify=True))
