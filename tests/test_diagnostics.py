"""Tests of fluentai/diagnostics.py: the exact text layout of LANGUAGE.md section 10."""
from __future__ import annotations

import pytest

from fluentai.diagnostics import CompileError, Diagnostic, format_diagnostic, format_diagnostics
from fluentai.frontend.ast import Span

SOURCE = "(define (add a b) (+ a b))\n(define (ratio a b) (/ a b))\n(ratio 1 0)\n"


def span(line: int, col: int, end_line: int, end_col: int, filename: str = "prog.fl") -> Span:
    return Span(filename, line, col, end_line, end_col)


def test_reference_example_is_reproduced_exactly():
    diag = Diagnostic("division-by-zero", "division by zero", span(2, 21, 2, 28))
    assert format_diagnostic(diag, SOURCE) == (
        "prog.fl:2:21: error[division-by-zero]: division by zero\n"
        "    2 | (define (ratio a b) (/ a b))\n"
        "      |                     ^^^^^^^"
    )


def test_warning_severity_is_printed():
    diag = Diagnostic("arity-error", "arity: `add` expects 2 arguments, got 1",
                      span(1, 1, 1, 8), severity="warning")
    assert format_diagnostic(diag, "(add 1)").splitlines()[0] == (
        "prog.fl:1:1: warning[arity-error]: arity: `add` expects 2 arguments, got 1")


def test_unknown_severity_is_rejected():
    with pytest.raises(ValueError):
        Diagnostic("x", "y", None, severity="fatal")


def test_span_over_several_lines_gets_carets_to_end_of_line():
    diag = Diagnostic("syntax-error", "boom", span(1, 9, 2, 5))
    assert format_diagnostic(diag, SOURCE).splitlines()[2] == "      |         " + "^" * 18


def test_empty_span_still_gets_one_caret():
    diag = Diagnostic("syntax-error", "boom", span(3, 4, 3, 4))
    assert format_diagnostic(diag, SOURCE).splitlines()[2] == "      |    ^"


def test_span_past_end_of_line_gets_one_caret_after_the_text():
    diag = Diagnostic("syntax-error", "boom", span(1, 3, 1, 9))
    assert format_diagnostic(diag, "ab\n").splitlines()[1:] == ["    1 | ab", "      |   ^"]


def test_tabs_are_kept_in_the_caret_padding():
    source = "\t(foo\t1)\n"
    diag = Diagnostic("undefined-variable", "undefined variable `foo`", span(1, 3, 1, 6))
    lines = format_diagnostic(diag, source).splitlines()
    assert lines[1] == "    1 | \t(foo\t1)"
    assert lines[2] == "      | \t ^^^"


def test_columns_count_code_points():
    source = '(print "héllo😀" x)'
    col = source.index("x") + 1
    diag = Diagnostic("undefined-variable", "undefined variable `x`", span(1, col, 1, col + 1))
    text = format_diagnostic(diag, source)
    assert text.splitlines()[0] == "prog.fl:1:17: error[undefined-variable]: undefined variable `x`"
    assert text.splitlines()[2] == "      | " + " " * 16 + "^"


def test_line_numbers_are_right_aligned_in_five_columns():
    source = "\n" * 1233 + "(oops)\n"
    diag = Diagnostic("syntax-error", "boom", span(1234, 2, 1234, 6))
    lines = format_diagnostic(diag, source).splitlines()
    assert lines[1] == " 1234 | (oops)"
    assert lines[2] == "      |  ^^^^"


def test_notes_follow_the_caret_block():
    diag = Diagnostic("type-error", "bad", span(1, 1, 1, 2), notes=["first", "second"])
    assert format_diagnostic(diag, "x").splitlines()[3:] == [
        "      = note: first", "      = note: second"]


def test_crlf_source_lines_do_not_show_the_carriage_return():
    diag = Diagnostic("syntax-error", "boom", span(1, 1, 1, 2))
    assert format_diagnostic(diag, "x\r\ny\r\n").splitlines()[1] == "    1 | x"


def test_without_source_or_span_only_the_header_is_printed():
    with_span = Diagnostic("syntax-error", "boom", span(1, 1, 1, 2))
    assert format_diagnostic(with_span, None) == "prog.fl:1:1: error[syntax-error]: boom"
    no_span = Diagnostic("internal-error", "compiler bug", None)
    assert format_diagnostic(no_span, "x") == "error[internal-error]: compiler bug"


def test_line_outside_the_source_prints_only_the_header():
    diag = Diagnostic("syntax-error", "boom", span(9, 1, 9, 2))
    assert format_diagnostic(diag, "x\n") == "prog.fl:9:1: error[syntax-error]: boom"


def test_compile_error_carries_every_diagnostic_and_formats_them_all():
    first = Diagnostic("undefined-variable", "undefined variable `a`", span(1, 2, 1, 3))
    second = Diagnostic("undefined-variable", "undefined variable `b`", span(2, 2, 2, 3))
    err = CompileError([first, second], "(a)\n(b)\n")
    assert err.diagnostics == [first, second]
    assert str(err) == format_diagnostics([first, second], "(a)\n(b)\n")
    assert str(err).count("error[undefined-variable]") == 2
    assert isinstance(err, Exception)


# ---- 'did you mean' (fluentai/suggest.py) ----

def test_closest_name_takes_swaps_as_one_edit_and_scales_with_length():
    from fluentai.suggest import closest, edit_distance
    assert edit_distance("lenght", "length", 3) == 1
    assert closest("lenght", ["list", "length", "len"]) == "length"
    assert closest("quux", ["length", "print-line"]) is None
    assert closest("y", ["x", "Y"]) == "Y"                          # short: only case differs
    assert closest("x", ["y"]) is None


def test_closest_name_prefers_candidates_listed_first_on_a_tie():
    from fluentai.suggest import closest
    assert closest("fob", ["fab", "foo"]) == "fab"
    assert closest("fob", ["foo", "fab"]) == "foo"


def test_help_lines_follow_the_notes():
    from fluentai.diagnostics import Diagnostic, format_diagnostic
    text = format_diagnostic(Diagnostic("undefined-variable", "undefined variable `x`", None,
                                        notes=["n"], helps=["did you mean `y`?"]), None)
    assert text.splitlines()[1:] == ["      = note: n", "      = help: did you mean `y`?"]
