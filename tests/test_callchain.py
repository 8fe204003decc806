"""Call chains in runtime error reports (LANGUAGE.md section 10; docs/internals.md "Call chains").

The golden cases (tests/cases/err_chain_*) check the chain's text in every mode. These tests
cover the paths the golden harness does not: the compile cache of `fluentai jit` (programs
loaded as shared objects), `-g`, the REPL (one module per input, functions of earlier inputs
still running), the Python interface, the stack-map section of the objects we write, and the
chain of an error raised deep inside the runtime (a callback of `map`).
"""
from __future__ import annotations

import os
import struct
import subprocess

import pytest

import fluentai
from fluentai import FluentAIError
from fluentai.backend import aot

from test_cli import fluentai as run_cli


@pytest.fixture
def env(tmp_path):
    """A private compile cache, so that the second jit run is a cache hit of our own."""
    return dict(os.environ, FLUENTAI_CACHE_DIR=str(tmp_path / "cache"), FLUENTAI_NO_CACHE="")

NESTED = """\
(define (inner x) (let ((r (/ 10 x))) r))
(define (middle x) (+ 1 (inner x)))
(define (outer x) (+ 1 (middle x)))
(io:print (outer 0))
"""

NESTED_CHAIN = [
    "  call chain, innermost first:",
    "    p.fl:1:28 in `inner`",
    "    p.fl:2:25 in `middle`",
    "    p.fl:3:24 in `outer`",
    "    p.fl:4:11 in the top level",
]


def chain_lines(report: str) -> list[str]:
    lines = report.splitlines()
    start = lines.index("  call chain, innermost first:")
    return lines[start:start + len(NESTED_CHAIN)]


def test_cached_jit_runs_report_the_same_chain(tmp_path, env):
    (tmp_path / "p.fl").write_text(NESTED)
    runs = [run_cli("jit", "p.fl", env=env, cwd=tmp_path) for _ in range(2)]
    assert list((tmp_path / "cache").glob("*")), "the second run should come from the cache"
    for r in runs:
        assert r.returncode == 1
        assert chain_lines(r.stderr) == NESTED_CHAIN


@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_debug_builds_and_executables_report_the_chain(tmp_path, env, opt):
    (tmp_path / "p.fl").write_text(NESTED)
    r = run_cli("jit", "-g", opt, "p.fl", env=env, cwd=tmp_path)
    assert chain_lines(r.stderr) == NESTED_CHAIN
    built = run_cli("compile", opt, "p.fl", "-o", "p", env=env, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    exe = subprocess.run([str(tmp_path / "p")], capture_output=True, text=True, cwd=tmp_path)
    assert exe.returncode == 1 and chain_lines(exe.stderr) == NESTED_CHAIN


def test_repl_chains_name_functions_of_earlier_inputs(env):
    script = "(define (inner x) (+ 1 (head x)))\n(define (outer x) (+ 1 (inner x)))\n(outer [])\n"
    r = run_cli("repl", env=env, stdin=script)
    assert "error[empty-list]" in r.stderr
    lines = r.stderr[r.stderr.index("call chain"):].splitlines()
    assert lines[1].endswith("in `inner`") and lines[2].endswith("in `outer`")
    assert lines[3].endswith("in the top level")


def test_python_interface_reports_carry_the_chain():
    with pytest.raises(FluentAIError) as info:
        fluentai.run(NESTED, filename="p.fl")
    assert chain_lines(info.value.report) == NESTED_CHAIN


def test_functions_called_from_python_report_their_chain():
    mod = fluentai.load("(define (inner xs) (+ 1 (head xs)))\n(define (outer xs) (+ 1 (inner xs)))\n",
                        filename="m.fl")
    with pytest.raises(FluentAIError) as info:
        mod["outer"]([])
    lines = info.value.report[info.value.report.index("call chain"):].splitlines()
    assert lines[1:] == ["    m.fl:1:25 in `inner`", "    m.fl:2:25 in `outer`"]


def test_callbacks_of_builtins_keep_their_callers():
    source = ("(define (check x) (+ 1 (head x)))\n"
              "(define (all xs) (+ 0 (length (map (lambda (x) (+ 0 (check x))) xs))))\n"
              "(all [[1] []])\n")
    with pytest.raises(FluentAIError) as info:
        fluentai.run(source, filename="cb.fl")
    lines = info.value.report[info.value.report.index("call chain"):].splitlines()
    assert lines[1:] == ["    cb.fl:1:24 in `check`", "    cb.fl:2:53 in the lambda at 2:36",
                         "    cb.fl:2:31 in `all`", "    cb.fl:3:1 in the top level"]


def test_errors_answered_by_a_handler_leave_no_chain_behind():
    # The fault deep in a recursion is answered (no report, no stack walk); a later
    # uncaught error reports its own chain only.
    source = """(error:catch "empty-list" (lambda (e) -1))
(define (down n) (if (= n 0) (head []) (+ 1 (down (- n 1)))))
(define (fail x) (+ 1 (/ x 0)))
(io:print (down 5000))
(fail 1)
"""
    with pytest.raises(FluentAIError) as info:
        fluentai.run(source, filename="h.fl")
    lines = info.value.report[info.value.report.index("call chain"):].splitlines()
    assert lines[1:] == ["    h.fl:3:23 in `fail`", "    h.fl:5:1 in the top level"]


def section_flags(obj: bytes, name: bytes) -> int:
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", obj, 0x3A)
    strtab, = struct.unpack_from("<Q", obj, shoff + shstrndx * shentsize + 24)
    for i in range(shnum):
        header = shoff + i * shentsize
        name_offset, = struct.unpack_from("<I", obj, header)
        if obj[strtab + name_offset:].startswith(name + b"\0"):
            return struct.unpack_from("<Q", obj, header + 8)[0]
    raise AssertionError(f"no section {name!r}")


def test_objects_have_a_writable_stack_map_section():
    compiled = fluentai.driver.compile_source(NESTED, "p.fl")
    obj = aot.emit_object(compiled.llvm_ir, 2)
    assert section_flags(obj, b".llvm_stackmaps") & aot.SHF_WRITE
