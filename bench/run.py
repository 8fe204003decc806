#!/usr/bin/env python3
"""Benchmark harness: FluentAI against C and the peer language implementations.

In: the programs under bench/<name>/ (`<name>.fl`, `.c`, `.py`, `.ss`, `.rkt`, `.guile.scm`),
the installed tools (gcc, python3, pypy3, Chez `scheme`, `racket`/`raco`, `guile`) and this
checkout's compiler (`python -m fluentai compile`).
Out: a table on stdout (median wall time per implementation, ratio to C, FluentAI's ratio to
the best peer, geometric means, FluentAI compile times), bench/results/latest.json with every
measurement, and bench/results/latest.png (latest-quick.* for --quick runs, so a quick run never
overwrites the committed full results).

Each program is built once in bench/build/<name>/ (a copy of its directory: Racket and Guile
write compiled files beside their sources), then run once as a warm-up and `--runs` times
measured: wall time around fork-exec-wait, peak resident set size from os.wait4. Every
implementation must print the same output as C (trailing whitespace ignored), otherwise its
figures are reported as a wrong output and left out of the ratios. A missing tool is skipped
and named; a program that fails to build or run is recorded as such, never a crash.

    python bench/run.py [--quick] [--runs N] [--only fib,maps] [--no-peers]
    QUICK=1 python bench/run.py          # the same as --quick
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
BUILD_DIR = BENCH_DIR / "build"
RESULTS_DIR = BENCH_DIR / "results"

FULL_RUNS, QUICK_RUNS = 5, 3
FULL_TIMEOUT_S, QUICK_TIMEOUT_S = 600, 60
BUILD_TIMEOUT_S = 600


@dataclass(frozen=True)
class Benchmark:
    name: str
    full_args: tuple[str, ...]      # the programs' own defaults, passed explicitly
    quick_args: tuple[str, ...]     # sized so CPython, the slowest, takes about 0.2 s
    measures: str
    compute: bool = True            # False: start-up only, kept out of the geometric means


BENCHMARKS = [
    Benchmark("fib", ("40",), ("30",), "non-tail recursion, small-integer arithmetic"),
    Benchmark("tak", ("4000",), ("100",), "three-argument nested calls, comparisons"),
    Benchmark("closures", ("20000000",), ("500000",), "making and calling non-escaping closures"),
    Benchmark("closures_escape", ("20000000",), ("500000",),
              "closures stored in lists: allocation, GC, indirect calls"),
    Benchmark("lists", ("50",), ("2",), "cons cells, 10^6-deep recursion, higher-order calls"),
    Benchmark("nqueens", ("8", "8000"), ("8", "200"), "short lists, append, recursion"),
    Benchmark("strings", ("400",), ("20",), "integers to strings, string building, indexing"),
    Benchmark("string_append", ("100000", "3"), ("20000", "1"),
              "a string grown by 10^5 string-appends of one-digit strings"),
    Benchmark("mandel", ("1500",), ("300",), "floating-point arithmetic in tight loops"),
    Benchmark("pingpong", ("1000000",), ("50000",), "green tasks, unbuffered channel round trips"),
    Benchmark("maps", ("40",), ("3",), "10^5 map inserts, hits and misses"),
    Benchmark("fanin", ("1000", "100"), ("1000", "16"), "1,000 tasks sending into one channel"),
    Benchmark("spawn", ("100000",), ("20000",), "spawn and await 10^5 tasks"),
    Benchmark("state_update", ("1000000",), ("100000",), "10^6 state:update effect operations"),
    Benchmark("user_effect", ("1000000",), ("100000",), "10^6 user-effect operations under a handler"),
    Benchmark("hello", (), (), "process start-up and runtime boot", compute=False),
]


# ---------------------------------------------------------------------------------------------
# Implementations: how to find, build and run each


class BuildFailed(Exception):
    pass


@dataclass
class Implementation:
    key: str
    label: str
    suffix: str                       # source file: bench/<name>/<name><suffix>
    is_peer: bool
    tool: str | None                  # the executable found, None when not installed
    # (source path inside the build copy) -> the command that runs it, without its arguments
    prepare: Callable[[Path], list[str]]
    version: str = ""
    build_seconds: dict[str, float] = field(default_factory=dict)


def run_build_step(argv: list[str], cwd: Path, stdin: str | None = None,
                   env: dict[str, str] | None = None) -> float:
    """Run one build command; its duration in seconds, or BuildFailed with its output."""
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise BuildFailed(f"`{' '.join(argv)}` timed out after {BUILD_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise BuildFailed(f"`{' '.join(argv)}` exited with {done.returncode}: "
                          f"{_last_lines(done.stderr or done.stdout)}")
    return time.perf_counter() - started


def _last_lines(text: str, count: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-count:])


def _tool_version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return text[0] if text else "?"


def make_c(gcc: str | None) -> Implementation:
    def prepare(source: Path) -> list[str]:
        executable = source.with_suffix(".c.exe")
        run_build_step([gcc, "-O2", "-pthread", "-o", str(executable), str(source)], source.parent)
        return [str(executable)]
    version = _tool_version([gcc, "--version"]) if gcc else ""
    return Implementation("c", "C -O2", ".c", False, gcc, prepare, version)


def make_fluentai() -> Implementation:
    impl: Implementation

    def prepare(source: Path) -> list[str]:
        executable = source.with_suffix(".fl.exe")
        seconds = run_build_step(
            [sys.executable, "-m", "fluentai", "compile", source.name, "-o", str(executable),
             "-O2"], source.parent, env=_with_checkout_on_path())
        impl.build_seconds[source.stem] = seconds
        return [str(executable)]
    impl = Implementation("fluentai", "FluentAI -O2", ".fl", False, sys.executable, prepare,
                          _fluentai_version())
    return impl


def _with_checkout_on_path() -> dict[str, str]:
    """`python -m fluentai` must find this checkout even when it is not installed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _fluentai_version() -> str:
    try:
        done = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=30)
        return f"git {done.stdout.strip()}" if done.returncode == 0 else "working tree"
    except OSError:
        return "working tree"


