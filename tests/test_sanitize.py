"""Sanitizers, GC stress and resource limits (issue 12, items 3 and 5).

In: the compiler's command line, the runtime built normally or, under `make test-asan`, with
ASan + UBSan (FLUENTAI_SANITIZE=1, fluentai/backend/rt_build.py). Out: pytest items.

- Resource limits, always: a program that allocates without bound ends with our
  `out-of-memory` report under `jit`, in an executable and through the Python API (a small
  --max-heap keeps them fast); a runaway spawner gets a catchable `resource-limit` error.
- GC stress, always on a few cases and, under `make test-asan`, on every allocation-heavy
  golden case: the executable collects very often (FLUENTAI_GC_STRESS=1) and must still
  print exactly its golden output.
- The sanitizer build, only under `make test-asan` (the `sanitize` marker; skipped
  otherwise): a deliberate heap overflow is reported, so a green run means something.
  The golden cases themselves run under the sanitizers through tests/test_cases.py, which
  `make test-asan` runs in the sanitized environment.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fluentai.backend import rt_build
from test_cases import (CASES_DIR, REPO_ROOT, Case, CaseCrashed, discover_cases,
                        is_gc_stress_case, mismatches, run_command, _cli)

sanitized_only = pytest.mark.skipif(not rt_build.SANITIZE,
                                    reason="needs the sanitizer build: run `make test-asan`")

# Closures are allocation-heavy too; the GC_STRESS_PREFIXES of test_cases.py do not name them.
CLOSURE_CASES = ("form_lambda", "form_letrec", "form_named_let", "tail_closure")
# The always-run sample: a list, a map, strings, closures, tasks with channels and promises.
QUICK_STRESS_CASES = ("gc_short_lived", "lib_map_basic", "lib_str_split_join", "tail_closure",
                      "task_chan_buffered", "eff_state_basic")


def _stress_cases() -> list[str]:
    return [c.name for c in discover_cases()
            if is_gc_stress_case(c) or c.name in CLOSURE_CASES]


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None,
         timeout: int = 120) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    full_env.update(env or {})
    result = subprocess.run(argv, cwd=cwd, env=full_env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode >= 0, f"killed by signal {-result.returncode}:\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _fluentai(*args: str, cwd: Path, env: dict[str, str] | None = None):
    return _run([sys.executable, "-m", "fluentai", *args], cwd, env)


# ---------------------------------------------------------------------------------------------
# GC stress

def _gc_stress_aot(name: str, tmp_path: Path) -> None:
    case = Case(name)
    executable = tmp_path / name
    compiler_flags, program_args = (case.args, [])
    if "--" in case.args:
        split = case.args.index("--")
        compiler_flags, program_args = case.args[:split], case.args[split + 1:]
    try:
        compiled = run_command(_cli("compile", "-O2", case.file_name, "-o", str(executable),
                                    *compiler_flags), case)
        if compiled.status != 0:   # a compile-error case: its goldens say so
            ran = compiled
        else:
            ran = run_command([str(executable), *program_args], case, {"FLUENTAI_GC_STRESS": "1"})
            ran.stderr = compiled.stderr + ran.stderr
    except CaseCrashed as crash:
        pytest.fail(f"[gcstress-aot-O2] {crash}", pytrace=False)
    problems = mismatches(case, ran)
    if problems:
        pytest.fail(f"[gcstress-aot-O2] {name}.fl differs from its golden files\n"
                    f"reproduce: cd tests/cases && {ran.command}\n" + "\n".join(problems),
                    pytrace=False)


@pytest.mark.parametrize("name", QUICK_STRESS_CASES)
def test_gc_stress_sample(name: str, tmp_path: Path) -> None:
    assert (CASES_DIR / f"{name}.fl").is_file(), f"the sample names a missing case {name}"
    _gc_stress_aot(name, tmp_path)


@sanitized_only
@pytest.mark.parametrize("name", [n for n in _stress_cases() if n not in QUICK_STRESS_CASES])
def test_gc_stress_every_allocating_case(name: str, tmp_path: Path) -> None:
    _gc_stress_aot(name, tmp_path)


# ---------------------------------------------------------------------------------------------
# Out of memory

GROW_LIST = "(define (grow acc n) (grow (cons n acc) (+ n 1)))\n(grow [] 0)\n"
# `set` is the only call that allocates, so the limit is always hit there.
GROW_MAP = textwrap.dedent("""\
    (define (fill m i) (fill (set m i i) (+ i 1)))
    (print-line (handler ((error (lambda (e) "caught"))) (fill {} 0)))
    """)
OOM_HEADER = ("grow.fl:1:28: error[out-of-memory]: out of memory: the heap reached its limit of "
              "32 MiB")
OOM_CHAIN = ("  call chain, innermost first:\n"
             "    grow.fl:1:28 in `grow`\n"
             "    grow.fl:2:1 in the top level\n")


def _assert_oom_report(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(OOM_HEADER), result.stderr
    assert "(grow (cons n acc) (+ n 1))" in result.stderr
    assert result.stderr.endswith(OOM_CHAIN), result.stderr
    assert "GC Warning" not in result.stderr


def test_out_of_memory_under_jit(tmp_path: Path) -> None:
    (tmp_path / "grow.fl").write_text(GROW_LIST)
    _assert_oom_report(_fluentai("jit", "--max-heap", "32M", "grow.fl", cwd=tmp_path))


def test_out_of_memory_in_an_executable(tmp_path: Path) -> None:
    (tmp_path / "grow.fl").write_text(GROW_LIST)
    assert _fluentai("compile", "grow.fl", "-o", "grow", cwd=tmp_path).returncode == 0
    _assert_oom_report(_run([str(tmp_path / "grow")], tmp_path, {"FLUENTAI_MAX_HEAP": "32M"}))


def test_out_of_memory_is_not_caught_by_handlers(tmp_path: Path) -> None:
    (tmp_path / "map.fl").write_text(GROW_MAP)
    result = _fluentai("jit", "--max-heap", "24M", "map.fl", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("map.fl:1:26: error[out-of-memory]: out of memory: the heap "
                                    "reached its limit of 24 MiB"), result.stderr


def test_out_of_memory_through_the_api_leaves_python_running(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""\
        import os
        os.environ["FLUENTAI_MAX_HEAP"] = "32M"
        import fluentai
        try:
            fluentai.run({GROW_LIST!r}, filename="grow.fl")
        except fluentai.FluentAIError as error:
            print("raised", error.type)
        print("after", fluentai.run("(length (range 0 100000))"))
        """)
    result = _run([sys.executable, "-c", script], tmp_path)
    assert (result.returncode, result.stdout) == (0, "raised out-of-memory\nafter 100000\n"), \
        result.stderr


