"""Tests of tasks, promises, channels, select and timers in the C runtime.

In: tests/tasks_runtime_helpers.c, compiled into a small cffi extension that shares the loaded
runtime; each helper_* there is a C "program" run through fl_run. Out: pass/fail, plus the
scheduler's measured costs printed with ``-s`` (ns per ping-pong round trip, per spawn-and-await,
resident bytes per blocked task).

The compiler is not involved: what is checked here is the scheduler's contract (FIFO order,
rendezvous and buffered channels, close, select, deadlock reports, errors staying in their task,
stack overflows on fiber stacks, Boehm seeing suspended stacks, a reusable runtime afterwards).
The same rules seen from FluentAI programs are the golden cases tests/cases/task_*.fl.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fluentai.backend import rt_build

from helper_extension import build_helper_extension

ffi, lib = rt_build.load_runtime()
HERE = Path(__file__).resolve().parent
FL_OK, FL_ERROR, FL_DEADLOCK, FL_EXIT = 0, 1, 2, 3

HELPER_ENTRIES = """
    helper_pingpong helper_spawn_await helper_gc_suspended helper_overflow_in_tasks
    helper_await_raised helper_await_failure_twice helper_unawaited_failure helper_main_fails_too
    helper_exit_in_task helper_deadlock_recv helper_deadlock_send helper_deadlock_await
    helper_deadlock_crossed helper_deadlock_select helper_deadlock_after_sleep helper_abandon
    helper_buffered_order helper_close_semantics helper_close_errors helper_select_ready
    helper_select_blocking helper_select_errors helper_sleep_order helper_yield_does_not_starve
    helper_wait_fd helper_many_blocked helper_relay_chain helper_promise_adoption
    helper_promise_rejected helper_await_non_promise
""".split()

HELPER_CDEF = "typedef int64_t fl_value;\n" + "".join(
    f"fl_value {name}(void);\n" for name in HELPER_ENTRIES) + """