def make_python(key: str, label: str, names: list[str]) -> Implementation:
    tool = _real_interpreter(_which(*names))
    version = _tool_version([tool, "--version"]) if tool else ""
    return Implementation(key, label, ".py", True, tool, lambda source: [tool, source.name],
                          version)


def make_chez() -> Implementation:
    tool = _which("scheme", "chezscheme", "chez")

    def prepare(source: Path) -> list[str]:
        compiled = source.with_suffix(".chez.so")
        script = f'(optimize-level 2) (compile-program "{source.name}" "{compiled.name}")'
        run_build_step([tool, "-q"], source.parent, stdin=script)
        if not compiled.exists():  # the REPL reports a compile error but still exits 0
            raise BuildFailed(f"Chez did not produce {compiled.name}")
        return [tool, "--program", compiled.name]
    version = f"Chez Scheme {_tool_version([tool, '--version'])}" if tool else ""
    return Implementation("chez", "Chez", ".ss", True, tool, prepare, version)


def make_racket() -> Implementation:
    tool, raco = _which("racket"), _which("raco")

    def prepare(source: Path) -> list[str]:
        run_build_step([raco, "make", source.name], source.parent)
        return [tool, source.name]
    version = _tool_version([tool, "--version"]) if tool else ""
    return Implementation("racket", "Racket CS", ".rkt", True, tool if raco else None, prepare,
                          version)


def make_guile() -> Implementation:
    tool = _which("guile", "guile-3.0")

    def prepare(source: Path) -> list[str]:
        # fills the auto-compilation cache, which `guile FILE` then loads (default -O2)
        run_build_step([tool, "-c", "(use-modules (system base compile)) "
                                    f'(compile-file "{source}")'], source.parent)
        return [tool, source.name]
    version = _tool_version([tool, "--version"]) if tool else ""
    return Implementation("guile", "Guile", ".guile.scm", True, tool, prepare, version)


