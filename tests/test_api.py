"""The Python interface (LANGUAGE.md section 9): run, run_file, load, conversions, errors.

Every error must come back as a Python exception, and the interpreter must be able to run
another program afterwards: the tests run many programs in this one process on purpose.
"""
from __future__ import annotations

import pytest

import fluentai
from fluentai import CompileError, Data, FluentAIError, Keyword, Symbol


def test_run_returns_the_last_value():
    assert fluentai.run("(+ 1 2)") == 3
    assert fluentai.run("(define x 5) (* x x)") == 25
    assert fluentai.run("(define x 5)") is None


@pytest.mark.parametrize("source, expected", [
    ("42", 42), ("-7", -7), ("9223372036854775807", 9223372036854775807),
    ("2.5", 2.5), ('"héllo"', "héllo"), ("true", True), ("false", False), ("nil", None),
    ("[1 [2 3] []]", [1, [2, 3], []]), ('{"a" 1 :k [2]}', {"a": 1, Keyword("k"): [2]}),
    (":year", Keyword("year")), ("'sym", Symbol("sym")),
    ('(tuple "Some" 5)', Data("Some", (5,))),
])
def test_values_convert_to_python(source, expected):
    assert fluentai.run(source) == expected


def test_functions_are_callables_and_values_convert_back():
    mod = fluentai.load("""
        (define (make-adder k) (lambda (x) (+ x k)))
        (define (echo x) x)
        (define (total xs) (fold + 0 xs))
    """)
    assert mod["make-adder"](5)(1) == 6
    for value in [1, 2.5, "s", None, True, [1, [2]], {"k": [1, 2]}, Keyword("k"),
                  Data("Pair", (1, "x"))]:
        assert mod["echo"](value) == value
    assert mod["total"](list(range(1000))) == sum(range(1000))
    assert "total" in mod and "nope" not in mod


def test_compile_errors_raise_compile_error_with_every_diagnostic():
    with pytest.raises(CompileError) as info:
        fluentai.run("(+ a b)", filename="p.fl")
    names = sorted(d.message for d in info.value.diagnostics)
    assert names == ["undefined variable `a`", "undefined variable `b`"]
    assert "p.fl:1:4" in str(info.value)


@pytest.mark.parametrize("source, error_type, message", [
    ("(/ 1 0)", "division-by-zero", "division by zero"),
    ("(head [])", "empty-list", "`head` of an empty list"),
    ("(nth [1 2 3] 5)", "index-error", "index 5 out of bounds for a list of length 3"),
    ('(+ 1 "a")', "type-error", '`+` expects numbers, got a string: "a"'),
    ("(* 9223372036854775807 2)", "overflow-error", "integer overflow in `*`"),
    ("(define (f n) (+ 1 (f n))) (f 1)", "stack-overflow", "stack overflow"),
    ('(error:raise "config" "bad port" {"port" -1})', "config", "bad port"),
    ("(match 7 (0 1))", "match-error", "no pattern matched the value 7"),
])
def test_runtime_errors_raise_fluentai_error(source, error_type, message):
    with pytest.raises(FluentAIError) as info:
        fluentai.run(source, filename="p.fl")
    assert info.value.type == error_type
    assert info.value.message == message
    assert info.value.location is not None and info.value.location.startswith("p.fl:1:")


def test_error_data_converts():
    with pytest.raises(FluentAIError) as info:
        fluentai.run('(error:raise "config" "bad port" {"port" -1})')
    assert info.value.data == {"port": -1}


def test_the_process_survives_repeated_overflows_and_keeps_working():
    for _ in range(3):
        with pytest.raises(FluentAIError):
            fluentai.run("(define (f n) (+ 1 (f n))) (f 1)")
    assert fluentai.run("(define (deep n) (if (= n 0) 0 (+ 1 (deep (- n 1))))) (deep 100000)") \
        == 100000


def test_errors_inside_a_called_function_come_back_as_exceptions():
    mod = fluentai.load("(define (ratio a b) (/ a b))")
    assert mod["ratio"](6, 3) == 2
    with pytest.raises(FluentAIError) as info:
        mod["ratio"](1, 0)
    assert info.value.type == "division-by-zero"
    with pytest.raises(FluentAIError) as info:
        mod["ratio"](1)
    assert info.value.type == "arity-error"


def test_a_global_the_host_calls_keeps_its_checks():
    # The program itself calls `second` only with lists; the host may call it with
    # anything, so the API does not compile a closed world (passes/known_lists.py).
    mod = fluentai.load("(define (second l) (if (null? l) 0 (head (tail l))))\n"
                        "(define (walk l) (if (null? l) 0 (+ (second l) (walk (tail (tail l))))))\n"
                        "(walk [1 2 3 4])")
    assert mod.value == 6
    with pytest.raises(FluentAIError) as info:
        mod["second"](7)
    assert info.value.type == "type-error"
    assert mod["second"]([1, 2]) == 2


