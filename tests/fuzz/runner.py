"""Run one FluentAI source in every execution mode and judge the results.

In: source text (a generated program or a mutant) and a scratch directory.
Out: `Run`s (stdout, stderr, exit status, or a hang) per mode, and verdicts:
- `crash_of(run)`: why a run is a crash whatever the program (a signal death, a Python
  traceback, exit 70 = internal compiler error, a hang, an unlocated error report);
- `differential(source, expected)`: a `Verdict` for a generated program: a crash in any mode,
  a mismatch between modes (stdout, stderr and status must be identical), or a mismatch against
  the reference (stdout, status, and an uncaught error's type and line).

The modes are `jit -O0`, `jit -O2` (both `--no-cache`: every program is new) and `compile -O0`,
`compile -O2` followed by running the executable. The compiler runs as `python -m fluentai`
of this checkout, like the golden tests; a campaign worker calls `preload()` once, and from
then on each compiler run is a `fork` of the worker that runs the same `fluentai` entry point
with its own argv, working directory, stdin and output files: a fresh process every time (no
state carries from one run to the next), without the ~0.25 s of interpreter start-up, imports
and lark grammar construction per run (docs/testing.md "Campaign throughput"). Executables
always run as subprocesses.
"""
from __future__ import annotations

import ctypes
import os
import re
import select
import signal
import subprocess
import sys
import importlib
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MODES = ("jit-O0", "jit-O2", "aot-O0", "aot-O2")
TIMEOUT_S = 30
PROGRAM_FILE = "prog.fl"

_ANY_ERROR = re.compile(r"error\[[^\]]+\]")


@dataclass
class Run:
    mode: str
    stdout: bytes
    stderr: bytes
    status: int | None          # None: killed after TIMEOUT_S (a hang)
    command: str
    cpu: float | None = None    # user + system seconds of the run and its children

    def key(self):
        return (self.stdout, self.stderr, self.status)


@dataclass
class Verdict:
    kind: str                   # "ok", "crash", "mode-mismatch", "ref-mismatch"
    detail: str = ""
    runs: list | None = None

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def run_argv(argv: list[str], cwd: Path, mode: str, stdin: bytes = b"",
             timeout: float = TIMEOUT_S) -> Run:
    command = " ".join(argv)
    with tempfile.TemporaryFile() as inp, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as err:
        inp.write(stdin)
        inp.seek(0)
        child = subprocess.Popen(argv, cwd=cwd, env=_env(), stdin=inp, stdout=out, stderr=err,
                                 process_group=0)
        status, cpu = _wait(child.pid, timeout)
        child.returncode = -1           # reaped by _wait: Popen must not wait for it again
        out.seek(0)
        err.seek(0)
        return Run(mode, out.read(), err.read(), status, command, cpu)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "fluentai", *args]


_preloaded = False


def preload() -> None:
    """Import the compiler into this process and build what every run builds first (the
    reader's grammar, LLVM's target registration), so that `run_cli` forks from here. Only
    for a single-threaded process (a campaign worker): a fork copies just the calling thread.
    The runtime library is not loaded: each run's process initialises it (and its GC) itself."""
    global _preloaded
    sys.path.insert(0, str(REPO_ROOT))
    for name in ("fluentai.cli", "fluentai.driver", "fluentai.backend.aot",
                 "fluentai.backend.codegen", "fluentai.backend.jit", "fluentai.ir.pipeline"):
        importlib.import_module(name)
    importlib.import_module("fluentai.frontend.reader")._scanner()
    importlib.import_module("fluentai.backend.llvm_passes").initialize()
    _preloaded = True


