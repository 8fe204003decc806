"""The command line (LANGUAGE.md section 11): exit statuses, --emit-*, compile, bench, the cache.

Everything runs `python -m fluentai` in a subprocess, as a user would, with its own cache
directory so the tests neither see nor disturb the user's cache.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

HELLO = '(io:print "hello" (+ 1 2))\n'


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ)
    e["FLUENTAI_CACHE_DIR"] = str(tmp_path / "cache")
    e.pop("FLUENTAI_NO_CACHE", None)
    return e


def fluentai(*args, env=None, cwd=None, stdin=None):
    return subprocess.run([sys.executable, "-m", "fluentai", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, input=stdin, timeout=300)


def test_no_command_is_a_usage_error():
    r = fluentai()
    assert r.returncode == 2 and "usage" in r.stderr.lower()


def test_help_mentions_every_command():
    r = fluentai("--help")
    assert r.returncode == 0
    for command in ("jit", "compile", "bench"):
        assert command in r.stdout


def test_jit_expression_and_print_value(env):
    r = fluentai("jit", "-e", "(+ 1 2)", "--print-value", env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, "3\n", "")


def test_missing_file_is_a_clear_error(env):
    r = fluentai("jit", "no-such-file.fl", env=env)
    assert r.returncode == 2
    assert "cannot read no-such-file.fl" in r.stderr and "Traceback" not in r.stderr


def test_exit_statuses(tmp_path, env):
    cases = {"ok.fl": (HELLO, 0), "compile.fl": ("(+ 1", 2), "runtime.fl": ("(/ 1 0)", 1),
             "exit.fl": ("(exit 7)", 7)}
    for name, (source, status) in cases.items():
        (tmp_path / name).write_text(source)
        r = fluentai("jit", name, env=env, cwd=tmp_path)
        assert r.returncode == status, (name, r.stderr)
        assert "Traceback" not in r.stderr


def test_emit_ir_and_llvm(tmp_path, env):
    (tmp_path / "p.fl").write_text(HELLO)
    ir = fluentai("jit", "--emit-ir", "p.fl", env=env, cwd=tmp_path)
    assert ir.returncode == 0 and "function @fl_program_entry" in ir.stdout
    ll = fluentai("jit", "--emit-llvm", "p.fl", env=env, cwd=tmp_path)
    assert ll.returncode == 0 and 'define i64 @"fl_program_entry"' in ll.stdout
    dumped = fluentai("jit", "--dump-after", "lower", "p.fl", env=env, cwd=tmp_path)
    assert dumped.returncode == 0 and "perform io:print" in dumped.stdout


def test_the_cache_is_used_then_survives_corruption(tmp_path, env):
    (tmp_path / "p.fl").write_text(HELLO)
    first = fluentai("jit", "p.fl", env=env, cwd=tmp_path)
    assert first.stdout == "hello 3\n"
    programs = list((tmp_path / "cache").glob("*.so"))
    assert len(programs) == 1 and len(list((tmp_path / "cache").glob("*.json"))) == 1
    stamp = programs[0].stat().st_mtime_ns
    second = fluentai("jit", "p.fl", env=env, cwd=tmp_path)
    assert second.stdout == "hello 3\n" and programs[0].stat().st_mtime_ns == stamp
    size = programs[0].stat().st_size
    programs[0].write_bytes(programs[0].read_bytes()[:100])      # truncated
    third = fluentai("jit", "p.fl", env=env, cwd=tmp_path)
    assert (third.returncode, third.stdout) == (0, "hello 3\n")
    assert programs[0].stat().st_size == size                    # rebuilt
    nocache = dict(env, FLUENTAI_NO_CACHE="1")
    (tmp_path / "q.fl").write_text(HELLO)
    assert fluentai("jit", "q.fl", env=nocache, cwd=tmp_path).stdout == "hello 3\n"
    assert fluentai("jit", "--no-cache", "q.fl", env=env, cwd=tmp_path).stdout == "hello 3\n"
    assert len(list((tmp_path / "cache").glob("*.so"))) == 1


def test_the_cache_is_keyed_by_flags_and_source(tmp_path, env):
    (tmp_path / "p.fl").write_text(HELLO)
    fluentai("jit", "p.fl", env=env, cwd=tmp_path)
    pv = fluentai("jit", "--print-value", "p.fl", env=env, cwd=tmp_path)
    assert pv.stdout == "hello 3\nnil\n"
    fluentai("jit", "-O0", "p.fl", env=env, cwd=tmp_path)
    (tmp_path / "p.fl").write_text('(io:print "changed")')
    assert fluentai("jit", "p.fl", env=env, cwd=tmp_path).stdout == "changed\n"
    assert len(list((tmp_path / "cache").glob("*.so"))) == 4


def test_cached_runs_replay_warnings(tmp_path, env):
    (tmp_path / "w.fl").write_text("(define (add a b) (+ a b))\n(define (g) (add 1))\n(io:print 1)\n")
    runs = [fluentai("jit", "w.fl", env=env, cwd=tmp_path) for _ in range(2)]
    assert runs[0].stderr == runs[1].stderr and "warning[arity-error]" in runs[0].stderr


def test_compile_executable_object_and_asm(tmp_path, env):
    (tmp_path / "p.fl").write_text(HELLO)
    r = fluentai("compile", "p.fl", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    run = subprocess.run([str(tmp_path / "p")], capture_output=True, text=True, env={})
    assert run.stdout == "hello 3\n"
    obj = fluentai("compile", "-c", "p.fl", "-o", "p.o", env=env, cwd=tmp_path)
    assert obj.returncode == 0 and (tmp_path / "p.o").read_bytes()[:4] == b"\x7fELF"
    asm = fluentai("compile", "--emit-asm", "p.fl", env=env, cwd=tmp_path)
    assert asm.returncode == 0 and "fl_program_entry" in asm.stdout


def test_compile_to_an_unwritable_path_is_a_clear_error(tmp_path, env):
    (tmp_path / "p.fl").write_text(HELLO)
    r = fluentai("compile", "p.fl", "-o", "/nonexistent-dir/p", env=env, cwd=tmp_path)
    assert r.returncode == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr


def test_compile_without_a_c_compiler_says_so(tmp_path, env):
    (tmp_path / "p.fl").write_text(HELLO)
    r = fluentai("compile", "p.fl", env=dict(env, CC="no-such-cc"), cwd=tmp_path)
    assert r.returncode == 2 and "no C compiler found" in r.stderr
    ok = fluentai("compile", "-c", "p.fl", env=dict(env, CC="no-such-cc"), cwd=tmp_path)
    assert ok.returncode == 0 and (tmp_path / "p.o").exists()


def test_bench_reports_times_and_a_ratio(tmp_path, env):
    (tmp_path / "p.fl").write_text(HELLO)
    r = fluentai("bench", "p.fl", "-n", "2", "--vs", "true", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "compiled p.fl" in r.stdout and "median" in r.stdout and "ratio of medians" in r.stdout


def test_repl_keeps_definitions_and_survives_errors(env):
    script = ("(define (sq x) (* x x))\n(sq 12)\n(define xs\n  [1 2\n   3])\n(map sq xs)\n"
              "(head [])\n(define (sq x) (+ x 1))\n(sq 12)\n(io:print \"hi\")\n(exit 4)\n")
    r = fluentai("repl", env=env, stdin=script)
    assert r.stdout == "144\n[1 4 9]\n13\nhi\n"
    assert "error[empty-list]: `head` of an empty list" in r.stderr
    assert r.returncode == 4 and "Traceback" not in r.stderr
