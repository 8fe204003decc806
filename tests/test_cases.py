"""Golden tests: every program in tests/cases/ run in every execution mode.

In: `tests/cases/<name>.fl` with `<name>.out` (expected stdout, exact), and optionally
`<name>.err` (expected stderr, exact; absent means empty), `<name>.status` (expected exit
status, default 0), `<name>.args` (one line of extra CLI arguments, shell-split, e.g.
`--print-value` or `-- a b`) and `<name>.stdin` (fed to standard input).
Out: one pytest item per (case, mode), named `test_case[<name>@<mode>]`, so
`-k 'lib_map_ and jit-O0'` selects a slice.

Cases run with cwd = tests/cases and the bare file name, so reports say `x.fl:3:1`. The
command-line modes run in a subprocess: a signal death, a Python traceback on stderr or a run
longer than CASE_TIMEOUT_S is a failure with its own message, never a crashed or stuck suite.
The in-process mode exercises `fluentai.run_file` and compares stdout only.

With `--update-goldens` the jit-O2 run rewrites the expected files instead of comparing
(a crash, a traceback or a hang is still a failure and writes nothing).
"""
from __future__ import annotations

import contextlib
import ctypes
import difflib
import faulthandler
import os
import shlex
import signal
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = REPO_ROOT / "tests" / "cases"
CASE_TIMEOUT_S = 60

# Cases run once more with the runtime collecting very often (FLUENTAI_GC_STRESS=1): every
# `gc_*` case, plus small cases that keep many heap objects alive across allocations (lists,
# nested maps, strings, data values). `deep_*` stays out: a full collection every few thousand
# allocations over a 10^6-frame stack would take minutes.
GC_STRESS_PREFIXES = ("gc_", "list_", "lib_list_", "lib_map_", "lib_str_", "data_", "match_", "task_",
                      "eff_", "dom_")


# ---------------------------------------------------------------------------------------------
# Cases


@dataclass(frozen=True)
class Case:
    name: str

    def _path(self, suffix: str) -> Path:
        return CASES_DIR / f"{self.name}{suffix}"

    @property
    def file_name(self) -> str:
        return f"{self.name}.fl"

    def _optional_bytes(self, suffix: str) -> bytes | None:
        path = self._path(suffix)
        return path.read_bytes() if path.exists() else None

    @property
    def expected_stdout(self) -> bytes | None:
        """None when the case has no .out yet (a failure unless goldens are being updated)."""
        return self._optional_bytes(".out")

    @property
    def expected_stderr(self) -> bytes:
        return self._optional_bytes(".err") or b""

    @property
    def expected_status(self) -> int:
        text = self._optional_bytes(".status")
        return int(text.decode().strip()) if text else 0

    @property
    def args(self) -> list[str]:
        """The `.args` words; `@HTTP@` stands for the base URL of the test's own HTTP server
        (tests/http_fixture.py) and `@CLOSED@` for a loopback URL nothing listens on."""
        text = self._optional_bytes(".args")
        if not text:
            return []
        words = shlex.split(text.decode())
        if any("@HTTP@" in w or "@CLOSED@" in w for w in words):
            from http_fixture import base_url, closed_port_url
            words = [w.replace("@HTTP@", base_url()).replace("@CLOSED@", closed_port_url())
                     for w in words]
        return words

    @property
    def stdin(self) -> bytes | None:
        return self._optional_bytes(".stdin")

    def write_goldens(self, outcome: "Outcome") -> None:
        """Rewrite .out always; .err and .status only when they differ from their defaults."""
        self._path(".out").write_bytes(outcome.stdout)
        _write_or_remove(self._path(".err"), outcome.stderr if outcome.stderr else None)
        status = f"{outcome.status}\n".encode() if outcome.status != 0 else None
        _write_or_remove(self._path(".status"), status)


def _write_or_remove(path: Path, content: bytes | None) -> None:
    if content is not None:
        path.write_bytes(content)
    elif path.exists():
        path.unlink()


def discover_cases() -> list[Case]:
    return [Case(path.stem) for path in sorted(CASES_DIR.glob("*.fl"))]


def is_gc_stress_case(case: Case) -> bool:
    # `*_big` cases hold 10^5..10^6 live objects: a full collection every few thousand
    # allocations over them takes minutes; the gc_* cases cover big heaps under stress.
    if case.name.startswith("gc_"):
        return True
    return case.name.startswith(GC_STRESS_PREFIXES) and "_big" not in case.name


# ---------------------------------------------------------------------------------------------
# Running a case


