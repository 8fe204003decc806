"""Effects and handlers through the Python API (LANGUAGE.md sections 7 and 9).

In:  small FluentAI programs run in this process with ``fluentai.run`` / ``load``,
     with and without Python handlers (``handlers={...}``).
Out: pass/fail. The golden cases tests/cases/eff_*.fl and gc_eff_*.fl cover the
     language-level rules operation by operation; this file covers what only the
     API can see: values crossing both ways, Python handlers and their errors,
     outcomes as exceptions, and that one Python process survives every case and
     runs the next program with a clean state store, handler stack and counts.
"""
from __future__ import annotations

import time

import pytest

import fluentai
from fluentai import Data, FluentAIError, Keyword, ProgramExit


def error_of(source: str, **options) -> FluentAIError:
    with pytest.raises(FluentAIError) as info:
        fluentai.run(source, **options)
    return info.value


# ---- handler forms, seen from Python ----

def test_resuming_clause_value_reaches_the_perform_site():
    assert fluentai.run('(handler ((state:get (lambda (k) 99))) (+ 1 (state:get "k")))') == 100


def test_error_clause_value_is_the_value_of_the_form():
    source = '(handler ((error (lambda (e) [(get e "type") (get e "data")]))) (error:raise "cfg" "m" {"p" 1}))'
    assert fluentai.run(source) == ["cfg", {"p": 1}]


def test_uncaught_raise_becomes_fluentai_error_with_type_message_data():
    error = error_of('(define (f) (error:raise "config" "bad port" {"port" -1}))\n(f)', filename="cfg.fl")
    assert (error.type, error.message, error.data) == ("config", "bad port", {"port": -1})
    assert error.location == "cfg.fl:1:13"
    assert "= data: {\"port\" -1}" in error.report


def test_runtime_fault_in_a_clause_escapes_the_clauses_own_form():
    source = """
    (handler ((error (lambda (e) ["outer" (get e "type")])))
      (handler ((error (lambda (e) "wrong form")) (my:op (lambda () (/ 1 0))))
        (my:op)))"""
    assert fluentai.run(source) == ["outer", "division-by-zero"]


def test_stack_overflow_is_caught_and_the_process_recurses_deeply_again():
    source = """
    (define (forever n) (+ 1 (forever (+ n 1))))
    (define (sum n) (if (= n 0) 0 (+ n (sum (- n 1)))))
    [(handler ((error (lambda (e) (get e "type")))) (forever 0)) (sum 1000000)]"""
    for _ in range(3):
        assert fluentai.run(source) == ["stack-overflow", 500000500000]
    error = error_of("(define (forever n) (+ 1 (forever (+ n 1)))) (forever 0)")
    assert error.type == "stack-overflow"
    assert fluentai.run("(define (sum n) (if (= n 0) 0 (+ n (sum (- n 1))))) (sum 1000000)") == 500000500000


def test_error_inside_nested_handlers_restores_the_fast_path():
    """Frames unwound by an error give their counts back: later operations of
    the same names go to the defaults (and still work) in the same run."""
    source = """
    (define (once)
      (handler ((error (lambda (e) "caught")))
        (handler ((state:get (lambda (k) "intercepted")) (io (lambda (op . xs) nil)))
          (error:raise "boom"))))
    (once) (once)
    (state:set "k" "real")
    [(once) (state:get "k")]"""
    assert fluentai.run(source) == ["caught", "real"]


def test_unhandled_effect_at_runtime_names_the_operation():
    source = '(define (f) (handler ((my:op (lambda () 1))) 0))\n(f)\n(my:op)'
    error = error_of(source)
    assert (error.type, error.message) == ("unhandled-effect", "unhandled effect `my:op`")


def test_unhandled_effect_without_any_handler_is_a_compile_error():
    with pytest.raises(fluentai.CompileError):
        fluentai.run("(io:frobnicate 1)")


# ---- every run starts clean ----

def test_state_store_error_catch_and_seed_do_not_leak_between_runs():
    fluentai.run('(state:set "k" 1) (state:begin-transaction) (error:catch "t" (lambda (e) 0))')
    assert fluentai.run('(state:get "k")') is None
    assert error_of('(state:commit-transaction)').type == "value-error"
    assert error_of('(error:raise "t" "m")').type == "t"


def test_elapsed_time_starts_with_each_run():
    fluentai.run("(time:sleep 0.05)")
    assert fluentai.run("(time:elapsed)") < 0.05


def test_seeded_runs_repeat_and_unseeded_runs_differ():
    source = "(random:seed 99) [(random:int 0 1000000) (random:float) (random:shuffle (range 0 20))]"
    assert fluentai.run(source) == fluentai.run(source)
    draws = {fluentai.run("(random:int 0 1000000000000)") for _ in range(3)}
    assert len(draws) == 3


