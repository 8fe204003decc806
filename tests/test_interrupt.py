"""Ctrl-C (issue 12 item 4; LANGUAGE.md section 10, docs/internals.md "Ctrl-C").

Every test starts a real process, waits until the program says "ready" (so the SIGINT arrives
while the program runs, not while it compiles), sends SIGINT and checks what comes out: exit
status 130 and the one-error report (`error[interrupted]`, the place in the program, the call
chain), or, when the program catches `interrupted`, its own output and status 0. Modes: `jit`
through MCJIT (-O0, --no-cache), `jit` through the compile cache's shared object (-O2), and
executables from `fluentai compile` at -O0 and -O2. Timeouts only detect hangs.

Children get SIGINT's default disposition back: a shell's background job (or a CI runner)
may start us with SIGINT ignored, which the runtime respects on purpose.
"""
from __future__ import annotations

import os
import pty
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from test_cli import fluentai as run_cli

HANG = 30   # seconds: only to turn a hang into a failure

# `(ready)` writes "ready" to stderr at once (no runtime wait that could itself notice the
# SIGINT). Loops say it from inside, so that whenever the SIGINT comes, the next poll is the
# one of the loop: the reported place does not depend on timing.
READY = '(define (ready) (io:write-file "/dev/stderr" "ready\\n"))\n'

MODES = [("jit", "-O0"), ("jit", "-O2"), ("exe", "-O0"), ("exe", "-O2")]


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, FLUENTAI_CACHE_DIR=str(tmp_path / "cache"), FLUENTAI_NO_CACHE="")


def command(mode, opt, tmp_path, env, source):
    path = tmp_path / "p.fl"
    path.write_text(source)
    if mode == "exe":
        built = run_cli("compile", opt, "p.fl", "-o", "p", env=env, cwd=tmp_path)
        assert built.returncode == 0, built.stderr
        return [str(tmp_path / "p")]
    cache = ["--no-cache"] if opt == "-O0" else []
    return [sys.executable, "-m", "fluentai", "jit", opt, *cache, "p.fl"]


def _read_line(stream, deadline: float) -> str:
    fd = stream.fileno()
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(left, 0))
        if not ready:
            raise AssertionError(f"no line from the program within {HANG} s (got {data!r})")
        chunk = os.read(fd, 1)
        if not chunk:
            break
        data += chunk
    return data.decode()


def interrupt(cmd, cwd, env, signals=1, stdin=subprocess.DEVNULL):
    """Run cmd until it writes "ready" on stderr, send SIGINT (`signals` times, waiting for
    a line of output between them), return (status, stdout, stderr after ready)."""
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=stdin, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + HANG
        first = _read_line(p.stderr, deadline)
        assert first == "ready\n", (first, p.stderr.read().decode() if p.poll() is not None else "")
        lines = []
        for k in range(signals):
            p.send_signal(signal.SIGINT)
            if k + 1 < signals:
                lines.append(_read_line(p.stdout, deadline))
        out, err = p.communicate(timeout=HANG)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    return p.returncode, "".join(lines) + out.decode(), err.decode()


def assert_interrupted(status, err, line_text, chain_function=None):
    assert status == 130, err
    assert "Traceback" not in err
    header = err.splitlines()[0]
    assert header.startswith("p.fl:") and header.endswith(": error[interrupted]: interrupted"), err
    texts = line_text if isinstance(line_text, tuple) else (line_text,)
    assert any(t in err.splitlines()[1] for t in texts), err
    assert "^" in err.splitlines()[2]
    if chain_function is not None:
        assert "call chain, innermost first:" in err
        assert f"in {chain_function}" in err