@dataclass
class Outcome:
    stdout: bytes
    stderr: bytes
    status: int
    command: str                      # how to reproduce it, from tests/cases
    compares_stdout_only: bool = False


class CaseCrashed(Exception):
    """The run died in a way no expected output can describe (signal, traceback, hang)."""


# Cases whose subprocess run died of a signal in this session. Their in-process run is skipped:
# the same fault would kill pytest itself and lose every report collected so far.
_CASES_KILLED_BY_SIGNAL: set[str] = set()


@dataclass
class RunContext:
    """Per-test fixtures that some modes need."""
    tmp_path: Path
    capfd: pytest.CaptureFixture[bytes]
    monkeypatch: pytest.MonkeyPatch


def _subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    # FLUENTAI_GC_STRESS=1 set in the developer's shell is inherited on purpose: every mode
    # then runs under GC stress
    env = dict(os.environ)
    # `python -m fluentai` must find this checkout even when it is not installed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_command(argv: list[str], case: Case, extra_env: dict[str, str] | None = None) -> Outcome:
    extra_env = extra_env or {}
    env_prefix = "".join(f"{name}={shlex.quote(value)} " for name, value in extra_env.items())
    command = env_prefix + shlex.join(argv)
    try:
        completed = subprocess.run(
            argv, cwd=CASES_DIR, env=_subprocess_env(extra_env),
            input=case.stdin, stdin=None if case.stdin is not None else subprocess.DEVNULL,
            capture_output=True, timeout=CASE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise CaseCrashed(
            f"`{command}` did not finish within {CASE_TIMEOUT_S} s (a hang?)") from None
    outcome = Outcome(completed.stdout, completed.stderr, completed.returncode, command)
    _reject_crashes(case, outcome)
    return outcome


def _reject_crashes(case: Case, outcome: Outcome) -> None:
    if outcome.status < 0:
        _CASES_KILLED_BY_SIGNAL.add(case.name)
        signal_name = signal.Signals(-outcome.status).name
        raise CaseCrashed(f"`{outcome.command}` was killed by {signal_name}\n"
                          f"--- stderr ---\n{_text(outcome.stderr)}")
    if b"Traceback (most recent call last)" in outcome.stderr:
        raise CaseCrashed(f"`{outcome.command}` let a Python traceback reach the user\n"
                          f"--- stderr ---\n{_text(outcome.stderr)}")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "fluentai", *args]


def run_jit(case: Case, opt: str, extra_env: dict[str, str] | None = None) -> Outcome:
    return run_command(_cli("jit", opt, case.file_name, *case.args), case, extra_env)


def run_aot(case: Case, opt: str, ctx: RunContext) -> Outcome:
    """Compile to an executable, then run it; compile-time output comes first, as in the JIT.

    `.args` splits at `--`: what precedes it are compiler flags (`--print-value`), what follows
    it are the program's own arguments.
    """
    compiler_flags, program_args = _split_at_double_dash(case.args)
    executable = ctx.tmp_path / case.name
    compiled = run_command(
        _cli("compile", opt, case.file_name, "-o", str(executable), *compiler_flags), case)
    if compiled.status != 0:
        return compiled
    ran = run_command([str(executable), *program_args], case)
    return Outcome(ran.stdout, compiled.stderr + ran.stderr, ran.status,
                   f"{compiled.command} && {ran.command}")


def _split_at_double_dash(args: list[str]) -> tuple[list[str], list[str]]:
    if "--" not in args:
        return args, []
    split = args.index("--")
    return args[:split], args[split + 1:]


def run_in_process(case: Case, ctx: RunContext) -> Outcome:
    """`fluentai.run_file` in this interpreter; stdout is read back from file descriptor 1."""
    import fluentai

    if case.name in _CASES_KILLED_BY_SIGNAL:
        pytest.skip("its command-line run died of a signal; not repeated inside pytest")
    ctx.monkeypatch.chdir(CASES_DIR)
    ctx.capfd.readouterr()
    call = f'fluentai.run_file("{case.file_name}", opt=2)'
    command = f"python -c 'import fluentai; {call}'"
    # compiled under the case's name so that a fatal signal's stack dump names the case
    run_call = compile(call, f"<in-process run of {case.file_name}>", "eval")
    status = 0
    try:
        with _in_process_timeout(command):
            eval(run_call, {"fluentai": fluentai})
    except CaseCrashed:
        raise
    except fluentai.ProgramExit as exit_:   # (exit n): the API's way to say so
        status = exit_.code
    except Exception as error:  # any escape from the API is the failure being reported
        trace = "".join(traceback.format_exception(error))
        raise CaseCrashed(f"`{command}` raised {type(error).__name__}\n{trace}") from None
    finally:
        _flush_c_stdio()
    captured = ctx.capfd.readouterr()
    return Outcome(captured.out, captured.err, status, command,
                   compares_stdout_only=True)