def run_cli(args: list[str], cwd: Path, mode: str, timeout: float = TIMEOUT_S) -> Run:
    """`python -m fluentai ARGS` in `cwd` with an empty stdin: a fork of this process once
    `preload` ran, else a subprocess."""
    if not _preloaded:
        return run_argv(_cli(*args), cwd, mode, timeout=timeout)
    command = " ".join(_cli(*args))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:                                     # the child: never returns
            _child_cli(args, cwd, out.fileno(), err.fileno())
        status, cpu = _wait(pid, timeout)
        out.seek(0)
        err.seek(0)
        return Run(mode, out.read(), err.read(), status, command, cpu)


def _child_cli(args, cwd, out_fd, err_fd):
    code = 1
    try:
        os.setpgid(0, 0)                # a timeout kills the run and what it started (cc)
        os.chdir(cwd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        # The worker's own sys.stdout/stderr may not be fds 1 and 2 (pytest's capture).
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.argv = [str(REPO_ROOT / "fluentai" / "__main__.py"), *args]
        from fluentai.cli import entry
        try:
            entry()
            code = 0
        except SystemExit as done:
            if done.code is None or isinstance(done.code, int):
                code = done.code or 0
            else:
                sys.stderr.write(f"{done.code}\n")
    except BaseException:                 # what the interpreter would print, and its status
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            ctypes.CDLL(None).fflush(None)   # the runtime's C stdio, as exit() would
        finally:
            os._exit(code)


# A hang is judged by CPU time, not only wall time: on a loaded machine (a campaign at nice 19
# beside other work) a run may get a tenth of a core, and a 30 s wall-clock limit then killed
# a program that needed 1 s of CPU (seed 201435 of the third long campaign). After `timeout`
# seconds of wall time the run is a hang once it has used HANG_CPU_SHARE of that in CPU time
# (a loop), or after HANG_WALL_FACTOR times the timeout whatever it used (a blocked wait).
HANG_CPU_SHARE = 1 / 3
HANG_WALL_FACTOR = 10
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system time of `pid` and of the children it waited for (cc), from /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / _TICK


def _wait(pid: int, timeout: float) -> tuple[int | None, float]:
    """The child's exit status as `subprocess` gives it (-N: killed by signal N), or None
    for a hang (see HANG_CPU_SHARE; the child and its process group are killed), and the CPU
    seconds it used, its waited-for children included."""
    fd = os.pidfd_open(pid)
    try:
        ready = select.select([fd], [], [], timeout)[0]
        waited = timeout
        while not ready and waited < timeout * HANG_WALL_FACTOR \
                and cpu_seconds(pid) < timeout * HANG_CPU_SHARE:
            ready = select.select([fd], [], [], 1.0)[0]
            waited += 1.0
        if not ready:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, _, usage = os.wait4(pid, 0)
            return None, usage.ru_utime + usage.ru_stime
    finally:
        os.close(fd)
    _, status, usage = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime


def run_mode(mode: str, workdir: Path) -> Run:
    kind, opt = mode.split("-")
    if kind == "jit":
        return run_cli(["jit", "--no-cache", f"-{opt}", PROGRAM_FILE], workdir, mode)
    exe = f"prog-{opt}"
    compiled = run_cli(["compile", f"-{opt}", PROGRAM_FILE, "-o", exe], workdir, mode)
    if compiled.status != 0:
        return compiled
    ran = run_argv([f"./{exe}"], workdir, mode)
    (workdir / exe).unlink(missing_ok=True)
    return Run(mode, ran.stdout, compiled.stderr + ran.stderr, ran.status,
               f"{compiled.command} && {ran.command}")


def run_all(source: bytes, workdir: Path, modes=MODES) -> list[Run]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / PROGRAM_FILE).write_bytes(source)
    return [run_mode(mode, workdir) for mode in modes]