LOOPS = {
    "named_let": ("(let loop ((i 0)) (when (= i 1000) (ready)) (loop (+ i 1)))\n",
                  "(loop (+ i 1))", None),
    "self_tail_call": ("(define (spin n) (when (= n 1000) (ready)) (spin (+ n 1)))\n(spin 0)\n",
                       "(spin (+ n 1))", None),
    # No loop at all: only the polls at the entry of functions that call can see the interrupt.
    "mutual_tail_calls": ("(define (ping n) (when (= n 1000) (ready)) (pong (+ n 1)))\n"
                          "(define (pong n) (ping (+ n 1)))\n(ping 0)\n", "(define (p", None),
    "deep_recursion": ("(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))\n"
                       "(ready)\n(fib 100)\n", "(define (fib n)", "`fib`"),
    # A raw-ints clone whose one poll serves its three calls and its loop's back edge.
    # tak's raw clone polls once per iteration of its loop (at the entry's span), and each
    # copy of its body that passes/self_inline.py puts at its calls loops through a back
    # edge of its own, which polls at the tail call that loops: either place, by timing.
    "tak_recursion": ("(define (tak x y z)\n  (if (not (< y x)) z\n"
                      "      (tak (tak (- x 1) y z) (tak (- y 1) z x) (tak (- z 1) x y))))\n"
                      "(ready)\n(tak 100 50 0)\n",
                      ("(define (tak x y z)", "      (tak (tak (- x 1) y z)"), "`tak`"),
    # An accumulator loop (passes/accumulate.py) polls on its back edge (at the call; the
    # signal may come before the first one, at the entry of `count`: the same line).
    "accumulator_loop": ("(define (count n) (if (< n 1) 0 (+ 1 (count (- n 1)))))\n"
                         "(ready)\n(let loop () (count 60000000) (loop))\n",
                         "(define (count n) (if", "`count`"),
    "loop_in_task": ("(define (spin) (let loop ((i 0)) (when (= i 1000) (ready)) (loop (+ i 1))))\n"
                     "(await (spawn spin))\n", "(loop (+ i 1))", None),
    "loop_in_function": ("(define (count-up)\n  (let loop ((i 0))\n    (when (= i 1000) (ready))\n"
                         "    (loop (+ i 1))))\n(count-up)\n", "    (loop (+ i 1))", "`count-up`"),
    # A short counted loop has no poll of its own (codegen _counts_to_a_literal): the endless
    # loop around it polls on its back edge.
    "short_count_inside": ("(let outer ((n 0))\n  (when (= n 3000) (ready))\n"
                           "  (outer (let inner ((i 0) (a n)) (if (= i 1000) a (inner (+ i 1) (+ a 1))))))\n",
                           "  (outer (let inner", None),
}


@pytest.mark.parametrize("mode,opt", MODES)
@pytest.mark.parametrize("kind", sorted(LOOPS))
def test_sigint_stops_a_running_loop(tmp_path, env, mode, opt, kind):
    body, line_text, function = LOOPS[kind]
    status, _, err = interrupt(command(mode, opt, tmp_path, env, READY + body), tmp_path, env)
    assert_interrupted(status, err, line_text, function)


@pytest.mark.parametrize("mode,opt", MODES)
def test_sigint_stops_a_long_builtin(tmp_path, env, mode, opt):
    """`range` of 10^9 runs in the runtime, where generated code's polls never run: its
    allocations notice the Ctrl-C. The heap limit turns a missed interrupt into an
    out-of-memory report within a second or two instead of a machine-sized list."""
    source = READY + "(ready)\n(print-line (length (range 0 1000000000)))\n"
    limited = dict(env, FLUENTAI_MAX_HEAP="512M")
    status, _, err = interrupt(command(mode, opt, tmp_path, limited, source), tmp_path, limited)
    assert_interrupted(status, err, "(range 0 1000000000)")