void helper_register_module(void);
void helper_set_n(int64_t n, int64_t m);
double helper_measured(void);
double helper_measured2(void);
"""


def build_helpers(directory: Path):
    """Compile the helpers into an extension whose fl_* calls go to the loaded runtime."""
    module = build_helper_extension(directory, "tasks_runtime_helpers.c", "_fl_tasks_helpers", HELPER_CDEF)
    return module


@pytest.fixture(scope="module")
def helpers(tmp_path_factory):
    return build_helpers(tmp_path_factory.mktemp("tasks_helpers"))


@pytest.fixture
def gc_stress():
    lib.fl_set_gc_stress(1)
    yield
    lib.fl_set_gc_stress(0)


def run(helpers, name: str, n: int = 0, m: int = 0):
    helpers.lib.helper_register_module()
    helpers.lib.helper_set_n(n, m)
    address = int(helpers.ffi.cast("uintptr_t", helpers.ffi.addressof(helpers.lib, name)))
    out = ffi.new("fl_outcome *")
    lib.fl_run(ffi.cast("fl_value (*)(void)", address), out)
    return out


def show(v: int) -> str:
    s = ffi.cast("fl_string *", lib.fl_show(v) - 1)
    return ffi.unpack(s.bytes, s.nbytes).decode()


def value_of(out) -> str:
    report = ffi.string(out.report).decode() if out.report else ""
    assert out.status == FL_OK, report
    return show(out.value)


def report_of(out) -> str:
    return ffi.string(out.report).decode()


def error_field(out, key: str) -> str:
    k = key.encode()
    return show(lib.fl_map_get(out.error, lib.fl_make_string(k, len(k)), 0x07))


# ---- ping-pong and spawn: correctness, and the measured costs ----

def test_pingpong_round_trips(helpers):
    out = run(helpers, "helper_pingpong", 1000)
    assert value_of(out) == str(sum(range(1, 1001)))


# Measurements of the normal build: under ASan (make test-asan) every frame has redzones and
# every touched page its shadow, so the numbers mean nothing there (10^5 blocked tasks take
# about 20 GB).
normal_build_only = pytest.mark.skipif(rt_build.SANITIZE, reason="measures the normal build")


@normal_build_only
def test_pingpong_cost_per_round_trip(helpers):
    n = 1_000_000
    out = run(helpers, "helper_pingpong", n)
    assert value_of(out) == str(n * (n + 1) // 2)
    ns = helpers.lib.helper_measured()
    print(f"\nscheduler ping-pong: {ns:.0f} ns per round trip (2 switches)")
    assert ns < 5000


def test_spawn_and_await_cost(helpers):
    n = 100_000
    out = run(helpers, "helper_spawn_await", n)
    assert value_of(out) == str(sum(i * i for i in range(n)))
    print(f"\nspawn + run + await: {helpers.lib.helper_measured():.0f} ns per task")


# ---- the GC sees values that live only on suspended fiber stacks ----

@pytest.mark.parametrize("stress", [False, True])
def test_suspended_tasks_keep_their_data(helpers, stress):
    lib.fl_set_gc_stress(1 if stress else 0)
    try:
        tasks, cells = 300, 200
        out = run(helpers, "helper_gc_suspended", tasks, cells)
        assert value_of(out) == str(tasks * (sum(range(cells)) + 1))
        assert helpers.lib.helper_measured() >= 3
    finally:
        lib.fl_set_gc_stress(0)


# ---- errors stay in their task ----

def test_stack_overflow_in_tasks_rejects_their_promises(helpers):
    out = run(helpers, "helper_overflow_in_tasks")
    assert value_of(out) == '[42 "stack-overflow" "stack-overflow" 42]'
    assert out.failed_tasks == 0


def test_await_reraises_the_same_error(helpers):
    out = run(helpers, "helper_await_raised")
    assert out.status == FL_ERROR
    assert error_field(out, "type") == '"config"'
    assert error_field(out, "message") == '"bad port"'
    assert error_field(out, "data") == '[7 "x"]'
    # the report points at the place that failed inside the task
    assert report_of(out).startswith("prog.fl:3:1: error[config]: bad port\n")


def test_each_await_of_a_failure_raises(helpers):
    assert value_of(run(helpers, "helper_await_failure_twice")) == \
        '["division-by-zero" "division-by-zero"]'


def test_unawaited_failures_are_reported(helpers):
    out = run(helpers, "helper_unawaited_failure")
    assert out.status == FL_ERROR
    assert out.failed_tasks == 2
    report = report_of(out)
    assert report == textwrap.dedent("""\
        error in task 2 (spawned at prog.fl:2:1): prog.fl:3:1: error[division-by-zero]: division by zero
            3 | (recv! ch)
              | ^^^^^^^^^^
        error in task 4 (spawned at prog.fl:6:1): prog.fl:3:1: error[config]: bad port
            3 | (recv! ch)
              | ^^^^^^^^^^
              = data: [7 "x"]
        """)
    assert error_field(out, "type") == '"division-by-zero"'


def test_main_error_comes_first_then_failed_tasks(helpers):
    out = run(helpers, "helper_main_fails_too")
    report = report_of(out)
    assert report.startswith("prog.fl:4:1: error[division-by-zero]: division by zero\n")
    assert "error in task 2 (spawned at prog.fl:2:1): prog.fl:3:1:" in report
    assert out.failed_tasks == 1


def test_exit_in_a_task_ends_the_program(helpers):
    out = run(helpers, "helper_exit_in_task")
    assert out.status == FL_EXIT and out.exit_code == 3


# ---- deadlocks ----

@pytest.mark.parametrize("entry, lines", [
    ("helper_deadlock_recv", ["  main task: recv! on channel created at prog.fl:1:12"]),
    ("helper_deadlock_send", [
        "  main task: await on promise of task 2 (spawned at prog.fl:2:1)",
        "  task 2 (spawned at prog.fl:2:1): send! on channel created at prog.fl:1:12"]),
    ("helper_deadlock_await", ["  main task: await on promise created at prog.fl:4:1"]),
    ("helper_deadlock_crossed", [
        "  main task: await on promise of task 2 (spawned at prog.fl:2:1)",
        "  task 2 (spawned at prog.fl:2:1): recv! on channel created at prog.fl:1:12",
        "  task 3 (spawned at prog.fl:6:1): recv! on channel created at prog.fl:5:11"]),
    ("helper_deadlock_select", [
        "  main task: select on channels created at prog.fl:1:12, prog.fl:5:11"]),
    ("helper_deadlock_after_sleep", [
        "  main task: recv! on channel created at prog.fl:5:11",
        "  task 2 (spawned at prog.fl:2:1): recv! on channel created at prog.fl:1:12"]),
])
def test_deadlock_reports_every_blocked_task(helpers, entry, lines):
    out = run(helpers, entry)
    assert out.status == FL_DEADLOCK
    assert report_of(out) == "\n".join(["prog.fl: error[deadlock]: all tasks are blocked"] + lines) + "\n"
    # the runtime is usable at once afterwards
    assert value_of(run(helpers, "helper_pingpong", 10)) == "55"


def test_main_ending_abandons_other_tasks(helpers):
    out = run(helpers, "helper_abandon")
    assert value_of(out) == "21"
    assert out.failed_tasks == 0
    assert value_of(run(helpers, "helper_relay_chain", 100)) == "100"


# ---- channels ----

def test_buffered_channel_blocks_sender_while_full(helpers):
    assert value_of(run(helpers, "helper_buffered_order")) == \
        '["sent" "sent" "#<channel 2/2>" 1 "sent" 2 3]'


def test_close_wakes_receivers_and_fails_senders(helpers):
    assert value_of(run(helpers, "helper_close_semantics")) == (
        '[nil {"value" nil "ok" false} "channel-closed" {"value" 10 "ok" true} '
        '{"value" nil "ok" false} nil]')


def test_closing_twice_and_sending_after_close_fail(helpers):
    assert value_of(run(helpers, "helper_close_errors")) == '["channel-closed" "channel-closed"]'


def test_relay_through_ten_thousand_tasks(helpers):
    assert value_of(run(helpers, "helper_relay_chain", 10_000)) == "10000"


@normal_build_only
def test_many_blocked_tasks_fit_in_memory(helpers):
    n = 100_000
    out = run(helpers, "helper_many_blocked", n)
    assert value_of(out) == f"[{n + 1} 1]"
    per_task, tables = helpers.lib.helper_measured(), helpers.lib.helper_measured2()
    print(f"\n{n} blocked tasks: {per_task:.0f} resident bytes + {tables:.0f} page-table bytes each")
    assert per_task + tables < 32 * 1024


# ---- select ----

def test_select_takes_first_ready_clause_or_default(helpers):
    assert value_of(run(helpers, "helper_select_ready")) == (
        '[["b" 20] "default" ["send-a"] ["closed-b" {"value" nil "ok" false}] 5]')


def test_blocked_select_withdraws_its_other_waiters(helpers):
    assert value_of(run(helpers, "helper_select_blocking")) == \
        '[["b" "from-b"] "later-a" ["sent"] "sel-sent"]'


def test_select_clause_on_a_non_channel_is_a_type_error(helpers):
    assert value_of(run(helpers, "helper_select_errors")) == '"type-error"'


# ---- timers and the poller ----

def test_sleepers_wake_in_deadline_order(helpers):
    assert value_of(run(helpers, "helper_sleep_order")) == "[10 20 30]"
    assert 0.028 <= helpers.lib.helper_measured() < 0.5


def test_sleep_zero_yields_without_starving_timers(helpers):
    out = run(helpers, "helper_yield_does_not_starve")
    assert int(value_of(out)) > 0


def test_waiting_for_a_descriptor(helpers):
    assert value_of(run(helpers, "helper_wait_fd")) == "[[1 120] 0]"
    assert helpers.lib.helper_measured() >= 0.019


# ---- promises ----

def test_promise_adopts_a_promise_and_first_settle_wins(helpers):
    assert value_of(run(helpers, "helper_promise_adoption")) == \
        '["#<promise pending>" 5 5 "#<promise resolved 5>"]'


def test_rejected_promise_raises_promise_rejected(helpers):
    assert value_of(run(helpers, "helper_promise_rejected")) == '"promise-rejected"'


def test_await_of_a_non_promise(helpers):
    out = run(helpers, "helper_await_non_promise")
    assert error_field(out, "type") == '"type-error"'
    assert error_field(out, "message") == '"`await` expects a promise, got 42"'


# ---- builtins and printing through the uniform entry ----

def call_builtin(name: str, *args: int):
    argv = ffi.new("fl_value[]", list(args) or [0])
    out = ffi.new("fl_outcome *")
    lib.fl_run_call(lib.fl_builtin_value(name.encode()), len(args), argv, out)
    return out


def test_channel_builtins_and_written_forms():
    ch = call_builtin("chan", lib.fl_make_int(10))
    assert show(ch.value) == "#<channel 0/10>"
    assert show(call_builtin("chan").value) == "#<channel 0/0>"
    pred = call_builtin("channel?", ch.value)
    assert show(pred.value) == "true"
    negative = call_builtin("chan", lib.fl_make_int(-1))
    assert error_field(negative, "type") == '"value-error"'
    bad = call_builtin("send!", lib.fl_make_int(1), lib.fl_make_int(2))
    assert error_field(bad, "message") == '"`send!` expects a channel, got an int: 1"'


def test_promise_builtin_runs_the_executor_at_once():
    # (promise list): the executor gets resolve and reject; nobody calls them
    out = call_builtin("promise", lib.fl_builtin_value(b"list"))
    assert show(out.value) == "#<promise pending>"
    assert show(call_builtin("promise?", out.value).value) == "true"
    spawn_bad = call_builtin("spawn", lib.fl_make_int(3))
    assert error_field(spawn_bad, "message") == '"`spawn` expects a function, got an int: 3"'


# ---- compiled programs: the same rules end to end ----

def run_program(source: str, *extra: str, env=None):
    return subprocess.run([sys.executable, "-m", "fluentai", "jit", "-e", source, *extra],
                          capture_output=True, text=True, timeout=120, cwd=HERE.parent,
                          env=env)


def test_compiled_program_with_tasks_under_gc_stress():
    source = textwrap.dedent("""
        (define (worker ch n)
          (let ((data (map (lambda (i) (* i 1.5)) (range 0 n))))
            (recv! ch)
            (fold + 0 data)))
        (define ch (chan))
        (define ps (map (lambda (i) (go (worker ch 300))) (range 0 200)))
        (time:sleep 0)
        (for-each (lambda (p) (send! ch 1)) ps)
        (print-line (fold + 0 (map (lambda (p) (await p)) ps)))
    """)
    env = dict(os.environ, FLUENTAI_GC_STRESS="1")
    done = run_program(source, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{200 * 1.5 * sum(range(300))}\n"


def test_deep_recursion_in_a_task_and_overflow_then_recovery():
    source = textwrap.dedent("""
        (define (depth n) (if (= n 0) 0 (+ 1 (depth (- n 1)))))
        (define (forever n) (+ 1 (forever n)))
        (print-line (await (go (depth 10000))))
        (print-line (handler ((error (lambda (e) (get e "type")))) (await (go (forever 1)))))
        (print-line (await (go (depth 10000))))
        (print-line (depth 100000))
    """)
    done = run_program(source)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "10000\nstack-overflow\n10000\n100000\n"


def test_python_process_survives_a_deadlock_and_runs_again():
    import fluentai

    with pytest.raises(fluentai.FluentAIError) as caught:
        fluentai.run("(define c (chan))\n(recv! c)\n", filename="dl.fl")
    assert "all tasks are blocked" in str(caught.value.message)
    assert fluentai.run("(await (go (+ 40 2)))") == 42
