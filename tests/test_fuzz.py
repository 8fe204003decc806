"""The fuzzers' fixed-seed sample, and tests of the fuzzers themselves.

In: tests/fuzz/ (generator, reference evaluator, runner, mutator, reducers).
Out: one item per generated program (`test_generated_program[seed]`: all four modes agree
with each other and with the reference evaluator) and per block of mutants
(`test_mutants[block]`: no crash, traceback, hang or internal error), plus unit tests of the
pieces. The sample's programs and mutants run on a thread pool over the cores the first time
an item needs them; each item then reports its own result. `make fuzz` is the long campaign.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fuzz import refeval
from fuzz.gen import generate
from fuzz.minimise import ddmin, reduce_forms, reduce_tokens
from fuzz.mutate import judge, make_mutant, mutation_sources, tokens
from fuzz.runner import Run, Verdict, crash_of, differential, first_error
from fuzz.sexpr import Form, Kw, Vec, form, program_source, read, sym, to_source

SAMPLE_SEED = 20261300
SAMPLE_PROGRAMS = 32
SAMPLE_CHECKS = 12
SAMPLE_MUTANTS = 200
MUTANT_BLOCK = 25
WORKERS = max(2, os.cpu_count() or 2)


class _Sample:
    """Runs the whole sample once, in parallel, on first use."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.programs = None
        self.mutants = None

    def program_verdicts(self):
        if self.programs is None:
            seeds = [SAMPLE_SEED + i for i in range(SAMPLE_PROGRAMS)]
            with ThreadPoolExecutor(WORKERS) as pool:
                self.programs = dict(zip(seeds, pool.map(self._program, seeds)))
        return self.programs

    def _program(self, seed):
        program = generate(seed, SAMPLE_CHECKS)
        source = program_source(program.forms)
        try:
            expected = refeval.evaluate(program.forms)
        except refeval.Unsupported as why:     # this item fails; the others still run
            return source, Verdict("generator-unsupported", str(why))
        verdict = differential(source.encode(), expected, self.tmp / f"p{seed}")
        return source, verdict

    def mutant_results(self):
        if self.mutants is None:
            sources = mutation_sources()
            seeds = [SAMPLE_SEED + i for i in range(SAMPLE_MUTANTS)]

            def one(seed):
                mutant = make_mutant(seed, sources, hostile=False)
                return mutant, judge(mutant.source, self.tmp / f"m{seed}")
            with ThreadPoolExecutor(WORKERS) as pool:
                self.mutants = dict(zip(seeds, pool.map(one, seeds)))
        return self.mutants


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return _Sample(tmp_path_factory.mktemp("fuzz"))


@pytest.mark.parametrize("seed", range(SAMPLE_SEED, SAMPLE_SEED + SAMPLE_PROGRAMS))
def test_generated_program(sample, seed):
    source, verdict = sample.program_verdicts()[seed]
    assert verdict.ok, (f"generated program {seed} ({verdict.kind}):\n{verdict.detail}\n"
                        f"--- program ---\n{source}")