@pytest.mark.parametrize("mode,opt", MODES)
def test_sigint_stops_a_recursion_modulo_cons(tmp_path, env, mode, opt):
    """An endless recursion modulo cons is a loop (ir/passes/trmc.py) that allocates and
    polls at its back edge; the chain shows the frames of the recursion it replaced, folded
    at the recursive call. The heap limit turns a missed interrupt into an out-of-memory
    report instead of a machine-sized list."""
    source = READY + ("(define (grow n)\n  (cons (if (= n 1000) (ready) n) (grow (+ n 1))))\n"
                      "(print-line (length (grow 0)))\n")
    limited = dict(env, FLUENTAI_MAX_HEAP="512M")
    status, _, err = interrupt(command(mode, opt, tmp_path, limited, source), tmp_path, limited)
    assert_interrupted(status, err, "", "`grow`")
    chain = err[err.index("call chain"):].splitlines()
    assert "    p.fl:3:35 in `grow`" in chain, err
    assert any(line.startswith("    ... ") and line.endswith(" more frames of `grow`")
               for line in chain), err
    assert chain[-1] == "    p.fl:4:21 in the top level", err


def test_the_chain_of_a_contified_loop_names_its_function_at_every_level(tmp_path, env):
    """The poll of a loop inside a function reports the loop's call and a chain through
    the function and the top level, the same at -O0 and -O2."""
    source = READY + LOOPS["loop_in_function"][0]
    chains = []
    for opt in ("-O0", "-O2"):
        status, _, err = interrupt(command("exe", opt, tmp_path, env, source), tmp_path, env)
        assert status == 130, err
        chains.append(err[err.index("call chain"):].splitlines())
    assert chains[0] == chains[1]
    assert chains[0][1:] == ["    p.fl:5:5 in `count-up`", "    p.fl:6:1 in the top level"]


@pytest.fixture
def silent_server():
    """A listening socket that never answers: a fetch from it waits until interrupted."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield f"http://127.0.0.1:{s.getsockname()[1]}/"
    s.close()


WAITS = {
    "sleep": ("(ready)\n(time:sleep 100)\n", "(time:sleep 100)"),
    "read_line": ("(ready)\n(io:read-line)\n", "(io:read-line)"),
    "network": ('(ready)\n(network:get "URL")\n', "(network:get"),
    # The main task waits on a channel (only a timer keeps the program from a deadlock).
    "channel": ("(define c (chan))\n(async:delay 100000 1)\n(ready)\n(recv! c)\n", "(recv! c)"),
    "sleep_in_task": ("(ready)\n(await (go (time:sleep 100)))\n", "(time:sleep 100)"),
}


@pytest.mark.parametrize("mode,opt", MODES)
@pytest.mark.parametrize("kind", sorted(WAITS))
def test_sigint_wakes_a_waiting_program(tmp_path, env, mode, opt, kind, silent_server):
    body, line_text = WAITS[kind]
    source = READY + body.replace("URL", silent_server)
    stdin = subprocess.PIPE if kind == "read_line" else subprocess.DEVNULL
    status, _, err = interrupt(command(mode, opt, tmp_path, env, source), tmp_path, env,
                               stdin=stdin)
    assert_interrupted(status, err, line_text)


@pytest.mark.parametrize("mode,opt", [("jit", "-O2"), ("exe", "-O2")])
def test_sigint_stops_a_slow_host_lookup(tmp_path, env, mode, opt, slow_dns):
    """A DNS lookup that hangs (tests/slow_dns.c) runs on a thread of its own: the first
    Ctrl-C stops the program at the fetch, not the second one."""
    source = READY + '(ready)\n(network:get "http://slow.test/")\n'
    dns_env = dict(env, **slow_dns(60))
    status, _, err = interrupt(command(mode, opt, tmp_path, dns_env, source), tmp_path, dns_env)
    assert_interrupted(status, err, '(network:get "http://slow.test/")')


CATCHES = {
    # error:catch answers at the poll: the loop goes on and sees the flag the handler set.
    "error_catch": ("""\
        (error:catch "interrupted" (lambda (e) (state:set "stop" (get e "message"))))
        (define (run i) (when (= i 1000) (ready)) (if (state:get "stop") i (run (+ i 1))))
        (define n (run 0))
        (io:print "stopped:" (state:get "stop") (>= n 1000))
        """, "stopped: interrupted true\n"),
    # A handler form unwinds to itself, from a loop and from a wait.
    "handler_loop": ("""\
        (io:print (handler ((error (lambda (e) (get e "type"))))
          (let loop ((i 0)) (when (= i 1000) (ready)) (loop (+ i 1)))))
        """, "interrupted\n"),
    # (ready) inside the handler's body: a Ctrl-C before the form is entered is not its to
    # catch (the allocator's polls may notice it while the form's clauses are built).
    "handler_sleep": ("""\
        (io:print (handler ((error (lambda (e) (get e "type")))) (ready) (time:sleep 100)))
        """, "interrupted\n"),
    "handler_in_task": ("""\
        (define p (go (handler ((error (lambda (e) "task caught it"))) (ready) (time:sleep 100))))
        (io:print (await p))
        """, "task caught it\n"),
}


@pytest.mark.parametrize("mode,opt", MODES)
@pytest.mark.parametrize("kind", sorted(CATCHES))
def test_interrupted_is_catchable(tmp_path, env, mode, opt, kind):
    body, expected = CATCHES[kind]
    source = READY + textwrap.dedent(body)
    status, out, err = interrupt(command(mode, opt, tmp_path, env, source), tmp_path, env)
    assert (status, out, err) == (0, expected, "")


def test_a_caught_interrupt_can_come_again(tmp_path, env):
    """After an error:catch answer the program runs on, and the next Ctrl-C is caught too."""
    source = READY + textwrap.dedent("""\
        (error:catch "interrupted"
          (lambda (e) (state:update "n" (lambda (n) (+ (if n n 0) 1)))
                      (io:write-file "/dev/stdout" "caught\\n")))
        (define (run i) (when (= i 1000) (ready)) (if (== (state:get "n") 2) "done" (run (+ i 1))))
        (io:print (run 0))
        """)
    status, out, err = interrupt(command("jit", "-O2", tmp_path, env, source), tmp_path, env,
                                 signals=2)
    assert (status, out, err) == (0, "caught\ncaught\ndone\n", "")


def test_sigint_while_compiling_is_one_line(tmp_path, env):
    """Ctrl-C in the compiler's own Python code: one line, exit 130, no traceback."""
    script = textwrap.dedent("""\
        import os, signal, sys, time
        import fluentai.driver as driver
        from fluentai.cli import entry
        def compile_source(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(HANG)
        driver.compile_source = compile_source
        sys.argv = ["fluentai", "jit", "--no-cache", "-e", "(+ 1 2)"]
        entry()
        """).replace("HANG", str(HANG))
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                       timeout=HANG * 2, preexec_fn=_default_sigint)
    assert (r.returncode, r.stdout, r.stderr) == (130, "", "fluentai: interrupted\n")