def test_a_run_that_exits_inside_a_handler_leaves_no_handler_behind():
    with pytest.raises(ProgramExit):
        fluentai.run('(handler ((state:get (lambda (k) "stale"))) (exit 4))')
    fluentai.run('(state:set "k" "fresh")')
    assert fluentai.run('(state:set "k" "v") (state:get "k")') == "v"


# ---- Python handlers ----

def test_python_handler_receives_converted_arguments():
    seen = []
    value = fluentai.run('(io:print 1 2.5 "s" [1 [2]] {"k" :v} nil true) (io:println) 7',
                         handlers={"io:print": lambda *args: seen.append(args)})
    assert value == 7
    assert seen == [(1, 2.5, "s", [1, [2]], {"k": Keyword("v")}, None, True)]


def test_python_handler_result_becomes_the_value_of_the_operation():
    results = iter([[1, "two", 3.0], {"a": [None, False]}, Keyword("k"), Data("Some", (5,)), 2 ** 62])
    source = "[(state:get 1) (state:get 2) (state:get 3) (state:get 4) (+ 1 (state:get 5))]"
    assert fluentai.run(source, handlers={"state:get": lambda k: next(results)}) == [
        [1, "two", 3.0], {"a": [None, False]}, Keyword("k"), Data("Some", (5,)), 2 ** 62 + 1]


def test_python_handler_for_a_whole_effect_gets_the_operation_name():
    calls = []

    def random_handler(op, *args):
        calls.append((op, args))
        return {"int": 4, "float": 0.5, "bool": True, "choice": "x", "shuffle": [3, 2, 1]}.get(op)

    source = "[(random:int 1 6) (random:float) (random:bool) (random:choice [1]) (random:shuffle [1 2 3])]"
    assert fluentai.run(source, handlers={"random": random_handler}) == [4, 0.5, True, "x", [3, 2, 1]]
    assert [op for op, _ in calls] == ["int", "float", "bool", "choice", "shuffle"]
    assert calls[0][1] == (1, 6)


def test_handler_forms_come_before_python_handlers_and_can_forward_to_them():
    seen = []
    source = """
    [(handler ((io:print (lambda (x) "form"))) (io:print 1))
     (handler ((io:print (lambda (x) (io:print "forwarded" x)))) (io:print 2))
     (io:print 3)]"""
    value = fluentai.run(source, handlers={"io:print": lambda *a: seen.append(a) or len(seen)})
    assert value == ["form", 1, 2]
    assert seen == [("forwarded", 2), (3,)]


def test_python_handlers_apply_inside_calls_deep_in_the_program():
    source = "(define (deep n) (if (= n 0) (state:get :bottom) (head [(deep (- n 1))])))\n(deep 100000)"
    assert fluentai.run(source, handlers={"state:get": lambda k: str(k)}) == "bottom"


def test_exception_in_a_python_handler_is_a_python_error_at_the_perform_site():
    def broken(*args):
        raise ValueError("disk on fire")

    error = error_of('\n(io:print "x")', handlers={"io:print": broken}, filename="p.fl")
    assert (error.type, error.message, error.data) == ("python-error", "disk on fire", "ValueError")
    assert error.location == "p.fl:2:1"
    caught = fluentai.run('(handler ((error (lambda (e) [(get e "type") (get e "message")]))) (io:print 1))',
                          handlers={"io:print": broken})
    assert caught == ["python-error", "disk on fire"]


def test_unconvertible_handler_result_is_a_python_error():
    error = error_of("(state:get 1)", handlers={"state:get": lambda k: object()})
    assert error.type == "python-error"
    assert "cannot pass a Python object" in error.message


def test_python_handler_calling_back_into_fluentai(capfd):
    """The handler calls a FluentAI function passed to it (a nested run): the
    callee sees the defaults only, not the Python handlers (they are one layer,
    like the clauses of one handler form)."""
    seen = []

    def update(op, key, f):
        seen.append(op)
        return f(41)

    source = '(state:update "k" (lambda (old) (io:print "inside") (+ old 1)))'
    assert fluentai.run(source, handlers={"state": update, "io:print": lambda *a: seen.append(a)}) == 42
    assert seen == ["update"]
    assert capfd.readouterr().out == "inside\n"


def test_fluentai_error_from_a_nested_call_keeps_its_type():
    def update(op, key, f):
        return f(0)

    error = error_of('(state:update "k" (lambda (old) (error:raise "inner" "from the callee" [1])))',
                     handlers={"state": update})
    assert (error.type, error.message, error.data) == ("inner", "from the callee", [1])