def test_exit_is_reported_as_program_exit():
    with pytest.raises(fluentai.ProgramExit) as info:
        fluentai.run("(exit 3)")
    assert info.value.code == 3


def test_every_optimisation_level_gives_the_same_result():
    source = "(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2))))) (fib 20)"
    assert {fluentai.run(source, opt=level) for level in range(4)} == {6765}


def test_run_file(tmp_path):
    path = tmp_path / "prog.fl"
    path.write_text("(define (sq x) (* x x)) (sq 12)")
    assert fluentai.run_file(path) == 144


def test_python_callables_become_fluentai_functions():
    mod = fluentai.load("""
        (define (ap f x) (f x))
        (define (twice f xs) (map f xs))
        (define (safe f) (handler ((error (lambda (e) (get e "message")))) (f 1)))
    """)
    assert mod["ap"](lambda x: x + 1, 2) == 3
    assert mod["twice"](lambda x: [x, str(x)], [1, 2]) == [[1, "1"], [2, "2"]]

    def fails(x):
        raise ValueError("nope")

    with pytest.raises(FluentAIError) as info:
        mod["ap"](fails, 1)
    assert (info.value.type, info.value.message) == ("python-error", "nope")
    assert mod["safe"](fails) == "nope"           # a handler around the call catches it


def test_a_codegen_bug_is_reported_at_the_form_it_hit(monkeypatch):
    """An exception inside code generation is an internal compiler error that names the
    source location of the instruction being generated, not just the file."""
    from fluentai.backend import codegen
    from fluentai.driver import compile_source
    from fluentai.errors import InternalCompilerError

    def broken(self, i, args):
        raise ValueError("simulated codegen bug")
    monkeypatch.setattr(codegen.FunctionCodegen, "prim_mul", broken)
    with pytest.raises(InternalCompilerError) as info:
        compile_source("(define (f x)\n  (+ 1 (* x 2)))\n(f 3)\n", "bug.fl")
    assert (info.value.span.line, info.value.span.col) == (2, 8)
    assert str(info.value).startswith("bug.fl:2:8: internal compiler error: ValueError")


def test_an_llvm_rejection_names_the_function_it_came_from():
    from fluentai.driver import compile_source
    compiled = compile_source("(define (f x)\n  (+ x 1))\n(f 3)\n", "bug.fl")
    llvm_name = next(name for name in compiled.function_spans if name.endswith("_f"))
    message = f"Instruction does not dominate all uses!\n  %7 = add i64 %3, 1\nin function @{llvm_name}"
    span = compiled.span_of_llvm_error(message)
    assert (span.line, span.col) == (1, 1)
    assert str(compiled.llvm_rejection(RuntimeError(message))).startswith(
        "bug.fl:1:1: internal compiler error: Instruction does not dominate")
    assert compiled.span_of_llvm_error("no function named here") is None


def test_long_appended_strings_come_back_as_python_strings():
    # string-append of 256 bytes or more makes a rope: Python must see the flat text,
    # also when the rope is a map key, and pass Python strings back in for comparison.
    mod = fluentai.load("""
        (define (grow n piece)
          (let loop ((i 0) (s ""))
            (if (= i n) s (loop (+ i 1) (string-append s piece)))))
        (define (same? s n piece) (== s (grow n piece)))
    """)
    text = mod["grow"](200, "é😀")
    assert text == "é😀" * 200
    assert fluentai.run('(set {} (string-append (substring "x" 0 1) (to-string (range 0 100))) 1)') == \
        {"x" + str(list(range(100))).replace(",", ""): 1}
    assert mod["same?"]("ab" * 300, 300, "ab") is True


def test_maps_built_in_place_come_back_as_python_dicts():
    # A loop's owned sets make a flat hash table past 8 entries (runtime_c/map.c): Python sees
    # a dict in insertion order, and a dict passed in (a trie) compares equal to it.
    mod = fluentai.load("""
        (define (build n)
          (let loop ((i 0) (m {}))
            (if (= i n) m (loop (+ i 1) (set m (- n i) (to-string i))))))
        (define (same? m n) (= m (build n)))
    """)
    built = mod["build"](500)
    assert built == {500 - i: str(i) for i in range(500)}
    assert list(built)[:3] == [500, 499, 498]
    assert mod["same?"]({k: str(500 - k) for k in range(1, 501)}, 500) is True
    assert mod["same?"]({k: str(500 - k) for k in range(1, 500)}, 500) is False


def test_compiling_keeps_the_hosts_gc_settings_and_frozen_objects():
    """The compiler freezes Python's GC generations around a compilation; an embedder's
    own frozen objects and thresholds must be as it left them afterwards."""
    import gc
    thresholds = gc.get_threshold()
    gc.freeze()
    frozen = gc.get_freeze_count()
    try:
        assert frozen > 0
        assert fluentai.run("(+ 40 2)") == 42
        assert gc.get_freeze_count() == frozen
        assert gc.get_threshold() == thresholds
    finally:
        gc.unfreeze()
    assert fluentai.run("(+ 1 2)") == 3
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds
