"""The fuzzing campaign: generated programs in every mode, mutants of the golden cases.

In: command-line options (`python -m tests.fuzz --help`; `make fuzz N=... SEED=...`).
Out: counts on stdout (programs, checks, mode runs, crashes, tracebacks, hangs, internal
errors, mismatches between modes and against the reference; mutants by outcome), and each
failure minimised and saved in tests/fuzz/failures/ (see `save_failure`); exit status 1 if
anything failed.

Program `seed + i` and mutant `mutant-seed + i` are independent jobs, run by a process pool
over the cores; a failure is minimised inside its job, so minimising runs in parallel too.

A campaign can run in pieces (`--ledger PATH`): every finished job appends one JSON line to the
ledger, a piece skips the jobs the ledger already has, and `--summarise PATH` adds up all the
pieces, each (job, seed) counted once. A killed piece loses only the jobs that were running.
`--recheck JOB:SEED` runs one recorded job again (a failure that was the fuzzer's own, after
fixing the fuzzer): its new record supersedes the old, and the summary shows both verdicts.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import refeval
from .gen import generate
from .minimise import reduce_forms, reduce_tokens
from .mutate import judge, make_mutant, mutation_sources
from .runner import (MODES, REPO_ROOT, crash_of, differential, failure_kind, first_error,
                     preload, run_all)
from .sexpr import program_source

FAILURES_DIR = REPO_ROOT / "tests" / "fuzz" / "failures"


# ---------------------------------------------------------------------------------------------
# One generated program


def check_program(seed: int, checks: int, workdir: Path) -> dict:
    program = generate(seed, checks)
    try:
        expected = refeval.evaluate(program.forms)
    except refeval.Unsupported as why:        # a generator bug: say so, do not hide it
        return {"job": "program", "seed": seed, "checks": program.checks,
                "kind": "generator-unsupported", "detail": str(why)}
    source = program_source(program.forms).encode()
    verdict = differential(source, expected, workdir)
    result = {"job": "program", "seed": seed, "checks": program.checks, "kind": verdict.kind,
              "detail": verdict.detail}
    if not verdict.ok:
        result["crash_kind"] = _crash_kind(verdict)
        result["minimised"] = program_source(minimise_program(program.forms, verdict, workdir))
    return result


def _crash_kind(verdict) -> str:
    if verdict.kind != "crash":
        return verdict.kind
    for run in verdict.runs:
        why = crash_of(run)
        if why:
            return failure_kind(why)
    return "crash"


def minimise_program(forms, verdict, workdir: Path):
    """The smallest program (within the budget) failing the same way, in the fewest modes."""
    kind = verdict.kind
    if kind == "crash":
        bad = next(r for r in verdict.runs if crash_of(r))
        want = failure_kind(crash_of(bad))
        modes = (bad.mode,)

        def still_fails(candidate):
            run = run_all(program_source(candidate).encode(), workdir, modes)[0]
            why = crash_of(run)
            return bool(why) and failure_kind(why) == want
    elif kind == "mode-mismatch":
        base = verdict.runs[0]
        other = next(r for r in verdict.runs[1:] if r.key() != base.key())
        modes = (base.mode, other.mode)

        def still_fails(candidate):
            a, b = run_all(program_source(candidate).encode(), workdir, modes)
            return a.key() != b.key() and not crash_of(a) and not crash_of(b)
    else:
        def still_fails(candidate):
            try:
                expected = refeval.evaluate(candidate)
            except (refeval.Unsupported, RecursionError, Exception):
                return False
            run = run_all(program_source(candidate).encode(), workdir, ("jit-O0",))[0]
            if crash_of(run) or run.status == 2:
                return False
            return (run.stdout.decode("utf-8", "replace") != expected.stdout
                    or run.status != expected.status
                    or (expected.error_type is not None and first_error(run.stderr)
                        != (expected.error_type, expected.error_line)))
    return reduce_forms(forms, still_fails)


# ---------------------------------------------------------------------------------------------
# One mutant


def check_mutant(seed: int, sources, hostile: bool, workdir: Path) -> dict:
    mutant = make_mutant(seed, sources, hostile)
    outcome = judge(mutant.source, workdir, strict_compile_time=hostile)
    result = {"job": "mutant", "seed": seed, "kind": outcome.kind, "status": outcome.status,
              "mutations": mutant.mutations, "detail": outcome.detail}
    if outcome.failed:
        def still_fails(candidate: bytes) -> bool:
            return judge(candidate, workdir, hostile).kind == outcome.kind
        # a hang or a slow compile costs a full timeout per try: those are saved as found
        slow = outcome.kind in ("hang", "slow-compile")
        minimised = mutant.source if slow else reduce_tokens(mutant.source, still_fails)
        result["minimised"] = minimised.decode("utf-8", "surrogateescape")
    return result


# ---------------------------------------------------------------------------------------------
# The pool


_SOURCES = None


def _job(args):
    kind, seed, options = args
    global _SOURCES
    workdir = Path(tempfile.mkdtemp(prefix=f"fluentai-fuzz-{kind}-{seed}-"))
    start = time.monotonic()
    try:
        if kind == "program":
            result = check_program(seed, options["checks"], workdir)
        else:
            if _SOURCES is None:
                _SOURCES = mutation_sources()
            result = check_mutant(seed, _SOURCES, options["hostile"], workdir)
    except Exception as error:       # the campaign itself failed on this job: report, go on
        result = {"job": kind, "seed": seed, "kind": "harness-error", "detail": repr(error)}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["seconds"] = round(time.monotonic() - start, 2)
    return result


def failed(result: dict) -> bool:
    return result["kind"] not in ("ok", "runs-long")


# ---------------------------------------------------------------------------------------------
# The ledger: one JSON object per line. A piece starts with {"piece": ...} (when, the commit
# tested, the options); each finished job is {"job", "seed", "kind", ...} as `_job` returns it,
# without the minimised source (saved in tests/fuzz/failures/) and with a failure's detail cut
# short.


def commit_of(root: Path = REPO_ROOT) -> str:
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "-uno", "--",
                                "fluentai", "runtime_c", "tests/fuzz"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def read_ledger(path: Path) -> tuple[list[dict], list[dict]]:
    """The pieces and the job records of a ledger, in order; a line cut short by a killed
    piece (the last one) is ignored."""
    pieces, records = [], []
    if not path.exists():
        return pieces, records
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "piece" in record:
            pieces.append(record)
        elif "job" in record and "seed" in record:
            records.append(record)
    return pieces, records


def unique_jobs(records: list[dict]) -> list[dict]:
    """Each (job, seed) once: its first record, or its last `--recheck` record, which
    supersedes the earlier ones (a failure triaged as the fuzzer's own, re-run once the
    fuzzer was fixed; the summary still lists what the first record said)."""
    chosen: dict[tuple, dict] = {}
    for record in records:
        key = (record["job"], record["seed"])
        if key not in chosen or record.get("recheck_of"):
            chosen[key] = record
    return list(chosen.values())


def ledger_line(result: dict) -> str:
    record = {k: v for k, v in result.items() if k != "minimised"}
    if not failed(result):
        record.pop("detail", None)
        record.pop("mutations", None)
    elif "detail" in record:
        record["detail"] = record["detail"][:1000]
    return json.dumps(record, ensure_ascii=False) + "\n"


def tally(results):
    counts = collections.Counter()
    kinds = collections.Counter()
    statuses = collections.Counter()
    for result in results:
        job = result["job"]
        counts[job + "s"] += 1
        counts["seconds"] += result.get("seconds", 0)
        if job == "program":
            counts["checks"] += result.get("checks", 0)
        else:
            statuses[result.get("status")] += 1
        kinds[(job, result.get("crash_kind", result["kind"]))] += 1
    return counts, kinds, statuses


def seed_ranges(seeds) -> str:
    """`1-5, 9`: the seeds as runs of consecutive numbers."""
    runs = []
    for seed in sorted(seeds):
        if runs and seed == runs[-1][1] + 1:
            runs[-1][1] = seed
        else:
            runs.append([seed, seed])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in runs) or "none"


def summarise(path: Path) -> str:
    pieces, records = read_ledger(path)
    jobs = unique_jobs(records)
    counts, kinds, statuses = tally(jobs)
    lines = [f"ledger {path}: {len(pieces)} pieces, {len(records)} job records, "
             f"{len(records) - len(jobs)} repeated (counted once)"]
    for piece in pieces:
        lines.append(f"  piece {piece['piece']} at commit {piece.get('commit')}: "
                     f"{' '.join(piece.get('argv', []))}")
    for job in ("program", "mutant"):
        lines.append(f"{job} seeds: "
                     + seed_ranges(r["seed"] for r in jobs if r["job"] == job))
    lines.append(report(counts, kinds, statuses, counts["seconds"], "job time"))
    for record in jobs:
        if record.get("recheck_of"):
            lines.append(f"rechecked {record['job']} seed {record['seed']} at commit "
                         f"{record.get('commit')}: was {record['recheck_of']}, now "
                         f"{record.get('crash_kind', record['kind'])}")
    for record in jobs:
        if failed(record):
            lines.append(f"FAIL {record['job']} seed {record['seed']}: "
                         f"{record.get('crash_kind', record['kind'])}"
                         + (f" -> {record['saved']}" if record.get("saved") else ""))
    return "\n".join(lines)


def save_failure(result: dict) -> Path:
    """tests/fuzz/failures/<job>-<kind>-<hash>.fl: the minimised input, and beside it a .json
    with the seed, the failure's description and (programs) the reference's expectation."""
    FAILURES_DIR.mkdir(parents=True, exist_ok=True)
    text = result.get("minimised") or ""
    digest = hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    stem = f"{result['job']}-{result.get('crash_kind', result['kind'])}-{digest}"
    (FAILURES_DIR / f"{stem}.fl").write_bytes(text.encode("utf-8", "surrogateescape"))
    meta = {k: v for k, v in result.items() if k != "minimised"}
    (FAILURES_DIR / f"{stem}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return FAILURES_DIR / f"{stem}.fl"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz",
        description="Differential fuzzing of FluentAI: generated programs in every mode "
                    f"({', '.join(MODES)}) against a reference evaluator, and mutants of the "
                    "golden cases against the no-crash oracle.")
    parser.add_argument("-n", "--programs", type=int, default=100,
                        help="generated programs to run (default 100)")
    parser.add_argument("-m", "--mutants", type=int, default=None,
                        help="mutants to run (default: as many as programs)")
    parser.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    parser.add_argument("--mutant-seed", type=int, default=None,
                        help="first mutant seed (default: --seed); programs run seeds "
                             "SEED..SEED+N-1, mutants MUTANT_SEED..MUTANT_SEED+M-1")
    parser.add_argument("--ledger", type=Path, default=None,
                        help="append each finished job to this JSON-lines file, skip the jobs "
                             "it already has (a campaign in pieces), and print its totals")
    parser.add_argument("--summarise", type=Path, default=None, metavar="LEDGER",
                        help="print the totals of a ledger over all its pieces and exit")
    parser.add_argument("--recheck", action="append", default=[], metavar="JOB:SEED",
                        help="with --ledger: run just this job again (e.g. program:201435, "
                             "repeatable) though the ledger has it; the new record supersedes "
                             "the old one in --summarise, which lists both verdicts")
    parser.add_argument("--checks", type=int, default=20,
                        help="printed checks per generated program (default 20)")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                        help="parallel jobs (default: the number of cores)")
    parser.add_argument("--gentle", action="store_true",
                        help="keep mutants below the frontend's size limits (as in make test)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="stop starting jobs after this long and report what ran (jobs "
                             "alternate between programs and mutants, so both are counted)")
    parser.add_argument("--no-save", action="store_true",
                        help="do not write failures to tests/fuzz/failures/")
    parser.add_argument("--subprocess", action="store_true",
                        help="run every compiler as `python -m fluentai` in a new interpreter, "
                             "not as a fork of a preloaded worker (slower; for comparison)")
    options = parser.parse_args(argv)
    if options.summarise is not None:
        if not options.summarise.exists():
            parser.error(f"no ledger {options.summarise}")
        print(summarise(options.summarise))
        _, records = read_ledger(options.summarise)
        return 1 if any(failed(r) for r in unique_jobs(records)) else 0
    n_mutants = options.programs if options.mutants is None else options.mutants
    mutant_seed = options.seed if options.mutant_seed is None else options.mutant_seed
    job_options = {"checks": options.checks, "hostile": not options.gentle}
    # interleaved in proportion, so that a run cut short by --max-seconds has both kinds
    jobs = sorted([((i + 0.5) / options.programs, ("program", options.seed + i, job_options))
                   for i in range(options.programs)]
                  + [((i + 0.5) / n_mutants, ("mutant", mutant_seed + i, job_options))
                     for i in range(n_mutants)], key=lambda pair: pair[0])
    jobs = [job for _, job in jobs]
    rechecks = {}
    if options.recheck:
        if options.ledger is None:
            parser.error("--recheck needs --ledger")
        _, records = read_ledger(options.ledger)
        earlier = {(r["job"], r["seed"]): r for r in unique_jobs(records)}
        for spec in options.recheck:
            kind, _, seed = spec.partition(":")
            if kind not in ("program", "mutant") or not seed.isdigit():
                parser.error(f"--recheck {spec}: expected program:SEED or mutant:SEED")
            if (kind, int(seed)) not in earlier:
                parser.error(f"--recheck {spec}: the ledger has no such job")
            record = earlier[(kind, int(seed))]
            rechecks[(kind, int(seed))] = record.get("crash_kind", record["kind"])
        jobs = [(kind, seed, job_options) for kind, seed in rechecks]
    ledger = None
    if options.ledger is not None:
        _, records = read_ledger(options.ledger)
        done_before = {(r["job"], r["seed"]) for r in records} - set(rechecks)
        skipped = sum(1 for kind, seed, _ in jobs if (kind, seed) in done_before)
        jobs = [job for job in jobs if (job[0], job[1]) not in done_before]
        options.ledger.parent.mkdir(parents=True, exist_ok=True)
        ledger = options.ledger.open("a", encoding="utf-8")
        piece = {"piece": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "commit": commit_of(), "argv": list(sys.argv[1:] if argv is None else argv),
                 "skipped": skipped}
        ledger.write(json.dumps(piece) + "\n")
        ledger.flush()
        print(f"fuzz: ledger {options.ledger}: {skipped} of these jobs already ran", flush=True)

    results = []
    start = time.monotonic()
    if rechecks:
        print("fuzz: rechecking " + ", ".join(f"{kind} {seed}" for kind, seed in rechecks),
              flush=True)
    else:
        print(f"fuzz: {options.programs} programs x {len(MODES)} modes (seeds from "
              f"{options.seed}) and {n_mutants} mutants (seeds from {mutant_seed}), "
              f"{options.jobs} jobs", flush=True)
    try:
        with multiprocessing.Pool(options.jobs,
                                  initializer=None if options.subprocess else preload) as pool:
            for done, result in enumerate(pool.imap_unordered(_job, jobs), start=1):
                results.append(result)
                if failed(result):
                    if not options.no_save:
                        result["saved"] = str(save_failure(result).relative_to(REPO_ROOT))
                    print(f"FAIL {result['job']} seed {result['seed']}: {result['kind']}"
                          + (f" -> {result['saved']}" if "saved" in result else "")
                          + f"\n  {result['detail'][:600]}", flush=True)
                if ledger is not None:
                    if (result["job"], result["seed"]) in rechecks:
                        result["recheck_of"] = rechecks[(result["job"], result["seed"])]
                        result["commit"] = piece["commit"]
                    ledger.write(ledger_line(result))
                    ledger.flush()
                if done % 100 == 0:
                    print(f"  {done}/{len(jobs)} jobs, {sum(map(failed, results))} failures, "
                          f"{time.monotonic() - start:.0f} s", flush=True)
                if (options.max_seconds is not None
                        and time.monotonic() - start > options.max_seconds):
                    print(f"fuzz: stopped after {options.max_seconds:.0f} s (--max-seconds): "
                          f"{done} of {len(jobs)} jobs ran", flush=True)
                    break
    finally:
        if ledger is not None:
            ledger.close()
    elapsed = time.monotonic() - start
    counts, kinds, statuses = tally(results)
    print(report(counts, kinds, statuses, elapsed))
    if options.ledger is not None:
        print(summarise(options.ledger))
    return 1 if any(map(failed, results)) else 0


def report(counts, kinds, statuses, elapsed, what="time") -> str:
    def of(job, *names):
        return sum(kinds[(job, n)] for n in names)
    lines = [
        f"programs: {counts['programs']} ({counts['checks']} checks, "
        f"{counts['programs'] * len(MODES)} mode runs)",
        f"  ok {of('program', 'ok')}, crashes {of('program', 'crash', 'bad-exit')}, "
        f"tracebacks {of('program', 'traceback')}, hangs {of('program', 'hang')}, "
        f"internal errors {of('program', 'internal-error')}, "
        f"mode mismatches {of('program', 'mode-mismatch')}, "
        f"reference mismatches {of('program', 'ref-mismatch')}, "
        f"generator/harness errors {of('program', 'generator-unsupported', 'harness-error')}",
        f"mutants: {counts['mutants']}",
        f"  ok {of('mutant', 'ok')} (exit status: "
        + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items(), key=lambda kv: str(kv[0])))
        + f"), runs long {of('mutant', 'runs-long')}, crashes {of('mutant', 'crash', 'bad-exit')}, "
        f"tracebacks {of('mutant', 'traceback')}, hangs {of('mutant', 'hang')}, "
        f"slow compiles {of('mutant', 'slow-compile')}, "
        f"internal errors {of('mutant', 'internal-error')}, "
        f"harness errors {of('mutant', 'harness-error')}",
        f"{what}: {elapsed:.0f} s",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