def test_bad_heap_limits_are_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "grow.fl").write_text(GROW_LIST)
    result = _fluentai("jit", "--max-heap", "lots", "grow.fl", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (
        2, "fluentai: error: --max-heap lots: not a size (e.g. 512M or 2G)\n")
    assert _fluentai("compile", "grow.fl", "-o", "grow", cwd=tmp_path).returncode == 0
    result = _run([str(tmp_path / "grow")], tmp_path, {"FLUENTAI_MAX_HEAP": "0"})
    assert (result.returncode, result.stderr) == (
        2, "fluentai: error: FLUENTAI_MAX_HEAP=0 is not a valid size (e.g. 512M or 2G)\n")


def test_size_grammar_and_default_limits() -> None:
    ffi, lib = rt_build.load_runtime()
    sizes = {b"64M": 64 << 20, b"2G": 2 << 30, b"1.5GiB": 3 << 29, b"512k": 512 << 10,
             b"100": 100, b"8MB": 8 << 20, b"": -1, b"M": -1, b"-1M": -1, b"3X": -1}
    assert {text: lib.fl_parse_size(text) for text in sizes} == sizes
    default_heap = lib.fl_max_heap()
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < default_heap <= pages * 3 // 4
    try:
        lib.fl_set_max_heap(64 << 20)
        assert (lib.fl_max_heap(), lib.fl_max_tasks()) == (64 << 20, 10_000)
        lib.fl_set_max_heap(1 << 40)
        assert lib.fl_max_tasks() == 1_000_000
        lib.fl_set_max_tasks(5)
        assert lib.fl_max_tasks() == 5
    finally:
        lib.fl_set_max_tasks(0)
        lib.fl_set_max_heap(0)
    assert lib.fl_max_heap() == default_heap


# ---------------------------------------------------------------------------------------------
# The task limit

RUNAWAY_SPAWNER = textwrap.dedent("""\
    (define ch (chan))
    (define (spawn-forever n)
      (spawn (lambda () (recv! ch)))
      (when (= 0 (mod n 100)) (time:sleep 0))
      (spawn-forever (+ n 1)))
    (print-line (handler ((error (lambda (e) (get e "type")))) (spawn-forever 0)))
    (spawn-forever 0)
    """)


def test_runaway_task_count_is_a_resource_limit_error(tmp_path: Path) -> None:
    (tmp_path / "spawn.fl").write_text(RUNAWAY_SPAWNER)
    result = _fluentai("jit", "spawn.fl", cwd=tmp_path, env={"FLUENTAI_MAX_TASKS": "2000"})
    assert result.returncode == 1
    assert result.stdout == "resource-limit\n"
    assert result.stderr == (
        "spawn.fl:3:3: error[resource-limit]: too many tasks: 2000 are alive, the limit is 2000 "
        "(FLUENTAI_MAX_TASKS)\n"
        "    3 |   (spawn (lambda () (recv! ch)))\n"
        "      |   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "  call chain, innermost first:\n"
        "    spawn.fl:3:3 in `spawn-forever`\n"
        "    spawn.fl:7:1 in the top level\n")


def test_finished_tasks_do_not_count_against_the_limit(tmp_path: Path) -> None:
    (tmp_path / "many.fl").write_text(
        "(define (run i) (when (< i 5000) (await (spawn (lambda () i))) (run (+ i 1))))\n"
        "(run 0)\n(print-line \"done\")\n")
    result = _fluentai("jit", "many.fl", cwd=tmp_path, env={"FLUENTAI_MAX_TASKS": "10"})
    assert (result.returncode, result.stdout, result.stderr) == (0, "done\n", "")


# ---------------------------------------------------------------------------------------------
# The sanitizer build

def test_sanitizer_build_needs_its_runtimes_preloaded(tmp_path: Path) -> None:
    env = {"FLUENTAI_SANITIZE": "1", "LD_PRELOAD": "", "ASAN_OPTIONS": ""}
    result = _fluentai("jit", "-e", "(print-line 1)", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "FLUENTAI_SANITIZE=1 needs the sanitizer runtimes loaded first" in result.stderr


def test_sanitizer_variant_has_its_own_cache_directory(tmp_path: Path) -> None:
    probe = ("from fluentai.backend import rt_build as r; "
             "print(r.VARIANT, '-fsanitize=address,undefined' in r.EXTENSION_FLAGS)")
    plain = _run([sys.executable, "-c", probe], tmp_path, {"FLUENTAI_SANITIZE": ""})
    sanitized = _run([sys.executable, "-c", probe], tmp_path, {"FLUENTAI_SANITIZE": "1"})
    assert (plain.stdout, sanitized.stdout) == (" False\n", "asan- True\n")


HEAP_OVERFLOW_C = textwrap.dedent("""\
    #include "fluentai.h"
    int main(void)
    {
        char *p = fl_malloc_or_die(16);
        p[16] = 1;   /* one past the end: ASan must stop here */
        return p[0];
    }
    """)


# 3,000 tasks alive at once: twelve slabs of fiber stacks, whose ASan shadow (an eighth of
# 256 x 8 MB each) stayed resident after every run until fl_stack_unpoison dropped the shadow
# pages instead of writing zeros over them: 3 GB per run of this program, 10 GB for
# task_stress_pipeline.
MANY_LIVE_TASKS = """
(define gate (chan))
(define tasks (map (lambda (i) (go (recv! gate) i)) (range 0 3000)))
(for-each (lambda (t) (send! gate 0)) tasks)
(print-line (fold + 0 (map (lambda (t) (await t)) tasks)))
"""


@sanitized_only
def test_fiber_stacks_give_their_shadow_back_between_runs(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""\
        import fluentai
        def resident_mb():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
        fluentai.run("(+ 1 2)")
        before = resident_mb()
        for _ in range(2):
            fluentai.run({MANY_LIVE_TASKS!r}, filename="tasks.fl")
        print("grew", resident_mb() - before)
        """)
    result = _run([sys.executable, "-c", script], tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["4498500"] * 2, result.stdout
    assert int(lines[2].split()[1]) < 512, result.stdout


@sanitized_only
def test_sanitizer_reports_a_heap_overflow(tmp_path: Path) -> None:
    source = tmp_path / "overflow.c"
    source.write_text(HEAP_OVERFLOW_C)
    archive = rt_build.static_runtime_archive(2)
    executable = tmp_path / "overflow"
    subprocess.run([rt_build.c_compiler(), *rt_build.SANITIZE_FLAGS, "-I", str(rt_build.runtime_c_dir()),
                    str(source), str(archive), *rt_build.link_libraries(), "-o", str(executable)],
                   check=True, capture_output=True)
    result = subprocess.run([str(executable)], capture_output=True, text=True, timeout=60)
    assert result.returncode == rt_build.SANITIZER_EXIT_STATUS
    assert "ERROR: AddressSanitizer: heap-buffer-overflow" in result.stderr