def crash_of(run: Run) -> str | None:
    """Why `run` is a failure whatever the program was, or None."""
    if run.status is None:
        return (f"hang: no answer within {TIMEOUT_S} s of wall time and "
                f"{TIMEOUT_S * HANG_CPU_SHARE:.0f} s of CPU time")
    if run.status < 0 or run.status in (134, 139):
        return f"crash: exit status {run.status}"
    if b"Traceback (most recent call last)" in run.stderr:
        return "traceback"
    if run.status == 70:
        return "internal compiler error (exit 70)"
    reported = _ANY_ERROR.search(run.stderr.decode("utf-8", "replace"))
    if run.status in (1, 2) and not reported:
        return f"exit status {run.status} without an error report"
    # any other status is the program's own `(exit n)`, which reports nothing
    if run.status not in (0, 1, 2, 130) and reported:
        return f"exit status {run.status} with an error report"
    return None


def failure_kind(why: str) -> str:
    """The class of a `crash_of` answer: hang, crash, traceback, internal-error, bad-exit."""
    first = why.split(":")[0].split(" ")[0]
    return {"internal": "internal-error", "exit": "bad-exit"}.get(first, first)


# The first report line: the program's own outcome (an error of the main task, located, or a
# deadlock, unlocated), else the first failed task nobody awaited ("error in task N (spawned
# at F:L:C): F:L:C: error[T]"); the lines after it are the other failed tasks.
_REPORT_LINE = re.compile(
    r"^(?:error in task \d+ \(spawned at [^\n]*?\): )?"
    r"(?:[^\n]*?:(?P<line>\d+):\d+|[^\n:]*): error\[(?P<type>[^\]]+)\]", re.M)


def first_error(stderr: bytes) -> tuple[str, int | None] | None:
    """The uncaught error's type and line (None for an error without a location, such as a
    deadlock) from a run's stderr, or None if it reports no error."""
    m = _REPORT_LINE.search(stderr.decode("utf-8", "replace"))
    if not m:
        return None
    return m["type"], int(m["line"]) if m["line"] else None


def differential(source: bytes, expected, workdir: Path) -> Verdict:
    """`expected` is a refeval.Expected (or None to compare the modes only)."""
    runs = run_all(source, workdir)
    for run in runs:
        why = crash_of(run)
        if why:
            return Verdict("crash", f"{run.mode}: {why}\n$ {run.command}\n"
                                    f"{run.stderr.decode('utf-8', 'replace')[-2000:]}", runs)
    base = runs[0]
    for run in runs[1:]:
        if run.key() != base.key():
            return Verdict("mode-mismatch", f"{base.mode} and {run.mode} differ:\n"
                                            + describe_difference(base, run), runs)
    if expected is None:
        return Verdict("ok", runs=runs)
    problems = []
    if base.stdout.decode("utf-8", "replace") != expected.stdout:
        problems.append("stdout:\n" + _first_diff(expected.stdout,
                                                  base.stdout.decode("utf-8", "replace")))
    if base.status != expected.status:
        problems.append(f"exit status {base.status}, reference {expected.status}")
    if expected.error_type is not None:
        got = first_error(base.stderr)
        if got != (expected.error_type, expected.error_line):
            problems.append(f"uncaught error {got}, reference "
                            f"{(expected.error_type, expected.error_line)}")
    if problems:
        return Verdict("ref-mismatch", "\n".join(problems) + "\nstderr: "
                       + base.stderr.decode("utf-8", "replace")[-1500:], runs)
    return Verdict("ok", runs=runs)


def describe_difference(a: Run, b: Run) -> str:
    out = []
    if a.status != b.status:
        out.append(f"exit status {a.status} vs {b.status}")
    for name in ("stdout", "stderr"):
        x, y = getattr(a, name), getattr(b, name)
        if x != y:
            out.append(f"{name}:\n" + _first_diff(x.decode("utf-8", "replace"),
                                                  y.decode("utf-8", "replace")))
    return "\n".join(out)


def _first_diff(want: str, got: str) -> str:
    a, b = want.splitlines(), got.splitlines()
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else "<end>"
        y = b[i] if i < len(b) else "<end>"
        if x != y:
            return f"  line {i + 1}:\n    expected: {x[:400]}\n    got:      {y[:400]}"
    return "  (same lines, different line endings)"