def test_python_handler_that_fails_after_a_failed_nested_call():
    """A nested call that ends in an error leaves the handler stack stale; the
    next nested call and the rest of the program must not see it."""
    def update(op, key, f):
        try:
            f(0)
        except FluentAIError:
            pass
        return f(1)

    source = """
    (handler ((my:inner (lambda () "outer form")))
      [(state:update "k" (lambda (x)
         (handler ((my:inner (lambda () "inner form")))
           (if (= x 0) (head []) (my:inner)))))
       (my:inner)])"""
    assert fluentai.run(source, handlers={"state": update}) == ["inner form", "outer form"]


def test_program_exit_from_a_python_handler_ends_the_program():
    def stop(*args):
        raise ProgramExit(9)

    with pytest.raises(ProgramExit) as info:
        fluentai.run('(io:print "bye") (io:print "not reached")', handlers={"io:print": stop})
    assert info.value.code == 9


def test_python_error_handler_gives_the_value_of_a_failed_run():
    errors = []
    value = fluentai.run("(+ 1 (/ 1 0))", handlers={"error": lambda e: errors.append(e) or "recovered"})
    assert value == "recovered"
    assert errors == [{"type": "division-by-zero", "message": "division by zero", "data": None}]
    assert fluentai.run("(/ 4 2)", handlers={"error": lambda e: "unused"}) == 2
    inner = fluentai.run('(handler ((error (lambda (e) "form wins"))) (error:raise "x"))',
                         handlers={"error:raise": lambda e: "python"})
    assert inner == "form wins"


def test_handlers_stay_with_a_loaded_module():
    lines = []
    module = fluentai.load('(define (greet name) (io:print "hello" name) (string-length name))',
                           handlers={"io:print": lambda *a: lines.append(" ".join(map(str, a)))})
    assert module["greet"]("ada") == 3
    assert module["greet"]("bob") == 3
    assert lines == ["hello ada", "hello bob"]
    other = []
    assert fluentai.run('(io:print "plain") 1', handlers={"io:write": other.append}) == 1
    assert other == []


def test_handlers_do_not_leak_into_the_next_run():
    fluentai.run('(state:get "k")', handlers={"state:get": lambda k: "python"})
    assert fluentai.run('(state:set "k" 1) (state:get "k")') == 1


@pytest.mark.parametrize("handlers, error", [
    ([("io:print", print)], TypeError),
    ({"io print": print}, ValueError),
    ({"": print}, ValueError),
    ({"io:print:x": print}, ValueError),
    ({"io:print": 42}, TypeError),
    ({3: print}, ValueError),
])
def test_bad_handler_mappings_are_rejected_before_running(handlers, error):
    with pytest.raises(error):
        fluentai.run("1", handlers=handlers)


def test_python_handler_for_a_user_effect():
    assert fluentai.run("(+ 1 (log:level))", handlers={"log:level": lambda: 2}) == 3


def test_python_handlers_under_gc_stress():
    from fluentai.backend.rt_build import load_runtime

    _, lib = load_runtime()
    lib.fl_set_gc_stress(1)
    try:
        source = """
        (define (loop i acc) (if (= i 0) acc (loop (- i 1) (cons (my:make i) acc))))
        (handler ((my:make (lambda (i) (state:get i)))) (length (loop 3000 [])))"""
        value = fluentai.run(source, handlers={"state:get": lambda i: [i, str(i), {"k": [i]}]})
        assert value == 3000
        source = """
        (define (loop i acc) (if (= i 0) acc (loop (- i 1) (cons (state:get i) acc))))
        (loop 2000 [])"""
        value = fluentai.run(source, handlers={"state:get": lambda i: [i, str(i), {"k": [i]}]})
        assert value == [[i, str(i), {"k": [i]}] for i in range(1, 2001)]
    finally:
        lib.fl_set_gc_stress(0)


# ---- performance: the shapes the issue asks for ----

def test_handled_and_default_paths_are_fast():
    """Generous bounds (a shared CI machine); they catch an accidental
    search-per-perform or allocation-per-perform regression by orders of
    magnitude, not small slowdowns."""
    handled = fluentai.load("""
        (define (loop i n acc) (if (< i n) (loop (+ i 1) n (+ acc (gen:next i))) acc))
        (define (run n) (handler ((gen:next (lambda (i) (* 2 i)))) (loop 0 n 0)))""")
    start = time.perf_counter()
    assert handled["run"](1_000_000) == 999_999_000_000
    assert time.perf_counter() - start < 1.0
    state = fluentai.load("""
        (define (inc x) (+ x 1))
        (define (loop i n) (when (< i n) (state:update "c" inc) (loop (+ i 1) n)))
        (define (run n) (state:set "c" 0) (loop 0 n) (state:get "c"))""")
    start = time.perf_counter()
    assert state["run"](1_000_000) == 1_000_000
    assert time.perf_counter() - start < 2.0