@pytest.mark.parametrize("block", range(SAMPLE_MUTANTS // MUTANT_BLOCK))
def test_mutants(sample, block):
    results = sample.mutant_results()
    seeds = [SAMPLE_SEED + block * MUTANT_BLOCK + i for i in range(MUTANT_BLOCK)]
    failed = [(s, results[s]) for s in seeds if results[s][1].failed]
    assert not failed, "\n\n".join(
        f"mutant {s} ({', '.join(m.mutations)}): {r.kind}\n{r.detail}\n--- source ---\n"
        f"{m.source[:2000]!r}" for s, (m, r) in failed)


def test_sample_exercises_every_outcome(sample):
    """The sample is not vacuous: its programs print many checks, some of them caught runtime
    errors, and some programs end in an uncaught error; its mutants reach the compiler's
    error reports, runtime errors and clean runs."""
    verdicts = sample.program_verdicts()
    outputs = [v.runs[0] for _, v in verdicts.values() if v.runs]
    assert sum(r.stdout.count(b"\n") for r in outputs) >= SAMPLE_PROGRAMS * SAMPLE_CHECKS // 2
    assert sum(r.stdout.count(b"[:error ") for r in outputs) >= SAMPLE_PROGRAMS
    assert any(r.status == 1 for r in outputs)
    statuses = {r.status for _, r in sample.mutant_results().values()}
    assert {0, 1, 2} <= statuses


# ---------------------------------------------------------------------------------------------
# The pieces


def test_generator_is_deterministic_and_varied():
    a, b = program_source(generate(7).forms), program_source(generate(7).forms)
    assert a == b
    assert a != program_source(generate(8).forms)
    heads = {f[0] for seed in range(30) for f in generate(seed).forms if isinstance(f, Form)}
    assert {sym("data"), sym("define"), sym("print-line"), sym("io:print")} <= heads


def test_generated_countdowns_end_on_a_nan_count():
    """Seed 205785 of the long campaign counted a recursion down from
    (remainder -inf 9), a NaN, and never reached `(<= n 0)`: the reference ran out of
    steps. The generator's countdowns stop on anything not above 0."""
    expected = refeval.evaluate(generate(205785, 20).forms)
    assert expected.status == 0 and "t15 main" in expected.stdout


def test_generated_programs_cover_the_language():
    text = "".join(program_source(generate(seed).forms) for seed in range(60))
    for word in ["(let ", "(let* ", "(letrec ", "(if ", "(cond ", "(when ", "(unless ",
                 "(and ", "(or ", "(do ", "(begin ", "(match ", "(lambda ", "(define ",
                 "(handler ", "(error:raise ", "(state:", "(random:seed", "(await ", "(go ",
                 "(async ", "(spawn ", "(promise ", "(chan ", "(send! ", "(recv! ",
                 "(receive! ", "(close! ", "(select ", "(quote ", "... ", "(Rect ", "(tuple ",
                 "(error:catch ",
                 "(ask", "(fold ", "(sort-by ", "(string-split ", "(dict-merge ", "(expt "]:
        assert word in text, word


def _run_ref(source_forms):
    return refeval.evaluate(source_forms)


def test_reference_evaluator_known_answers():
    forms = [
        form(sym("print-line"), form(sym("+"), 9223372036854775807, 0)),
        form(sym("print-line"), form(sym("handler"), Form([Form([sym("error"), form(
            sym("lambda"), form(sym("e")), form(sym("get"), sym("e"), "type"))])]),
            form(sym("*"), 4611686018427387904, 2))),
        form(sym("print-line"), Vec([form(sym("/"), -7, 2), form(sym("mod"), -7, 2),
                                     form(sym("/"), 1.0, 0), "s", Kw("k"), None])),
        form(sym("print-line"), form(sym("let"), sym("loop"), Form([Form([sym("i"), 0])]),
                                     form(sym("if"), form(sym("<"), sym("i"), 200000),
                                          form(sym("loop"), form(sym("+"), sym("i"), 1)),
                                          sym("i")))),
        form(sym("print-line"), form(sym("head"), Vec([]))),
    ]
    expected = _run_ref(forms)
    assert expected.stdout == ('9223372036854775807\noverflow-error\n[-3 1 inf "s" :k nil]\n'
                               '200000\n')
    assert (expected.status, expected.error_type, expected.error_line) == (1, "empty-list", 5)


def test_reference_evaluator_agrees_with_the_compiler_on_handlers(tmp_path):
    # a user effect resumed with the clause's value, an error clause abandoning its body, and
    # a clause that forwards the same operation outward
    clause = lambda op, body: Form([sym(op), form(sym("lambda"), form(sym("x")), body)])  # noqa
    forms = [
        form(sym("print-line"), form(sym("handler"), Form([clause("ask:n", form(
            sym("*"), sym("x"), 10))]), form(sym("+"), 1, form(sym("ask:n"), 4)))),
        form(sym("print-line"), form(sym("handler"), Form([clause("ask:n", form(
            sym("+"), sym("x"), 1))]), form(sym("handler"), Form([clause("ask:n", form(
                sym("ask:n"), form(sym("*"), sym("x"), 2)))]), form(sym("ask:n"), 5)))),
        form(sym("print-line"), form(sym("handler"), Form([clause("error", 0)]),
                                     form(sym("io:print"), "before"), form(sym("head"), Vec([])),
                                     form(sym("io:print"), "never"))),
    ]
    expected = _run_ref(forms)
    assert expected.stdout == "41\n11\nbefore\n0\n"
    assert differential(program_source(forms).encode(), expected, tmp_path).ok


# FIFO order: a new task waits at the end of the run queue, a rendezvous wakes the sender
# after the receiver, buffered sends block only when full, promises and timers wake their
# waiters in order, `time:sleep 0` lets the ready tasks run first. (No order here depends on
# how long anything takes: the main task awaits the sleeper, the slow delay never matters.)
SCHEDULER_PROGRAM = """
(define ch (chan))
(define p1 (go (io:print "t1 start") (send! ch 1) (io:print "t1 sent") :a))
(define p2 (go (io:print "t2 start") (io:print "t2 got" (recv! ch)) :b))
(io:print "main before")
(io:print (await p2))
(io:print "main after")
(io:print (await p1))
(define b (chan 1))
(go (send! b 1) (io:print "sent 1") (send! b 2) (io:print "sent 2") (close! b))
(io:print (recv! b) (recv! b) (recv! b))
(io:print (await (async:all [(go (io:print "x") 1) (async:delay 5 2) (async:then (async:resolve 3) (lambda (v) (io:print "then" v) v))])))
(io:print (await (async:race [(async:delay 60000 :slow) (async:delay 0 :fast)])))
(define u (chan))
(go (io:print "sel" (select ((recv! u) (lambda (v) [:got v])) ((send! u 7) (lambda () :sent)))))
(define sl (go (time:sleep 0.001) (io:print "slept")))
(go (io:print "before sleep 0") (time:sleep 0) (io:print "after sleep 0"))
(go (io:print "third"))
(io:print "recv" (recv! u))
(await sl)
(io:print "end")
"""


def test_reference_scheduler_order_agrees_with_the_compiler(tmp_path):
    expected = refeval.evaluate(read(SCHEDULER_PROGRAM))
    assert expected.stdout.split("\n") == [
        "main before", "t1 start", "t2 start", "t2 got 1", "t1 sent", ":b", "main after", ":a",
        "sent 1", "sent 2", "1 2 nil", "x", "then 3", "[1 2 3]", ":fast", "sel :sent",
        "before sleep 0", "third", "recv 7", "after sleep 0", "slept", "end", ""]
    assert expected.status == 0
    assert differential(SCHEDULER_PROGRAM.lstrip().encode(), expected, tmp_path).ok


@pytest.mark.parametrize("source, outcome", [
    # a failed task nobody awaited fails the program, reported at its own line; an awaited
    # one does not, nor one that never ran because the main task ended first
    ('(define never (go (head [])))\n(define awaited (go (error:raise "boom")))\n'
     '(io:print (handler ((error (lambda (e) (get e "message")))) (await awaited)))\n'
     '(go (tail []))\n(io:print "end")\n', ("boom\nend\n", 1, "empty-list", 1)),
    ('(go (head []))\n(io:print "ends first")\n', ("ends first\n", 0, None, None)),
    # the program's own deadlock comes first, then the failed task (seed 335 of the first
    # long campaign, where the eager reference and the runner's report parsing disagreed)
    ('(define ch (chan 4))\n(go (send! ch 1) (nth [1] 5))\n(io:print (recv! ch))\n'
     '(recv! ch)\n', ("1\n", 1, "deadlock", None)),
    # a blocked task body: the reference used to give up on it (Unsupported)
    ('(define ch (chan))\n(define p (go (send! ch 1) (send! ch 2) :done))\n'
     '(io:print (recv! ch) (recv! ch) (await p))\n', ("1 2 :done\n", 0, None, None)),
    # unary minus checks its operand (seed 515: a Python TypeError in the reference)
    ('(io:print (handler ((error (lambda (e) (get e "type")))) (- nil)))\n',
     ("type-error\n", 0, None, None)),
    # so does sqrt (seed 4014)
    ('(io:print (handler ((error (lambda (e) (get e "type")))) (sqrt [1])))\n',
     ("type-error\n", 0, None, None)),
    # C's pow keeps the sign of a zero under an odd negative power (seed 5047); dom:h checks
    # its children (seeds 5008, 5066: Python errors in the reference)
    ('(io:print (expt -0.0 -1) (expt -0.0 -2) (expt 0.0 -1))\n', ("-inf inf inf\n", 0, None, None)),
    ('(io:print (handler ((error (lambda (e) (get e "type")))) (dom:h "p" {} [1])))\n',
     ("type-error\n", 0, None, None)),
    # files hold strings, and the file operations check their arity (seed 100085 of the
    # second long campaign: a generator bug wrote an int)
    ('(io:print (handler ((error (lambda (e) (get e "type")))) (io:append-file "a.txt" 5)))\n'
     '(io:print (handler ((error (lambda (e) (get e "type")))) (io:append-file [])))\n',
     ("type-error\narity-error\n", 0, None, None)),
    # so does write-file, before a promise executor's `rej` gets the value (seed 100563 of
    # the second long campaign: the reference said promise-rejected)
    ('(io:print (handler ((error (lambda (e) (get e "type")))) '
     '(await (promise (lambda (res rej) (rej (io:write-file "a.txt" 5)))))))\n',
     ("type-error\n", 0, None, None)),
    # a failing builtin in tail position of a closure is reported at the closure's line,
    # not at its caller's (seed 4020)
    ('(define (f x) (expt 7 x))\n(io:print "a")\n(io:print (f 42))\n',
     ("a\n", 1, "overflow-error", 1)),
])
def test_reference_tasks_and_failures(tmp_path, source, outcome):
    expected = refeval.evaluate(read(source))
    assert (expected.stdout, expected.status, expected.error_type, expected.error_line) \
        == outcome
    assert differential(source.encode(), expected, tmp_path).ok


def test_first_error_is_the_first_report_line():
    assert first_error(b"p.fl:1:2: warning[w]: x\np.fl:3:4: error[type-error]: y") \
        == ("type-error", 3)
    assert first_error(b"p.fl: error[deadlock]: all tasks are blocked\n  main task: ...\n"
                       b"error in task 4 (spawned at p.fl:17:98): p.fl:17:223: "
                       b"error[index-error]: z") == ("deadlock", None)
    assert first_error(b"error in task 6 (spawned at p.fl:15:205): p.fl:15:209: "
                       b"error[empty-list]: z") == ("empty-list", 15)
    assert first_error(b"all good") is None


def _run(status, stderr=b"", stdout=b""):
    return Run("jit-O0", stdout, stderr, status, "cmd")


def test_crash_oracle():
    assert crash_of(_run(0)) is None
    assert crash_of(_run(2, b"p.fl:1:1: error[syntax-error]: x")) is None
    assert crash_of(_run(5)) is None                       # the program's own (exit 5)
    assert "hang" in crash_of(_run(None))
    assert "crash" in crash_of(_run(-11))
    assert "crash" in crash_of(_run(139))
    assert crash_of(_run(1, b"Traceback (most recent call last):\n")) == "traceback"
    assert "internal" in crash_of(_run(70, b"p.fl:1:1: error[internal]: bug"))
    assert "without an error report" in crash_of(_run(2, b"something went wrong"))


def test_mode_mismatch_is_reported(tmp_path):
    # the reference expects other output: a reference mismatch, naming the line
    forms = [form(sym("print-line"), 1)]
    wrong = refeval.Expected("2\n", 0)
    verdict = differential(program_source(forms).encode(), wrong, tmp_path)
    assert verdict.kind == "ref-mismatch" and "line 1" in verdict.detail


def test_mutants_are_varied_and_deterministic():
    sources = mutation_sources()
    assert len(sources) > 100
    a = [make_mutant(s, sources, False).source for s in range(50)]
    assert a == [make_mutant(s, sources, False).source for s in range(50)]
    assert len(set(a)) > 45
    assert max(len(tokens(m)) for m in a) > 50


def test_mutant_judge_on_real_runs(tmp_path):
    assert (judge(b"(print-line 1)", tmp_path / "a").kind, ) == ("ok", )
    bad = judge(b"(+ 1 (* 2 3)", tmp_path / "b")
    assert (bad.kind, bad.status) == ("ok", 2)
    fault = judge(b"(head [])", tmp_path / "c")
    assert (fault.kind, fault.status) == ("ok", 1)
    nul = judge(b"(print-line \"a\x00b\")\xff", tmp_path / "d")
    assert not nul.failed and nul.status == 2


def test_ddmin_finds_a_minimal_failing_subset():
    items = list(range(40))
    assert ddmin(items, lambda xs: 7 in xs and 31 in xs, _budget(500)) == [7, 31]


def _budget(n):
    from fuzz.minimise import Budget
    return Budget(n)


def test_reduce_forms_shrinks_expressions():
    big = form(sym("print-line"), form(sym("+"), form(sym("*"), 3, form(sym("head"), Vec([]))), 4))
    forms = [form(sym("print-line"), 1), big, form(sym("print-line"), 2)]

    def fails(candidate):
        try:
            return refeval.evaluate(candidate).error_type == "empty-list"
        except Exception:
            return False
    reduced = reduce_forms(forms, fails, budget_calls=300)
    assert [to_source(f) for f in reduced] == ["(head [])"]


def test_reduce_tokens_keeps_the_failure():
    source = b"(define (f x) (+ x 1))\n(print-line (f \x00 2))\n"
    reduced = reduce_tokens(source, lambda s: b"\x00" in s)
    assert reduced == b"\x00"


def test_campaign_command_line_counts(capsys):
    from fuzz.campaign import main
    status = main(["--programs", "1", "--mutants", "2", "--checks", "3", "--jobs", "1",
                   "--gentle", "--no-save", "--seed", "5"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "programs: 1 (3 checks, 4 mode runs)" in out
    assert "mutants: 2" in out and "mode mismatches 0" in out


def test_error_catch_answers_raises_outside_handler_forms(tmp_path):
    source = ('(error:catch "boom" (lambda (e) (do (io:print "caught" (get e "message")) 41)))\n'
              '(print-line (+ 1 (error:raise "boom" "m")))\n'
              '(print-line (handler ((error (lambda (e) [:handled (get e "type")]))) '
              '(+ 1 (error:raise "boom" "m2"))))\n'
              '(print-line (handler ((ask:num (lambda () 5))) (+ (ask:num) '
              '(error:raise "boom" "m3"))))\n'
              '(print-line (await (go (* 2 (error:raise "boom" "in task")))))\n'
              '(print-line [(error:raise "boom" "v") (error:raise "other" "x")])\n')
    expected = refeval.evaluate(read(source))
    assert expected.stdout == ('caught m\n42\n[:handled "boom"]\ncaught m3\n46\n'
                               'caught in task\n82\ncaught v\n')
    assert (expected.status, expected.error_type, expected.error_line) == (1, "other", 6)
    assert differential(source.encode(), expected, tmp_path).ok


def test_ledger_summary_counts_each_seed_once(tmp_path):
    from fuzz.campaign import summarise
    ledger = tmp_path / "ledger.jsonl"
    lines = [
        {"piece": "2026-12-07T10:00:00Z", "commit": "abc1234", "argv": ["-n", "3"]},
        {"job": "program", "seed": 10, "checks": 20, "kind": "ok", "seconds": 2.0},
        {"job": "mutant", "seed": 10, "kind": "ok", "status": 2, "seconds": 0.5},
        {"job": "program", "seed": 11, "checks": 20, "kind": "ref-mismatch",
         "crash_kind": "ref-mismatch", "detail": "stdout", "seconds": 9.0,
         "saved": "tests/fuzz/failures/program-ref-mismatch-0.fl"},
        {"piece": "2026-12-07T11:00:00Z", "commit": "abc1234", "argv": ["-n", "5"]},
        {"job": "program", "seed": 10, "checks": 20, "kind": "ok", "seconds": 2.0},
        {"job": "program", "seed": 12, "checks": 20, "kind": "crash",
         "crash_kind": "traceback", "detail": "x", "seconds": 1.0},
        {"job": "mutant", "seed": 11, "kind": "runs-long", "status": None, "seconds": 10.0},
        {"job": "mutant", "seed": 13, "kind": "ok", "status": 1, "seconds": 0.5},
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    ledger.write_text(text + '{"job": "mutant", "seed": 14, "ki')    # a killed piece's last line
    out = summarise(ledger)
    assert "2 pieces, 7 job records, 1 repeated" in out
    assert "program seeds: 10-12" in out and "mutant seeds: 10-11, 13" in out
    assert "programs: 3 (60 checks, 12 mode runs)" in out
    assert "ok 1, crashes 0, tracebacks 1," in out and "reference mismatches 1," in out
    assert "mutants: 3" in out and "ok 2 (exit status: 1: 1, 2: 1, None: 1), runs long 1" in out
    assert "job time: 23 s" in out
    assert "FAIL program seed 11: ref-mismatch -> tests/fuzz/failures/" in out
    assert "FAIL program seed 12: traceback" in out and "seed 10:" not in out


def test_campaign_in_pieces_skips_what_the_ledger_has(tmp_path, capsys):
    from fuzz.campaign import main, read_ledger
    ledger = tmp_path / "campaign.jsonl"
    common = ["--checks", "2", "--jobs", "1", "--gentle", "--no-save", "--seed", "9",
              "--mutant-seed", "300", "--ledger", str(ledger)]
    assert main(["--programs", "1", "--mutants", "2", *common]) == 0
    assert main(["--programs", "2", "--mutants", "2", *common]) == 0
    out = capsys.readouterr().out
    assert "3 of these jobs already ran" in out
    pieces, records = read_ledger(ledger)
    assert len(pieces) == 2
    assert sorted((r["job"], r["seed"]) for r in records) == [
        ("mutant", 300), ("mutant", 301), ("program", 9), ("program", 10)]
    assert main(["--summarise", str(ledger)]) == 0
    assert "programs: 2 (4 checks, 8 mode runs)" in capsys.readouterr().out


def test_recheck_supersedes_a_ledger_record(tmp_path, capsys):
    from fuzz.campaign import main, read_ledger, unique_jobs
    ledger = tmp_path / "campaign.jsonl"
    false_hang = {"job": "program", "seed": 9, "checks": 2, "kind": "crash",
                  "crash_kind": "hang", "detail": "jit-O2: hang", "seconds": 30.0}
    ledger.write_text(json.dumps(false_hang) + "\n")
    assert main(["--summarise", str(ledger)]) == 1
    common = ["--checks", "2", "--jobs", "1", "--gentle", "--no-save", "--ledger", str(ledger)]
    assert main(["--recheck", "program:9", *common]) == 0
    assert "rechecking program 9" in capsys.readouterr().out
    _, records = read_ledger(ledger)
    assert len(records) == 2
    [kept] = unique_jobs(records)
    assert (kept["kind"], kept["recheck_of"]) == ("ok", "hang")
    assert main(["--summarise", str(ledger)]) == 0
    out = capsys.readouterr().out
    assert "rechecked program seed 9 at commit " in out and ": was hang, now ok" in out
    assert "programs: 1 (" in out and "FAIL" not in out
    with pytest.raises(SystemExit):
        main(["--recheck", "program:10", *common])     # not in the ledger


def test_generated_fault_catches_cover_every_fault_type():
    """Some programs end with `error:catch` of a runtime fault type and checks where an
    operation faults with it; the reference answers them (the catch prints "caught T")."""
    from fuzz.gen import Gen
    seen = set()
    for seed in range(300):
        program = generate(seed, 3)
        text = program_source(program.forms)
        for etype in Gen.FAULT_TYPES:
            if f'(error:catch "{etype}"' in text:
                if f"caught {etype}\n" in refeval.evaluate(program.forms).stdout:
                    seen.add(etype)
    assert seen == set(Gen.FAULT_TYPES)


def test_reference_answers_faults_at_their_operation(tmp_path):
    source = ('(error:catch "empty-list" (lambda (e) (do (io:print "caught" (get e "type")) 7)))\n'
              '(print-line (+ 1 (head [])))\n'
              '(print-line (handler ((error (lambda (e) [:clause (get e "type")]))) '
              '(list 1 (tail []))))\n'
              '(print-line (handler ((ask:num (lambda () 5))) (list (head []) (ask:num))))\n'
              '(print-line (await (go (list (tail []) :in-task))))\n'
              '(print-line (map (lambda (x) (if (= x 2) (head []) x)) [1 2 3]))\n'
              '(error:catch "type-error" (lambda (e) -1))\n'
              '(print-line [(42 1) (string-length 5) (+ 2 "a")])\n'
              '(error:catch "match-error" (lambda (e) :none))\n'
              '(print-line (list (match 3 (4 :four)) (nth [1] 5)))\n')
    expected = refeval.evaluate(read(source))
    assert expected.stdout == ('caught empty-list\n8\n[:clause "empty-list"]\n'
                               'caught empty-list\n[7 5]\ncaught empty-list\n[7 :in-task]\n'
                               'caught empty-list\n[1 7 3]\n[-1 -1 -1]\n')
    assert (expected.status, expected.error_type, expected.error_line) == (1, "index-error", 10)
    assert differential(source.encode(), expected, tmp_path).ok


def test_hang_is_judged_by_cpu_time_not_a_loaded_machine(tmp_path):
    """A run that is slow only because it gets no CPU is waited for (up to HANG_WALL_FACTOR
    times the timeout); one that spins is a hang (seed 201435 of the third long campaign
    was killed as a hang at 30 s of wall time after about 1 s of CPU)."""
    import sys
    from fuzz.runner import run_argv
    idle = run_argv(["sleep", "1"], tmp_path, "t", timeout=0.2)
    assert idle.status == 0
    spin = run_argv([sys.executable, "-c", "while True: pass"], tmp_path, "t", timeout=0.2)
    assert spin.status is None and crash_of(spin).startswith("hang")
    echo = run_argv(["cat"], tmp_path, "t", stdin=b"in\n")
    assert (echo.stdout, echo.status) == (b"in\n", 0)
    spin_cpu = run_argv([sys.executable, "-c", "x = 0\nwhile x < 3 * 10**6: x += 1"],
                        tmp_path, "t")
    assert spin_cpu.status == 0 and spin_cpu.cpu > idle.cpu
