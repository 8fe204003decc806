"""Every builtin: the Python table agrees with the runtime's, and no argument can crash it.

fluentai/builtins.py (names, arities, C symbols used by the compiler) and the runtime's
fl_builtin_def tables must describe the same functions. Then every builtin is called
through the compiler with too few and too many arguments (an arity-error naming it) and
with arguments of wrong types (a clean error of a reference type, or a value; never a crash).
"""
from __future__ import annotations

import pytest

import fluentai
from fluentai.backend.rt_build import load_runtime
from fluentai.builtins import BUILTINS

ERROR_TYPES = {"type-error", "arity-error", "value-error", "index-error", "empty-list",
               "overflow-error", "division-by-zero", "channel-closed", "match-error"}
# Builtins whose calls end or suspend the program rather than return.
NOT_CALLED = {"exit"}


def runtime_table() -> dict[str, tuple[int, int]]:
    ffi, lib = load_runtime()
    table = {}
    for i in range(lib.fl_builtin_count()):
        d = lib.fl_builtin_at(i)
        table[ffi.string(d.name).decode()] = (d.min_args, d.max_args)
    return table


def test_python_and_runtime_tables_agree():
    runtime = runtime_table()
    assert sorted(runtime) == sorted(BUILTINS)
    for name, b in BUILTINS.items():
        assert runtime[name] == (b.min_args, b.max_args), name


def _call(name: str, args: list[str]) -> str:
    # Through a variable, so the compiler cannot warn or specialise: the runtime checks.
    return f'(define f {name}) (f {" ".join(args)})'


@pytest.mark.parametrize("name", sorted(set(BUILTINS) - NOT_CALLED))
def test_wrong_argument_counts_are_arity_errors(name):
    b = BUILTINS[name]
    counts = ([b.min_args - 1] if b.min_args > 0 else []) + ([b.max_args + 1] if b.max_args >= 0 else [])
    for n in counts:
        with pytest.raises(fluentai.FluentAIError) as info:
            fluentai.run(_call(name, ["1"] * n))
        assert info.value.type == "arity-error", (name, n)
        assert "arity" in info.value.message


WRONG_VALUES = [":kw", '"s"', "1.5", "[1 2]", "{1 2}", "nil", "(lambda (x) x)"]


@pytest.mark.parametrize("name", sorted(set(BUILTINS) - NOT_CALLED - {"chan", "spawn", "promise"}))
def test_wrong_argument_types_never_crash(name):
    b = BUILTINS[name]
    n = max(b.min_args, 1) if b.max_args != 0 else 0
    for value in WRONG_VALUES:
        try:
            fluentai.run(_call(name, [value] * n))
        except fluentai.FluentAIError as e:
            assert e.type in ERROR_TYPES | {"deadlock", "promise-rejected"}, (name, value, e.type)
            if e.type == "type-error":       # names the function and shows the value
                assert f"`{name}`" in e.message and "got" in e.message, (name, e.message)