def _real_interpreter(launcher: str | None) -> str | None:
    """Version managers (pyenv) put a shell-script shim first on PATH, which would add tens of
    milliseconds to every run: time the interpreter it resolves to instead."""
    if launcher is None:
        return None
    try:
        done = subprocess.run([launcher, "-c", "import sys; print(sys.executable)"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (done.stdout.strip() or launcher) if done.returncode == 0 else None


def _which(*names: str) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


def all_implementations(with_peers: bool) -> list[Implementation]:
    impls = [make_c(_which("gcc", "cc")), make_fluentai()]
    if with_peers:
        impls += [make_python("cpython", "CPython", ["python3"]),
                  make_python("pypy", "PyPy", ["pypy3"]),
                  make_chez(), make_racket(), make_guile()]
    return impls


# ---------------------------------------------------------------------------------------------
# Measuring


@dataclass
class Result:
    status: str                       # ok, wrong-output, build-failed, run-failed, no-source
    message: str = ""
    times: list[float] = field(default_factory=list)
    peak_rss_mib: list[float] = field(default_factory=list)
    output: str = ""
    build_seconds: float | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.status == "ok" else None


@dataclass
class Run:
    seconds: float
    peak_rss_mib: float
    status: int
    stdout: str
    stderr: str


def run_once(argv: list[str], cwd: Path, timeout: float) -> Run:
    """Wall time around fork-exec-wait and the child's peak RSS (ru_maxrss is in KiB on
    Linux). Output goes to files, not pipes, so a chatty program cannot block on a full pipe."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL)
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        try:
            _, wait_status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(wait_status)
        out.seek(0)
        err.seek(0)
        return Run(seconds, usage.ru_maxrss / 1024, process.returncode,
                   out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def normalise(output: str) -> str:
    return "\n".join(line.rstrip() for line in output.rstrip().splitlines())


def measure(impl: Implementation, bench: Benchmark, args: tuple[str, ...], runs: int,
            timeout: float) -> Result:
    source = BENCH_DIR / bench.name / f"{bench.name}{impl.suffix}"
    if not source.exists():
        return Result("no-source", f"no {source.name}")
    try:
        command = impl.prepare(BUILD_DIR / bench.name / source.name)
    except BuildFailed as failure:
        return Result("build-failed", str(failure), build_seconds=None)
    result = Result("ok", build_seconds=impl.build_seconds.get(bench.name))
    for attempt in range(runs + 1):          # the first run is the warm-up
        run = run_once([*command, *args], BUILD_DIR / bench.name, timeout)
        if run.status != 0:
            reason = f"killed by signal {-run.status}" if run.status < 0 else f"exit {run.status}"
            return Result("run-failed", f"{reason}: {_last_lines(run.stderr)}",
                          build_seconds=result.build_seconds)
        result.output = normalise(run.stdout)
        if attempt > 0:
            result.times.append(run.seconds)
            result.peak_rss_mib.append(run.peak_rss_mib)
    return result


def check_outputs(results: dict[str, Result], reference_key: str) -> None:
    """Every implementation must agree with C (or, without C, with the first that ran)."""
    ok = {key: result for key, result in results.items() if result.status == "ok"}
    if not ok:
        return
    reference = ok.get(reference_key) or next(iter(ok.values()))
    for result in ok.values():
        if result.output != reference.output:
            result.status = "wrong-output"
            result.message = f"printed {result.output!r}, expected {reference.output!r}"


def prepare_build_dir(bench: Benchmark) -> None:
    target = BUILD_DIR / bench.name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(BENCH_DIR / bench.name, target)


# ---------------------------------------------------------------------------------------------
# Reporting


def geomean(values: list[float]) -> float | None:
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def best_peer_median(impls: list[Implementation], results: dict[str, Result]) -> float | None:
    medians = [results[impl.key].median for impl in impls
               if impl.is_peer and impl.key in results and results[impl.key].median is not None]
    return min(medians, default=None)


def summarise(impls: list[Implementation], benches: list[Benchmark],
              table: dict[str, dict[str, Result]]) -> dict:
    """Ratios to C per benchmark and implementation, FluentAI against the best peer, and the
    geometric means of both over the compute benchmarks."""
    ratios_to_c = {impl.key: {} for impl in impls}
    fluentai_vs_best_peer = {}
    for bench in benches:
        results = table[bench.name]
        c_median = results["c"].median if "c" in results else None
        for impl in impls:
            value = ratio(results[impl.key].median, c_median)
            if value is not None:
                ratios_to_c[impl.key][bench.name] = value
        value = ratio(results["fluentai"].median, best_peer_median(impls, results))
        if value is not None:
            fluentai_vs_best_peer[bench.name] = value
    compute = {bench.name for bench in benches if bench.compute}
    return {
        "ratio_to_c": ratios_to_c,
        "fluentai_vs_best_peer": fluentai_vs_best_peer,
        "geomean_ratio_to_c": {
            key: geomean([v for name, v in per_bench.items() if name in compute])
            for key, per_bench in ratios_to_c.items()},
        "geomean_fluentai_vs_best_peer": geomean(
            [v for name, v in fluentai_vs_best_peer.items() if name in compute]),
    }


def format_seconds(seconds: float) -> str:
    return f"{seconds:.3f}" if seconds < 10 else f"{seconds:.2f}"


def format_cell(result: Result, c_median: float | None) -> str:
    if result.status != "ok":
        return {"no-source": "-", "build-failed": "BUILD FAILED", "run-failed": "RUN FAILED",
                "wrong-output": "WRONG OUTPUT"}[result.status]
    value = ratio(result.median, c_median)
    return format_seconds(result.median) + (f" ({value:.2f}x)" if value is not None else "")


def format_ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def print_table(impls: list[Implementation], benches: list[Benchmark],
                table: dict[str, dict[str, Result]], summary: dict) -> None:
    header = ["benchmark", *(impl.label for impl in impls), "FluentAI/best peer"]
    rows = []
    for bench in benches:
        results = table[bench.name]
        c_median = results["c"].median if "c" in results else None
        rows.append([bench.name, *(format_cell(results[impl.key], c_median) for impl in impls),
                     format_ratio(summary["fluentai_vs_best_peer"].get(bench.name))])
    rows.append(["geomean (compute)",
                 *(format_ratio(summary["geomean_ratio_to_c"][impl.key]) for impl in impls),
                 format_ratio(summary["geomean_fluentai_vs_best_peer"])])
    print("\nMedian wall time in seconds (ratio to C -O2):\n")
    print_aligned([header, *rows])


def print_aligned(rows: list[list[str]]) -> None:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width)
                                             for cell, width in zip(row[1:], widths[1:])]
        print("  ".join(cells))
        if index == 0:
            print("  ".join("-" * width for width in widths))


def print_compile_times(benches: list[Benchmark], table: dict[str, dict[str, Result]]) -> None:
    print("\nFluentAI compile time (python -m fluentai compile -O2):\n")
    rows = [["benchmark", "compile (s)", "status"]]
    for bench in benches:
        result = table[bench.name]["fluentai"]
        seconds = f"{result.build_seconds:.2f}" if result.build_seconds is not None else "-"
        rows.append([bench.name, seconds, result.status])
    print_aligned(rows)


def print_problems(impls: list[Implementation], benches: list[Benchmark],
                   table: dict[str, dict[str, Result]]) -> None:
    problems = [f"  {bench.name} / {impl.label}: {table[bench.name][impl.key].status}: "
                f"{table[bench.name][impl.key].message}"
                for bench in benches for impl in impls
                if table[bench.name][impl.key].status in ("build-failed", "run-failed",
                                                          "wrong-output")]
    if problems:
        print("\nFailures:")
        print("\n".join(problems))


def write_json(path: Path, impls: list[Implementation], benches: list[Benchmark],
               table: dict[str, dict[str, Result]], summary: dict, settings: dict,
               skipped: list[str]) -> None:
    document = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_description(),
        "settings": settings,
        "implementations": {impl.key: {"label": impl.label, "version": impl.version,
                                       "peer": impl.is_peer} for impl in impls},
        "skipped_implementations": skipped,
        "benchmarks": {
            bench.name: {
                "args": list(settings["args"][bench.name]),
                "measures": bench.measures,
                "compute": bench.compute,
                "results": {key: result_json(result) for key, result in table[bench.name].items()},
            } for bench in benches},
        "summary": summary,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def result_json(result: Result) -> dict:
    data = asdict(result)
    if result.status == "ok":
        data.update(median=result.median, min=min(result.times), max=max(result.times),
                    median_peak_rss_mib=statistics.median(result.peak_rss_mib))
    return data


def machine_description() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(),
            "python": platform.python_version()}


def draw_chart(path: Path, impls: list[Implementation], benches: list[Benchmark],
               summary: dict, title: str) -> bool:
    """Grouped bars of the ratio to C (log scale), one group per benchmark; False when
    matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [impl for impl in impls if summary["ratio_to_c"][impl.key]]
    names = [bench.name for bench in benches]
    width = 0.8 / max(len(shown), 1)
    figure, axes = plt.subplots(figsize=(max(8, 1.1 * len(names) + 2), 5))
    for index, impl in enumerate(shown):
        ratios = summary["ratio_to_c"][impl.key]
        xs = [position + index * width for position, name in enumerate(names) if name in ratios]
        axes.bar(xs, [ratios[name] for name in names if name in ratios], width, label=impl.label)
    axes.set_yscale("log")
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_xticks([position + width * (len(shown) - 1) / 2 for position in range(len(names))])
    axes.set_xticklabels(names, rotation=30, ha="right")
    axes.set_ylabel("wall time / C -O2 (log scale, lower is better)")
    axes.set_title(title)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


# ---------------------------------------------------------------------------------------------
# Main


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("QUICK", "") not in ("", "0"),
                        help="smaller sizes and fewer runs: about a minute in all (or QUICK=1)")
    parser.add_argument("--runs", type=int, help="measured runs after the warm-up "
                        f"(default {FULL_RUNS}, {QUICK_RUNS} with --quick)")
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--no-peers", action="store_true", help="only C and FluentAI")
    return parser.parse_args(argv)


def select_benchmarks(only: str | None) -> list[Benchmark]:
    if not only:
        return BENCHMARKS
    wanted = set(only.split(","))
    unknown = wanted - {bench.name for bench in BENCHMARKS}
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(sorted(unknown))}; "
                 f"known: {', '.join(bench.name for bench in BENCHMARKS)}")
    return [bench for bench in BENCHMARKS if bench.name in wanted]