def test_python_api_raises_keyboard_interrupt(tmp_path, env):
    """fluentai.run: SIGINT from another thread stops the loop with Interrupted, a
    KeyboardInterrupt; between runs Python's own Ctrl-C handling is back."""
    script = textwrap.dedent("""\
        import os, signal, threading
        import fluentai
        def start(*args):
            threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGINT)).start()
        source = '(define (spin n) (when (= n 1000) (io:print "go")) (spin (+ n 1)))\\n(spin 0)\\n'
        try:
            fluentai.run(source, filename="api.fl", handlers={"io:print": start})
        except fluentai.Interrupted as e:
            print(isinstance(e, KeyboardInterrupt), isinstance(e, Exception), e.type, e.location)
            print(e.report.splitlines()[0])
        print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
        print(fluentai.run("(+ 1 2)"))
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10 ** 7):
                pass
            print("not interrupted")
        except KeyboardInterrupt as e:
            print("python", type(e).__name__)
        """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                       timeout=HANG * 2, preexec_fn=_default_sigint)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "True False interrupted api.fl:1:52",
        "api.fl:1:52: error[interrupted]: interrupted",
        "True", "3", "python KeyboardInterrupt"]


def _read_until(fd, marker: bytes, deadline: float) -> bytes:
    data = b""
    while marker not in data:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(left, 0))
        if not ready:
            raise AssertionError(f"{marker!r} not seen within {HANG} s; got {data!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            raise AssertionError(f"{marker!r} not seen before the end; got {data!r}")
        data += chunk
    return data


def test_repl_returns_to_the_prompt_with_the_session_intact(env):
    pid, fd = pty.fork()
    if pid == 0:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execve(sys.executable, [sys.executable, "-m", "fluentai", "repl"],
                  dict(env, HOME=env["FLUENTAI_CACHE_DIR"]))
    deadline = time.monotonic() + HANG
    try:
        _read_until(fd, b"fl> ", deadline)
        os.write(fd, b"(define x 41)\n")
        _read_until(fd, b"fl> ", deadline)
        # The terminal makes stdout line-buffered: "ready" shows up at once.
        os.write(fd, b'(let loop ((i 0)) (when (= i 1000) (io:print "ready")) (loop (+ i 1)))\n')
        _read_until(fd, b"ready\r\n", deadline)
        os.write(fd, b"\x03")
        report = _read_until(fd, b"fl> ", deadline).decode()
        assert "error[interrupted]: interrupted" in report and "Traceback" not in report
        assert "(loop (+ i 1))" in report
        os.write(fd, b"(+ x 1)\n")
        assert b"42" in _read_until(fd, b"fl> ", deadline)
        os.write(fd, b"\x04")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(fd)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def test_a_retreating_branch_polls_on_an_edge_block_of_its_own(monkeypatch):
    """Lowering closes loops with jumps; a conditional branch back into a loop (what a later
    pass may make) gets its poll on a block of its own, which the loop's phis then name."""
    from fluentai.backend.codegen import generate_module
    from fluentai.backend.jit import jit_compile
    from fluentai.frontend import parse_program
    from fluentai.ir import nodes as N
    from fluentai.ir import pipeline
    from fluentai.ir.pipeline import build_ir
    # One loop: without the fixnum copy of it (passes/fixnum_loops.py), which would poll too.
    monkeypatch.setattr(pipeline, "PASSES", [p for p in pipeline.PASSES if p[0] != "fixnum-loops"])
    from fluentai.ir.verify import verify_module
    from fluentai.runner import LoadedProgram

    source = "(define (count n) (let loop ((i 0)) (if (< i n) (loop (+ i 1)) i)))\n(count 10)\n"
    module, _ = build_ir(parse_program(source, "b.fl"))
    count = next(f for f in module.functions if f.display_name == "count")
    order = {b: k for k, b in enumerate(count.blocks)}
    back = next(b for b in count.blocks if isinstance(b.terminator, N.Jump)
                and order[b.terminator.target] < order[b])
    header = back.terminator.target
    test = header.terminator            # branch (< i n), body, exit
    assert isinstance(test, N.Branch)
    # jump loop  ->  branch (< i n), loop, exit: the same loop, since the test held here.
    branch = N.Branch(test.cond, header, test.orelse)
    branch.block = back
    back.instrs[-1] = branch
    verify_module(module)
    llvm_ir = str(generate_module(module))
    body = llvm_ir[llvm_ir.index('define internal i64 @"' + count.name):]
    body = body[:body.index("\n}\n")]
    assert "back_edge:" in body and body.count("fl_interrupt_poll_slow") == 1   # a leaf: no entry poll
    assert LoadedProgram(None, 2, jit=jit_compile(llvm_ir, 2)).run() == 10


def test_executables_poll_with_one_rip_relative_load():
    """An executable links the runtime statically, so its polls read the flag
    directly; a shared object's (the jit cache) must go through the GOT."""
    from fluentai import driver
    from fluentai.backend import aot
    compiled = driver.compile_source("(define (f n) (if (= n 0) 0 (f (- n 1))))\n(f 10)\n", "p.fl")
    for_executable = aot.emit_assembly(compiled.llvm_ir, 2, executable=True)
    generic = aot.emit_assembly(compiled.llvm_ir, 2)
    assert "fl_interrupt_pending(%rip)" in for_executable
    assert "fl_interrupt_pending@GOTPCREL" not in for_executable
    assert "fl_interrupt_pending@GOTPCREL" in generic


def test_raw_clones_poll_once_per_path_that_calls_or_loops():
    """fib's four calls (two in each copy of its body inlined at its own calls,
    passes/self_inline.py) sit on different paths (each polls; n = 2 calls none); in each
    of tak's three inlined copies, its three calls and its back edge share the one poll of
    the block that dominates them; an accumulator loop (passes/accumulate.py) calls nothing
    and polls on its back edge."""
    from fluentai import driver
    source = ("(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))\n"
              "(define (tak x y z) (if (not (< y x)) z\n"
              "  (tak (tak (- x 1) y z) (tak (- y 1) z x) (tak (- z 1) x y))))\n"
              "(define (count n) (if (< n 1) 0 (+ 1 (count (- n 1)))))\n"
              "(list (fib 20) (tak 18 12 6) (count 100))\n")
    llvm_ir = driver.compile_source(source, "p.fl").llvm_ir

    def polls(name: str) -> int:
        body = llvm_ir[llvm_ir.index(f'define internal i64 @"{name}"('):]
        return body[:body.index("\n}\n")].count("call void @\"fl_interrupt_poll_slow\"")

    assert polls("fl_fn2_fib_fix") == 4
    assert polls("fl_fn3_tak_fix") == 3
    assert polls("fl_fn4_count_acc") == 1


def test_a_loop_down_a_list_does_not_poll():
    """A loop whose every back edge passes one phi its own unchecked tail ends within the
    list's length: no poll (codegen _walks_a_list). One that may start the list again on
    some back edge, or loops on a checked tail (an error:catch could answer it with the same
    list every time), keeps its poll."""
    from fluentai import driver
    walk = "(let loop ((l [1 2 3]) (n 0)) (if (null? l) n (loop (tail l) (+ n 1))))\n"
    again = ("(let loop ((l [1]) (m 3))\n"
             "  (if (null? l) (if (= m 0) 0 (loop [1 2] (- m 1))) (loop (tail l) m)))\n")
    catch = '(error:catch "empty-list" (lambda (e) [1]))\n' + walk

    def polls(source: str) -> int:
        llvm_ir = driver.compile_source(source, "p.fl").llvm_ir
        body = llvm_ir[llvm_ir.index('@"fl_program_entry"('):]
        return body[:body.index("\n}\n")].count("call void @\"fl_interrupt_poll_slow\"")

    assert polls(walk) == 0
    assert polls(again) >= 1
    assert polls(catch) == 1


def test_a_short_counted_loop_does_not_poll():
    """A loop counted up by 1 from a literal until it equals a literal at most
    SHORT_COUNT above (codegen _counts_to_a_literal) goes round a bounded number of times:
    no poll of its own. A longer count, a step of 2, an end that does not leave the loop
    and a start that is not a literal keep the poll; an endless loop around a short one
    polls on its own back edge (LOOPS["short_count_inside"] is interrupted there)."""
    from fluentai import driver
    short = "(let loop ((i 0) (a 0)) (if (= i 1000) a (loop (+ i 1) (+ a i))))\n"
    long = "(let loop ((i 0) (a 0)) (if (= i 100000) a (loop (+ i 1) (+ a i))))\n"
    step = "(let loop ((i 0) (a 0)) (if (= i 1000) a (loop (+ i 2) (+ a i))))\n"
    start = ("(define (f s) (let loop ((i s) (a 0)) (if (= i 1000) a (loop (+ i 1) (+ a i)))))\n"
             "(f 0)\n")

    def polls(source: str, name: str = "fl_program_entry") -> int:
        llvm_ir = driver.compile_source(source, "p.fl").llvm_ir
        body = llvm_ir[llvm_ir.index(f'@"{name}"('):]
        return body[:body.index("\n}\n")].count("call void @\"fl_interrupt_poll_slow\"")

    assert polls(short) == 0
    assert polls(long) == 1
    assert polls(step) == 1
    assert polls(start, "fl_fn2_f") >= 1
