"""Developer tools of the command line: `fluentai cache`, `--time-passes`, `-g` under gdb.

Like tests/test_cli.py, everything runs `python -m fluentai` in a subprocess with its own
cache directory.
"""
from __future__ import annotations

import os
import shutil
import re
import subprocess
import sys
import time

import pytest


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ)
    e["FLUENTAI_CACHE_DIR"] = str(tmp_path / "cache")
    e.pop("FLUENTAI_NO_CACHE", None)
    e.pop("FLUENTAI_CACHE_MAX_MB", None)
    return e


def fluentai(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "fluentai", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def _info(env) -> dict[str, str]:
    r = fluentai("cache", "info", env=env)
    assert r.returncode == 0, r.stderr
    return dict(line.split(":", 1) for line in r.stdout.splitlines())


# ---- fluentai cache ----

def test_cache_info_counts_entries_and_clear_empties_it(env, tmp_path):
    info = _info(env)
    assert info["cache directory"].strip() == str(tmp_path / "cache")
    assert info["entries"].strip() == "0"
    assert info["size limit"].strip().startswith(str(256 * 1024 * 1024))
    for i in range(2):
        assert fluentai("jit", "-e", f"(print-line {i})", env=env).stdout == f"{i}\n"
    info = _info(env)
    assert info["entries"].strip() == "2"
    size = int(info["size"].split()[0])
    on_disk = sum(p.stat().st_size for p in (tmp_path / "cache").iterdir())
    assert size == on_disk > 0
    r = fluentai("cache", "clear", env=env)
    assert r.returncode == 0 and r.stdout.startswith(f"removed 2 entries ({size} bytes)")
    assert _info(env)["entries"].strip() == "0"
    assert list((tmp_path / "cache").iterdir()) == []


def test_cache_evicts_the_least_recently_used_beyond_its_cap(env, tmp_path):
    cache = tmp_path / "cache"
    keys = []
    for i in range(3):
        before = {p.stem for p in cache.glob("*.json")}
        assert fluentai("jit", "-e", f"(print-line {i})", env=env).returncode == 0
        (new,) = {p.stem for p in cache.glob("*.json")} - before
        keys.append(new)
    now = time.time()     # explicit ages: mtimes of quick runs may tie
    for key, age in zip(keys, (300, 200, 100)):
        os.utime(cache / f"{key}.json", (now - age, now - age))
    # A hit refreshes its entry: program 0 is used again, so program 1 is now the oldest.
    assert fluentai("jit", "-e", "(print-line 0)", env=env).stdout == "0\n"
    one_entry = sum((cache / f"{keys[0]}{suffix}").stat().st_size for suffix in (".so", ".json"))
    env["FLUENTAI_CACHE_MAX_MB"] = str(3.5 * one_entry / (1024 * 1024))
    assert fluentai("jit", "-e", "(print-line 3)", env=env).stdout == "3\n"
    remaining = {p.stem for p in cache.glob("*.json")}
    assert keys[1] not in remaining and not (cache / f"{keys[1]}.so").exists()
    assert {keys[0], keys[2]} <= remaining and len(remaining) == 3


def test_cache_help_documents_the_location_and_the_cap():
    r = fluentai("cache", "--help")
    assert r.returncode == 0
    assert "FLUENTAI_CACHE_DIR" in r.stdout and "FLUENTAI_CACHE_MAX_MB" in r.stdout


# ---- --time-passes ----

def _pass_rows(stderr: str) -> list[str]:
    table = stderr[stderr.index("===== fluentai --time-passes ====="):]
    return [m.group(1) for m in re.finditer(r"^  (\S+)\s+\d+\.\d\d\s+\d+\.\d%$", table, re.M)]


def test_time_passes_lists_every_stage_for_jit_and_compile(env, tmp_path):
    from fluentai.ir.pipeline import PASS_NAMES
    stages = (["decode", "read", "parse", "resolve", "check-effects"] + PASS_NAMES
              + ["codegen", "llvm-optimize", "llvm-codegen"])
    (tmp_path / "p.fl").write_text("(define (sq x) (* x x))\n(print-line (sq 1.5))\n")
    for _ in range(2):      # the second run would be a cache hit: it still compiles
        r = fluentai("jit", "--time-passes", "p.fl", env=env, cwd=tmp_path)
        assert r.returncode == 0 and r.stdout == "2.25\n", r.stderr
        rows = _pass_rows(r.stderr)
        assert [row for row in rows if row in stages] == stages and rows[-1] == "total"
    r = fluentai("compile", "--time-passes", "p.fl", "-o", "p", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = _pass_rows(r.stderr)
    assert [row for row in rows if row in stages] == stages and "link" in rows
    assert subprocess.run([str(tmp_path / "p")], capture_output=True, text=True).stdout == "2.25\n"


def test_a_missing_libgc_is_reported_with_the_package_to_install(env, tmp_path):
    # -nostdinc hides /usr/include, so gc.h is not found: as on a machine without libgc-dev.
    env.update(XDG_CACHE_HOME=str(tmp_path / "xdg"), CC="cc -nostdinc")
    r = fluentai("jit", "-e", "(print-line 1)", env=env)
    assert r.returncode == 2, r.stderr
    assert "gc.h was not found" in r.stderr and "libgc-dev" in r.stderr
    assert "Traceback" not in r.stderr and "internal compiler error" not in r.stderr


# ---- -g under gdb ----

DEBUGGEE = """\
(define (square x)
  (* x x))

(define (sum-squares xs)
  (if (empty? xs)
      0
      (+ (square (head xs))
         (sum-squares (tail xs)))))

(define (report)
  (let ((total (sum-squares [1 2 3])))
    (print-line total)))
(report)
"""

needs_gdb = pytest.mark.skipif(shutil.which("gdb") is None,
                               reason="gdb is not installed (make setup installs Debian's gdb)")


def _gdb(tmp_path, *command, env=None):
    script = tmp_path / "commands.gdb"
    script.write_text("set breakpoint pending on\nbreak prog.fl:2\nrun\nbt\ndelete\ncontinue\n")
    r = subprocess.run(["gdb", "-batch", "-nx", "-x", str(script), "--args", *command],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    return r.stdout + r.stderr


def _assert_backtrace(output: str) -> None:
    assert re.search(r"Breakpoint 1[.\d]*, square \(\) at prog\.fl:2", output), output
    frames = re.findall(r"^#(\d+)\s+(?:0x[0-9a-f]+ in )?(\S+) \(\) at prog\.fl:(\d+)", output, re.M)
    assert [(name, line) for _, name, line in frames[:3]] == [
        ("square", "2"), ("sum-squares", "7"), ("report", "11")], output
    assert "14\n" in output         # and the program ran on to the end


@needs_gdb
@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_compile_g_lets_gdb_break_at_a_line_and_name_the_frames(env, tmp_path, opt):
    (tmp_path / "prog.fl").write_text(DEBUGGEE)
    r = fluentai("compile", "-g", opt, "prog.fl", "-o", "prog", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    _assert_backtrace(_gdb(tmp_path, "./prog"))


@needs_gdb
@pytest.mark.parametrize("cache", ["cache", "no-cache"])
def test_jit_g_is_debuggable_with_or_without_the_cache(env, tmp_path, cache):
    (tmp_path / "prog.fl").write_text(DEBUGGEE)
    flags = ["--no-cache"] if cache == "no-cache" else []
    _assert_backtrace(_gdb(tmp_path, sys.executable, "-m", "fluentai", "jit", "-g", *flags,
                           "prog.fl", env=env))
    if cache == "no-cache":
        assert not (tmp_path / "cache").exists()


def test_without_g_there_is_no_debug_info(env, tmp_path):
    (tmp_path / "prog.fl").write_text(DEBUGGEE)
    plain = fluentai("compile", "--emit-llvm", "prog.fl", env=env, cwd=tmp_path).stdout
    debug = fluentai("compile", "-g", "--emit-llvm", "prog.fl", env=env, cwd=tmp_path).stdout
    assert "!dbg" not in plain and "DICompileUnit" not in plain
    assert 'name: "sum-squares"' in debug and '"Debug Info Version"' in debug