def main(argv: list[str]) -> int:
    options = parse_arguments(argv)
    benches = select_benchmarks(options.only)
    runs = options.runs or (QUICK_RUNS if options.quick else FULL_RUNS)
    timeout = QUICK_TIMEOUT_S if options.quick else FULL_TIMEOUT_S
    every_impl = all_implementations(with_peers=not options.no_peers)
    impls = [impl for impl in every_impl if impl.tool]
    skipped = [impl.label for impl in every_impl if not impl.tool]
    if skipped:
        print(f"not installed, skipped: {', '.join(skipped)} (`make bench-peers` installs them)")
    args_of = {bench.name: bench.quick_args if options.quick else bench.full_args
               for bench in benches}

    table: dict[str, dict[str, Result]] = {}
    for bench in benches:
        prepare_build_dir(bench)
        table[bench.name] = {}
        for impl in impls:
            print(f"{bench.name:>16} {' '.join(args_of[bench.name]):<10} {impl.label:<14}",
                  end="", flush=True)
            result = measure(impl, bench, args_of[bench.name], runs, timeout)
            table[bench.name][impl.key] = result
            print(format_seconds(result.median) if result.status == "ok" else result.status)
        check_outputs(table[bench.name], "c")

    summary = summarise(impls, benches, table)
    print_table(impls, benches, table, summary)
    print_compile_times(benches, table)
    print_problems(impls, benches, table)

    stem = "latest-quick" if options.quick else "latest"
    settings = {"quick": options.quick, "runs": runs, "warmup_runs": 1, "args": args_of}
    RESULTS_DIR.mkdir(exist_ok=True)
    write_json(RESULTS_DIR / f"{stem}.json", impls, benches, table, summary, settings, skipped)
    title = f"FluentAI benchmarks{' (quick sizes)' if options.quick else ''}: ratio to C -O2"
    written = [RESULTS_DIR / f"{stem}.json"]
    if draw_chart(RESULTS_DIR / f"{stem}.png", impls, benches, summary, title):
        written.append(RESULTS_DIR / f"{stem}.png")
    else:
        print("\nmatplotlib is not installed, so no chart was drawn (`make bench` installs it)")
    print(f"\nresults: {', '.join(str(path.relative_to(REPO_ROOT)) for path in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
