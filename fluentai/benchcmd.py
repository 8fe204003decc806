"""``fluentai bench``: compile ahead of time once, then time the executable.

In:  a program, a run count, an optimisation level, optionally a command to
     compare with. Out: a small report on stdout (compile time; min / median /
     max wall time and peak memory over the runs; with ``--vs``, the same for
     the other command, run in alternation, and the ratio of medians); a
     progress counter on stderr while it runs.
"""
from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field


@dataclass
class Timing:
    label: str
    walls: list = field(default_factory=list)
    peaks_kib: list = field(default_factory=list)
    failures: int = 0

    def line(self) -> str:
        if not self.walls:
            return f"{self.label}: every run failed"
        med = statistics.median(self.walls)
        return (f"{self.label}: median {med:.4f} s  min {min(self.walls):.4f} s  "
                f"max {max(self.walls):.4f} s  peak {max(self.peaks_kib) / 1024:.1f} MiB"
                + (f"  ({self.failures} failed runs)" if self.failures else ""))


def time_command(argv: list[str]) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in KiB and exit status of one run (output discarded)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss, proc.returncode


def run_bench(program: str, runs: int, opt: int, vs: str | None, program_args: list[str],
              max_errors: int = 0) -> int:
    from .backend import aot
    from .cli import EXIT_OK, EXIT_USAGE, compile_for_cli

    try:
        with open(program, "rb") as f:
            data = f.read()
    except OSError as e:
        sys.stderr.write(f"fluentai: error: cannot read {program}: {e.strerror}\n")
        return EXIT_USAGE

    t0 = time.perf_counter()
    compiled, status = compile_for_cli(data, program, max_errors=max_errors)
    if compiled is None:
        return status
    with tempfile.TemporaryDirectory(prefix="fluentai-bench-") as tmp:
        exe = os.path.join(tmp, "prog")
        try:
            obj = aot.emit_object(compiled.llvm_ir, opt, executable=True)
            aot.link_executable(obj, exe, opt)
        except aot.LinkError as e:
            sys.stderr.write(f"fluentai: error: {e}\n")
            return EXIT_USAGE
        except Exception as exc:
            sys.stderr.write(f"{compiled.llvm_rejection(exc)}\n")
            return 70
        compile_seconds = time.perf_counter() - t0
        print(f"compiled {program} at -O{opt} in {compile_seconds:.3f} s")
        ours = Timing(f"{os.path.basename(program)} (fluentai -O{opt})")
        other = Timing(vs) if vs else None
        commands = [([exe] + program_args, ours)]
        if other:
            commands.append((shlex.split(vs), other))
        for argv, _ in commands:            # warm-up: page cache, lazy binding
            time_command(argv)
        for i in range(runs):
            sys.stderr.write(f"\rrun {i + 1}/{runs}")
            sys.stderr.flush()
            for argv, timing in commands:
                wall, peak, code = time_command(argv)
                if code != 0:
                    timing.failures += 1
                    continue
                timing.walls.append(wall)
                timing.peaks_kib.append(peak)
        sys.stderr.write("\r" + " " * 20 + "\r")
        print(ours.line())
        if other:
            print(other.line())
            if ours.walls and other.walls:
                ratio = statistics.median(ours.walls) / statistics.median(other.walls)
                print(f"ratio of medians (fluentai / other): {ratio:.3f}")
    return EXIT_OK