class _InProcessTimeout(Exception):
    pass


@contextlib.contextmanager
def _in_process_timeout(command: str) -> Iterator[None]:
    """SIGALRM fails a hang in Python code; a hang inside JIT-compiled code never returns to the
    interpreter, so faulthandler's watchdog thread then dumps the stacks and ends the process
    (a failed CI run rather than a stuck one)."""
    def on_alarm(signum, frame):
        raise _InProcessTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(CASE_TIMEOUT_S)
    faulthandler.dump_traceback_later(CASE_TIMEOUT_S + 30, exit=True)
    try:
        yield
    except _InProcessTimeout:
        raise CaseCrashed(
            f"`{command}` did not finish within {CASE_TIMEOUT_S} s (a hang?)") from None
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _flush_c_stdio() -> None:
    """The runtime prints through C stdio; flush it so capfd sees everything."""
    sys.stdout.flush()
    ctypes.CDLL(None).fflush(None)


# ---------------------------------------------------------------------------------------------
# Modes


@dataclass(frozen=True)
class Mode:
    name: str
    run: Callable[[Case, RunContext], Outcome]
    applies_to: Callable[[Case], bool] = field(default=lambda case: True)


def _plain_run(case: Case) -> bool:
    """The API mode takes no CLI arguments and cannot feed stdin; it expects success."""
    return case.expected_status == 0 and not case.args and case.stdin is None


GOLDEN_MODE = "jit-O2"

MODES: list[Mode] = [
    Mode("jit-O2", lambda case, ctx: run_jit(case, "-O2")),
    Mode("jit-O0", lambda case, ctx: run_jit(case, "-O0")),
    Mode("api-O2", run_in_process, applies_to=_plain_run),
    Mode("gcstress-jit-O2", lambda case, ctx: run_jit(case, "-O2", {"FLUENTAI_GC_STRESS": "1"}),
         applies_to=is_gc_stress_case),
]
MODES += [Mode("aot-O2", lambda case, ctx: run_aot(case, "-O2", ctx)),
          Mode("aot-O0", lambda case, ctx: run_aot(case, "-O0", ctx))]


def _parameters() -> list:
    return [pytest.param(case, mode, id=f"{case.name}@{mode.name}")
            for case in discover_cases() for mode in MODES if mode.applies_to(case)]


# ---------------------------------------------------------------------------------------------
# Comparison


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="backslashreplace")


def _diff(what: str, expected: bytes, actual: bytes) -> str:
    lines = difflib.unified_diff(
        _text(expected).splitlines(keepends=True), _text(actual).splitlines(keepends=True),
        fromfile=f"expected {what}", tofile=f"actual {what}")
    # a difference only in the final newline is invisible in a plain diff
    return "".join(line if line.endswith("\n") else line + "\t(no newline at end)\n"
                   for line in lines)


def mismatches(case: Case, outcome: Outcome) -> list[str]:
    expected_stdout = case.expected_stdout
    if expected_stdout is None:
        return [f"{case.name}.out is missing: write it, or run pytest --update-goldens"]
    problems = []
    if outcome.stdout != expected_stdout:
        problems.append(_diff("stdout", expected_stdout, outcome.stdout))
    if outcome.status != case.expected_status:
        problems.append(f"exit status: expected {case.expected_status}, got {outcome.status}")
    if outcome.compares_stdout_only:
        return problems
    if outcome.stderr != case.expected_stderr:
        problems.append(_diff("stderr", case.expected_stderr, outcome.stderr))
    return problems


@pytest.mark.parametrize(("case", "mode"), _parameters())
def test_case(case: Case, mode: Mode, update_goldens: bool, tmp_path: Path,
              capfdbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        outcome = mode.run(case, RunContext(tmp_path, capfdbinary, monkeypatch))
    except CaseCrashed as crash:
        outcome, crash_report = None, f"[{mode.name}] {crash}"
    if outcome is None:  # failing outside the except block keeps the report free of chaining
        pytest.fail(crash_report, pytrace=False)
    if update_goldens and mode.name == GOLDEN_MODE:
        case.write_goldens(outcome)
        return
    problems = mismatches(case, outcome)
    if problems:
        report = "\n".join(problems)
        pytest.fail(f"[{mode.name}] {case.name}.fl differs from its golden files\n"
                    f"reproduce: cd tests/cases && {outcome.command}\n{report}", pytrace=False)
