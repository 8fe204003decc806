"""Tests of the frontend (reader, parser/desugar, resolver) through ``parse_program``.

Shapes are compared through ``dump``, a compact S-expression view of the core tree, so a
test reads like the desugaring it checks. Errors are compared by exact message and position.
"""
from __future__ import annotations

import math
import time

import pytest

from fluentai.diagnostics import CompileError, format_diagnostic
from fluentai.frontend import MAX_NESTING, call_with_deep_stack, parse_program
from fluentai.frontend import ast
from fluentai.frontend.ast import BUILTIN, GLOBAL, LOCAL, Keyword, Symbol


# ---- helpers ----

def parse(source: str | bytes) -> ast.Program:
    return parse_program(source, "t.fl")


def forms(source: str) -> list[str]:
    return [dump(form) for form in parse(source).forms]


def one(source: str) -> str:
    [form] = forms(source)
    return form


def value_of(source: str):
    [form] = parse(source).forms
    assert isinstance(form, ast.Const), dump(form)
    return form.value


def errors(source: str | bytes) -> list[tuple[int, int, str, str]]:
    with pytest.raises(CompileError) as info:
        parse(source)
    return [(d.span.line, d.span.col, d.code, d.message) for d in info.value.diagnostics]


def error(source: str | bytes) -> tuple[int, int, str, str]:
    [found] = errors(source)
    return found


def syntax_error(source: str | bytes) -> tuple[int, int, str]:
    line, col, code, message = error(source)
    assert code == "syntax-error"
    return line, col, message


def dump(node) -> str:
    """The core tree as an S-expression: Call is (f args), special nodes name themselves."""
    kind = type(node).__name__
    if isinstance(node, ast.Const):
        return dump_value(node.value)
    if isinstance(node, ast.Ref):
        return node.name
    if isinstance(node, ast.Lambda):
        params = " ".join(p.name for p in node.params) + (f" . {node.rest.name}" if node.rest else "")
        name = f" {node.name}" if node.name else ""
        return f"(lambda{name} ({params.strip()}) {dump(node.body)})"
    if isinstance(node, ast.Call):
        return "(" + " ".join(dump(x) for x in [node.fn, *node.args]) + ")"
    if isinstance(node, ast.If):
        parts = [node.test, node.then] + ([node.orelse] if node.orelse is not None else [])
        return "(if " + " ".join(dump(x) for x in parts) + ")"
    if isinstance(node, (ast.Let, ast.Letrec)):
        bindings = " ".join(f"({b.name} {dump(e)})" for b, e in node.bindings)
        return f"({kind.lower()} ({bindings}) {dump(node.body)})"
    if isinstance(node, (ast.Seq, ast.And, ast.Or)):
        return f"({kind.lower()}" + "".join(" " + dump(x) for x in node.exprs) + ")"
    if isinstance(node, ast.ListLit):
        return "[" + " ".join(dump(x) for x in node.items) + "]"
    if isinstance(node, ast.MapLit):
        return "{" + " ".join(f"{dump(k)} {dump(v)}" for k, v in node.pairs) + "}"
    if isinstance(node, ast.Perform):
        return f"(perform {node.op}" + "".join(" " + dump(x) for x in node.args) + ")"
    if isinstance(node, ast.Handler):
        clauses = " ".join(f"({c.name} {dump(c.fn)})" for c in node.clauses)
        return f"(handler ({clauses}) {dump(node.body)})"
    if isinstance(node, ast.Match):
        clauses = "".join(f" ({dump(c.pattern)} {dump(c.body)})" for c in node.clauses)
        return f"(match {dump(node.subject)}{clauses})"
    if isinstance(node, ast.DataDecl):
        ctors = "".join(f" ({c.name} {c.nfields})" for c in node.ctors)
        return f"(data {node.name} ({' '.join(node.params)}){ctors})"
    if isinstance(node, ast.Define):
        return f"(define {node.binding.name} {dump(node.value)})"
    if isinstance(node, ast.PWild):
        return "_"
    if isinstance(node, ast.PVar):
        return node.binding.name
    if isinstance(node, ast.PLit):
        return dump_value(node.value)
    if isinstance(node, ast.PList):
        items = [dump(p) for p in node.items] + ([f"... {dump(node.rest)}"] if node.rest else [])
        return "[" + " ".join(items) + "]"
    if isinstance(node, ast.PCtor):
        return f"({node.name}" + "".join(" " + dump(p) for p in node.args) + ")"
    raise AssertionError(f"no dump for {kind}")


def dump_value(value, quoted: bool = False) -> str:
    prefix = "" if quoted else "'"
    if value is None:
        return "nil"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, Keyword):
        return ":" + value.name
    if isinstance(value, Symbol):
        return prefix + value.name
    if isinstance(value, tuple):
        return prefix + "(" + " ".join(dump_value(v, True) for v in value) + ")"
    if isinstance(value, dict):
        return prefix + "{" + " ".join(f"{dump_value(k, True)} {dump_value(v, True)}"
                                       for k, v in value.items()) + "}"
    return repr(value)


_CHILD_TYPES = (ast.Expr, ast.HandlerClause, ast.MatchClause)


def walk(node):
    """Every expression (and clause) under ``node``, ``node`` included."""
    pending = [node]
    while pending:
        item = pending.pop()
        yield item
        for value in vars(item).values():
            if isinstance(value, _CHILD_TYPES):
                pending.append(value)
            elif isinstance(value, list):
                for element in value:
                    if isinstance(element, tuple):      # (Binding, Expr) or (key, value)
                        pending.extend(e for e in element if isinstance(e, ast.Expr))
                    elif isinstance(element, _CHILD_TYPES):
                        pending.append(element)


def in_source_order(nodes):
    return sorted(nodes, key=lambda n: (n.span.line, n.span.col))


def refs(node, name: str) -> list[ast.Ref]:
    """Every Ref to ``name`` under ``node``, in source order."""
    return in_source_order(n for n in walk(node) if isinstance(n, ast.Ref) and n.name == name)


def lambdas(node) -> list[ast.Lambda]:
    return in_source_order(n for n in walk(node) if isinstance(n, ast.Lambda))


# ---- tokens ----

@pytest.mark.parametrize("text, expected", [
    ("42", 42), ("-17", -17), ("+3", 3), ("0", 0), ("-0", 0),
    ("9223372036854775807", 2 ** 63 - 1), ("-9223372036854775808", -2 ** 63),
])
def test_integers(text, expected):
    value = value_of(text)
    assert value == expected and type(value) is int


@pytest.mark.parametrize("text, expected", [
    ("2.5", 2.5), ("-0.25", -0.25), ("1.5e3", 1500.0), ("6e-2", 0.06), ("1E2", 100.0),
    ("+1.5", 1.5), ("1.", 1.0), (".5", 0.5), ("-.5", -0.5), ("1e+3", 1000.0),
])
def test_floats(text, expected):
    value = value_of(text)
    assert value == expected and type(value) is float


def test_huge_float_reads_as_infinity_and_negative_zero_keeps_its_sign():
    assert value_of("1e400") == math.inf
    assert value_of("-1e400") == -math.inf
    negative_zero = value_of("-0.0")
    assert negative_zero == 0.0 and math.copysign(1.0, negative_zero) == -1.0


def test_string_escapes():
    assert value_of(r'"a\tb\n\"q\"\\"') == 'a\tb\n"q"\\'
    assert value_of(r'"\r\0"') == "\r\0"
    assert value_of(r'"\u{1F600}\u{41}\u{e9}"') == "\U0001F600Aé"
    assert value_of('"plain"') == "plain"
    assert value_of('""') == ""


def test_strings_may_span_lines_and_keep_unicode():
    assert value_of('"line one\nline two"') == "line one\nline two"
    assert value_of('"héllo 😀"') == "héllo 😀"


def test_booleans_and_nil():
    assert [dump(f) for f in parse("true false #t #f nil").forms] == [
        "true", "false", "true", "false", "nil"]
    assert value_of("#t") is True and value_of("#f") is False and value_of("nil") is None


def test_keywords_evaluate_to_keyword_constants():
    assert value_of(":name") == Keyword("name")
    assert value_of(":a-b?") == Keyword("a-b?")


def test_symbols_use_every_allowed_character():
    names = ["x", "make-adder", "empty?", "send!", "string->list", "a_b", "%x", "&y", "^z",
             "~w", "$v", "a.b", "<=", "*", "/", "+", "-", "...", "λ", "a1"]
    program = parse("(define (f " + " ".join(names) + ") 1)")
    [define] = program.forms
    assert [p.name for p in define.value.params] == names


def test_commas_are_whitespace_and_comments_are_ignored():
    assert one("[1, 2, 3] ; a comment") == "[1 2 3]"
    assert one("; only a comment\n[1,2,,3]") == "[1 2 3]"


def test_list_forms_literals_and_maps():
    assert one("()") == "'()"
    assert one("[]") == "[]"
    assert one("[1 [2] \"a\"]") == '[1 [2] "a"]'
    assert one('{"a" 1 :k [2]}') == '{"a" 1 :k [2]}'
    assert one("{}") == "{}"


def test_quote_forms_give_the_datum_itself():
    assert value_of("'x") == Symbol("x")
    assert value_of("(quote x)") == Symbol("x")
    assert value_of("'(1 (2 3))") == (1, (2, 3))
    assert value_of('\'(a (b 1) "s")') == (Symbol("a"), (Symbol("b"), 1), "s")
    assert value_of("'[a :k true nil 2.5]") == (Symbol("a"), Keyword("k"), True, None, 2.5)
    assert value_of("'()") == ()
    assert value_of("''a") == (Symbol("quote"), Symbol("a"))
    assert value_of("'42") == 42


def test_quoted_map_is_a_dict_in_insertion_order():
    value = value_of("'{b 1 a (x) :k \"v\"}")
    assert value == {Symbol("b"): 1, Symbol("a"): (Symbol("x"),), Keyword("k"): "v"}
    assert list(value) == [Symbol("b"), Symbol("a"), Keyword("k")]
    assert value_of("'{a 1 a 2}") == {Symbol("a"): 2}


def test_quoted_map_errors():
    assert syntax_error("(list '{{a 1} 2})") == (1, 7, "a key of a quoted map cannot contain a map")
    line, col, message = syntax_error("'{true 1 1 2}")
    assert (line, col) == (1, 1) and "boolean and a number" in message


def test_spans_count_code_points_from_one():
    with pytest.raises(CompileError) as info:
        parse('(list "é😀" x)\n  y')
    spans = [(d.span.line, d.span.col, d.span.end_col) for d in info.value.diagnostics]
    assert spans == [(1, 12, 13), (2, 3, 4)]


def test_positions_after_a_multiline_string():
    program = parse('(list "a\nbc" 1)')
    string = program.forms[0].args[0]
    span = string.span
    assert (span.line, span.col, span.end_line, span.end_col) == (1, 7, 2, 4)
    assert errors('"a\nbc" x\n  y') == [
        (2, 5, "undefined-variable", "undefined variable `x`"),
        (3, 3, "undefined-variable", "undefined variable `y`")]


def test_form_spans_cover_the_whole_form():
    [form] = parse("  (+ 1\n     2)").forms
    span = form.span
    assert (span.filename, span.line, span.col, span.end_line, span.end_col) == ("t.fl", 1, 3, 2, 8)


def test_byte_order_mark_is_skipped_and_bytes_are_decoded():
    assert value_of("\ufeff42".encode("utf-8")) == 42
    assert value_of('"é"'.encode("utf-8")) == "é"


# ---- reader errors (LANGUAGE.md section 10) ----

def test_unclosed_parenthesis():
    assert syntax_error("(+ 1 (* 2 3)") == (
        1, 1, "unclosed parenthesis: `(` opened at 1:1 is never closed")


def test_unexpected_close_with_nothing_open():
    assert syntax_error("(+ 1 2))") == (1, 8, "unexpected `)` with no open parenthesis")
    assert syntax_error("]") == (1, 1, "unexpected `]` with no open bracket")
    assert syntax_error("\n  }") == (2, 3, "unexpected `}` with no open brace")


def test_mismatched_closer():
    assert syntax_error("(f [1 2)") == (
        1, 8, "unexpected `)`: expected `]` to close the bracket opened at 1:4")
    assert syntax_error("{1 2]") == (
        1, 5, "unexpected `]`: expected `}` to close the brace opened at 1:1")
    assert syntax_error("(a\n  (b]") == (
        2, 5, "unexpected `]`: expected `)` to close the parenthesis opened at 2:3")


def test_unclosed_bracket_and_brace():
    assert syntax_error("[1 2 3") == (1, 1, "unclosed bracket: `[` opened at 1:1 is never closed")
    assert syntax_error("(a {1 2") == (1, 4, "unclosed brace: `{` opened at 1:4 is never closed")


def test_unterminated_string():
    assert syntax_error('"abc') == (1, 1, "unterminated string (opened at 1:1)")
    assert syntax_error('(f\n  "abc\\"') == (2, 3, "unterminated string (opened at 2:3)")
    assert syntax_error('"abc\\') == (1, 1, "unterminated string (opened at 1:1)")


def test_malformed_numbers():
    assert syntax_error("1.2.3") == (1, 1, "malformed number `1.2.3`")
    assert syntax_error("(f 12abc)") == (1, 4, "malformed number `12abc`")
    assert syntax_error("-1x") == (1, 1, "malformed number `-1x`")
    assert syntax_error("1e") == (1, 1, "malformed number `1e`")
    assert syntax_error("0x1F") == (1, 1, "malformed number `0x1F`")


def test_integer_literal_out_of_range():
    message = "integer literal out of the signed 64-bit range"
    assert syntax_error("9223372036854775808") == (1, 1, message)
    assert syntax_error("[-9223372036854775809]") == (1, 2, message)


def test_odd_map_literal():
    assert syntax_error('{"a" 1 "b"}') == (1, 1, "map literal has an odd number of forms")
    assert syntax_error("(f\n {:a 1 :b})") == (2, 2, "map literal has an odd number of forms")


def test_bad_unicode_escapes():
    assert syntax_error(r'"\u{D800}"') == (1, 2, r"`\u{D800}` is not a Unicode scalar value")
    assert syntax_error(r'"\u{DFFF}"') == (1, 2, r"`\u{DFFF}` is not a Unicode scalar value")
    assert syntax_error(r'"ab\u{110000}"') == (1, 4, r"`\u{110000}` is not a Unicode scalar value")
    assert value_of(r'"\u{10FFFF}\u{D7FF}\u{E000}"') == "\U0010FFFF\uD7FF\uE000"
    malformed = r"malformed unicode escape: expected `\u{` hex digits `}`, e.g. `\u{1F600}`"
    assert syntax_error(r'"\u{zz}"') == (1, 2, malformed)
    assert syntax_error(r'"\u41"') == (1, 2, malformed)
    assert syntax_error(r'"\u{}"') == (1, 2, malformed)


def test_unknown_escape_points_at_the_backslash():
    known = r"(known: \n \t \r \0 \\ \" \u{...})"
    assert syntax_error('(f\n "ab\\q")') == (2, 5, f"unknown escape `\\q` in string {known}")
    assert syntax_error('"x\ny\\a"') == (2, 2, f"unknown escape `\\a` in string {known}")


def test_invalid_characters():
    assert syntax_error("a@b") == (1, 2, "invalid character `@` in `a@b`")
    line, col, message = syntax_error("(f `x)")
    assert (line, col) == (1, 4) and message.startswith("invalid character")
    assert syntax_error("(f x|y)") == (1, 5, "invalid character `|` in `x|y`")


def test_hash_syntax_and_empty_keyword():
    assert syntax_error("#x") == (1, 1, "unknown syntax `#x`: only `#t` and `#f` start with `#`")
    assert syntax_error("(f :)") == (1, 4, "a keyword needs a name after `:`")
    assert syntax_error(":a@") == (1, 3, "invalid character `@` in `a@`")


def test_dangling_quote():
    assert syntax_error("(a ')") == (1, 4, "quote `'` is not followed by a datum (found `)`)")
    assert syntax_error("x '") == (1, 3, "quote `'` at the end of the file is not followed by a datum")


def test_invalid_utf8_is_reported_at_the_first_bad_byte():
    line, col, message = syntax_error(b"(define x 1)\n(f \"\xc3\xa9\" \xff)")
    assert (line, col, message) == (2, 8, "invalid UTF-8: unexpected byte 0xFF")
    assert syntax_error(b"\xe9")[:2] == (1, 1)


def test_lone_surrogate_in_a_str_source():
    assert syntax_error("(f \ud800)") == (1, 4, "invalid UTF-8: the source contains a lone surrogate")


def test_reader_stops_at_the_first_error():
    assert len(errors("(f ]\n(g ]")) == 1


def test_reader_error_is_formatted_with_caret():
    with pytest.raises(CompileError) as info:
        parse_program("(+ 1 (* 2 3)", "prog.fl")
    assert str(info.value) == (
        "prog.fl:1:1: error[syntax-error]: unclosed parenthesis: `(` opened at 1:1 is never closed\n"
        "    1 | (+ 1 (* 2 3)\n"
        "      | ^")


# ---- nesting ----

def test_nesting_of_ten_thousand_levels_compiles():
    assert MAX_NESTING == 10_000
    program = parse("[" * 10_000 + "]" * 10_000)
    assert program.nesting_depth == 10_000
    calls = parse("(list " * 10_000 + ")" * 10_000)
    depth = 0
    node = calls.forms[0]
    while isinstance(node, ast.Call):
        depth += 1
        node = node.args[0] if node.args else None
    assert depth == 10_000


def test_nesting_of_ten_thousand_and_one_levels_is_an_error():
    assert syntax_error("(" * 10_001 + ")" * 10_001) == (1, 10_001, "nesting too deep")
    assert syntax_error("[" * 10_001)[2] == "nesting too deep"
    assert syntax_error("'" * 10_001 + "x")[2] == "nesting too deep"


def test_deep_nesting_through_every_recursive_pass():
    depth = 9_990
    parse("(define (f y) " + "(let ((x y)) (lambda () " * (depth // 2 - 1) + "x" + "))" * (depth // 2 - 1) + ")")
    parse("(match 1 (" + "[_ " * depth + "x" + "]" * depth + " x))")
    parse("'" + "(a " * depth + ")" * depth)
    parse("'" + "{a " * depth + "1" + "}" * depth)
    parse("(cond " + "(1 (cond " * (depth // 2) + ")" * (depth // 2 * 2 + 1))
    deep_quotes = parse("'" * depth + "x")
    assert deep_quotes.forms[0].value[0] == Symbol("quote")


def test_call_with_deep_stack_returns_and_raises():
    assert call_with_deep_stack(5, lambda: 7) == 7
    assert call_with_deep_stack(50_000, lambda: 8) == 8
    with pytest.raises(KeyError):
        call_with_deep_stack(50_000, lambda: {}["missing"])


# ---- special forms and desugaring ----

def test_define_variable_and_function_forms():
    assert forms("(define x 1) (define (f a b) (+ a b)) (define (g a . rest) rest)") == [
        "(define x 1)",
        "(define f (lambda f (a b) (+ a b)))",
        "(define g (lambda g (a . rest) rest))",
    ]
    assert one("(define (h . args) args)") == "(define h (lambda h (. args) args))"


def test_define_of_a_lambda_names_it():
    assert one("(define f (lambda (x) x))") == "(define f (lambda f (x) x))"
    assert one("(define f (let () 1))") == "(define f (let () 1))"


def test_lambda_forms():
    assert one("(lambda (a b) a)") == "(lambda (a b) a)"
    assert one("(lambda (a . rest) rest)") == "(lambda (a . rest) rest)"
    assert one("(lambda () 1 2)") == "(lambda () (seq 1 2))"
    assert one("(lambda [a] a)") == "(lambda (a) a)"


def test_let_and_let_star_are_the_same_form():
    assert one("(let ((x 1) (y x)) y)") == "(let ((x 1) (y x)) y)"
    assert one("(let* ((x 1) (y x)) y)") == "(let ((x 1) (y x)) y)"
    assert one("(let () 1)") == "(let () 1)"
    assert one("(let ([x 1]) x)") == "(let ((x 1)) x)"


def test_named_let_becomes_letrec_of_a_named_lambda():
    assert one("(let loop ((i 0) (acc 1)) (if (< i 3) (loop (+ i 1) (* acc 2)) acc))") == (
        "(letrec ((loop (lambda loop (i acc) (if (< i 3) (loop (+ i 1) (* acc 2)) acc)))) "
        "(loop 0 1))")


def test_named_let_inits_see_the_outer_meaning_of_the_name():
    program = parse("(define (loop x) x) (let loop ((i (loop 5))) i)")
    second = program.forms[1]
    assert dump(second) == (
        "(let ((\u0020loop-init-0 (loop 5))) "
        "(letrec ((loop (lambda loop (i) i))) (loop \u0020loop-init-0)))")
    [init] = second.bindings
    assert init[1].fn.binding.kind == GLOBAL


def test_letrec():
    assert one("(letrec ((f (lambda () (g))) (g (lambda () 1))) (f))") == (
        "(letrec ((f (lambda () (g))) (g (lambda () 1))) (f))")


def test_if_one_and_two_armed():
    assert one("(if 1 2 3)") == "(if 1 2 3)"
    assert one("(if 1 2)") == "(if 1 2)"


def test_cond_becomes_nested_ifs():
    assert one("(cond ((< 1 2) 10) ((> 1 2) 20 21) (else 30))") == (
        "(if (< 1 2) 10 (if (> 1 2) (seq 20 21) 30))")
    assert one("(cond (1 2))") == "(if 1 2)"
    assert one("(cond)") == "nil"
    assert one("(cond (else 5))") == "5"
    assert one("(cond (x) (else 2))".replace("x", "1")) == "(or 1 2)"
    assert one("(cond (1))") == "(or 1 nil)"


def test_when_and_unless():
    assert one("(when 1 2 3)") == "(if 1 (seq 2 3))"
    assert one("(unless 1 2)") == "(if 1 nil 2)"


def test_do_begin_and_or():
    assert one("(lambda () (do 1 2))") == "(lambda () (seq 1 2))"
    assert one("(lambda () (begin 1))") == "(lambda () 1)"
    assert one("(lambda () (begin))") == "(lambda () nil)"
    assert one("(and 1 2)") == "(and 1 2)"
    assert one("(and)") == "(and)"
    assert one("(or)") == "(or)"
    assert one("(or 1 2 3)") == "(or 1 2 3)"


def test_top_level_begin_is_spliced():
    program = parse("(begin (define x 1) (do (define y 2) y)) x")
    assert [dump(f) for f in program.forms] == ["(define x 1)", "(define y 2)", "y", "x"]
    assert [g.name for g in program.globals] == ["x", "y"]
    assert forms("(begin)") == ["nil"]


def test_body_defines_become_letrec():
    assert one("(define (f) (define a 1) (define (b) a) (b))") == (
        "(define f (lambda f () (letrec ((a 1) (b (lambda b () a))) (b))))")
    assert one("(let () (define x 1) (+ x 1) x)") == "(let () (letrec ((x 1)) (seq (+ x 1) x)))"
    assert one("(lambda () (define f (lambda () 1)) (f))") == (
        "(lambda () (letrec ((f (lambda f () 1))) (f)))")


def test_effect_forms_become_perform():
    assert one('(effect io:print "hi" 1)') == '(perform io:print "hi" 1)'
    assert one('(io:print "hi")') == '(perform io:print "hi")'
    assert one("(state:get :k)") == "(perform state:get :k)"


def test_handler_form():
    assert one("(handler ((io:print (lambda (x) x)) (error (lambda (e) e))) (io:print 1) 2)") == (
        "(handler ((io:print (lambda (x) x)) (error (lambda (e) e))) (seq (perform io:print 1) 2))")
    assert one("(handler () 1)") == "(handler () 1)"


def test_match_patterns():
    source = ("(match v (_ 0) (x x) (0 1) (2.5 2) (\"s\" 3) (true 4) (false 5) (nil 6) (:k 7)"
              " ([] 8) ([a b] 9) ([h ...t] 10) ([a b ... rest] 11) ([a, b] 12) ((Some x) 13)"
              " ((Pair [a] (None)) 14) (() 15) ('sym 16) ([... r] 17) ([x ..._] 18))")
    program = parse("(define v 1) " + source)
    assert dump(program.forms[1]) == (
        "(match v (_ 0) (x x) (0 1) (2.5 2) (\"s\" 3) (true 4) (false 5) (nil 6) (:k 7)"
        " ([] 8) ([a b] 9) ([h ... t] 10) ([a b ... rest] 11) ([a b] 12) ((Some x) 13)"
        " ((Pair [a] (None)) 14) ([] 15) ('sym 16) ([... r] 17) ([x ... _] 18))")


def test_match_pattern_variables_bind_in_the_clause_body():
    program = parse("(define (f v) (match v ([h ...t] (+ h (length t))) (x x)))")
    match = program.forms[0].value.body
    first, second = match.clauses
    [h_ref] = refs(first.body, "h")
    assert h_ref.binding is first.pattern.items[0].binding
    [t_ref] = refs(first.body, "t")
    assert t_ref.binding is first.pattern.rest.binding
    assert refs(second.body, "x")[0].binding is second.pattern.binding


def test_data_declarations():
    program = parse("(data Shape (Circle Int) (Rect Int Int) (Empty))\n"
                    "(data Option a (None) (Some a))\n"
                    "(data Tree k v (Leaf) (Node (Tree k v) k v (Tree k v)))")
    assert [dump(f) for f in program.forms] == [
        "(data Shape () (Circle 1) (Rect 2) (Empty 0))",
        "(data Option (a) (None 0) (Some 1))",
        "(data Tree (k v) (Leaf 0) (Node 4))",
    ]
    names = [g.name for g in program.globals]
    assert names == ["Circle", "Rect", "Empty", "None", "Some", "Leaf", "Node"]
    circle = program.forms[0].ctors[0]
    assert circle.binding is program.globals[0] and circle.binding.kind == GLOBAL


def test_special_form_names_are_ordinary_names_elsewhere():
    program = parse("(define data (list 1)) (define (f if) (if 1)) data")
    assert [dump(f) for f in program.forms] == [
        "(define data (list 1))", "(define f (lambda f (if) (if 1)))", "data"]


def test_locals_shadow_effect_operations_and_special_forms():
    assert one("(lambda (io:print) (io:print 1))") == "(lambda (io:print) (io:print 1))"
    assert one("(let ((when (lambda (x) x))) (when 1))") == "(let ((when (lambda (x) x))) (when 1))"
    program = parse("(define (math:sq x) (* x x)) (math:sq 3)")
    call = program.forms[1]
    assert isinstance(call, ast.Call) and call.fn.binding.kind == GLOBAL


# ---- malformed special forms ----

# Malformed special forms are reported at the form itself (LANGUAGE.md section 10).
@pytest.mark.parametrize("source, message", [
    ('(let (x 1) x)', '`let` bindings must be a list of (name value) pairs'),
    ('(let x)', 'named `let` needs bindings and a body: (let x ((i 0)) body...)'),
    ('(let)', '`let` needs a list of bindings and a body: (let ((x 1)) body...)'),
    ('(let ((x 1)))', '`let` needs a body'),
    ('(let* ((x)) x)', '`let*` bindings must be a list of (name value) pairs'),
    ('(let ((1 2)) 3)', '`let` bindings must be a list of (name value) pairs'),
    ('(let loop ((i 0) (i 1)) i)', 'duplicate parameter `i`'),
    ('(letrec ((f 1) (f 2)) f)', 'duplicate binding `f` in `letrec`'),
    ('(letrec)', '`letrec` needs a list of bindings and a body: (letrec ((f ...)) body...)'),
    ('(lambda x x)', '`lambda` parameters must be a list'),
    ('(lambda)', '`lambda` parameters must be a list'),
    ('(lambda (x))', '`lambda` needs a body'),
    ('(lambda (a a) a)', 'duplicate parameter `a`'),
    ('(lambda (a 1) a)', 'a parameter must be a name, got `1`'),
    ('(lambda (a . b c) a)', '`.` must be followed by exactly one rest-parameter name'),
    ('(lambda (a .) a)', '`.` must be followed by exactly one rest-parameter name'),
    ('(lambda (a . a) a)', 'duplicate parameter `a`'),
    ('(if 1)', '`if` takes a condition, a then-branch and an optional else-branch, got 1 argument'),
    ('(if 1 2 3 4)',
     '`if` takes a condition, a then-branch and an optional else-branch, got 4 arguments'),
    ('(cond (else 1) (2 3))', '`else` must be the last clause of `cond`'),
    ('(cond 1)', 'a `cond` clause must be a list (test body...)'),
    ('(cond ())', 'a `cond` clause must be a list (test body...)'),
    ('(cond (else))', '`else` needs a body'),
    ('(when 1)', '`when` needs a condition and a body'),
    ('(unless)', '`unless` needs a condition and a body'),
    ('(quote)', "`quote` takes exactly one datum: (quote x) or 'x"),
    ('(quote a b)', "`quote` takes exactly one datum: (quote x) or 'x"),
    ('(effect print 1)',
     '`effect` needs an operation name written effect:operation, e.g. (effect io:print "hi"), '
     'got `print`'),
    ('(effect)',
     '`effect` needs an operation name written effect:operation, e.g. (effect io:print "hi")'),
    ('(io: 1)', 'malformed effect operation `io:`: write it effect:operation, e.g. io:print'),
    ('(effect :print)',
     '`effect` needs an operation name written effect:operation, e.g. (effect io:print "hi"), '
     'got `:print`'),
    ('(handler 1 2)',
     '`handler` needs a list of clauses and a body: (handler ((io:print f) (error g)) body...)'),
    ('(handler ((io:print)) 2)',
     'a `handler` clause must be (effect:operation function) or (effect function)'),
    ('(handler ((io:print f)))', '`handler` needs a body'),
    ('(match 1)',
     '`match` needs a value and at least one clause: (match value (pattern body...) ...)'),
    ('(match 1 (x))', 'a `match` clause must be (pattern body...)'),
    ('(match 1 ([a a] 1))', 'variable `a` appears twice in one pattern'),
    ('(match 1 ([a ...t b] 1))', '`...t` must be the last element of a list pattern'),
    ('(match 1 ([a ...] 1))',
     '`...` must be followed by exactly one rest pattern, at the end of the list pattern'),
    ('(match 1 ([a ... b c] 1))',
     '`...` must be followed by exactly one rest pattern, at the end of the list pattern'),
    ('(match 1 (...t 1))', '`...t` may only end a list pattern, e.g. [head ...tail]'),
    ('(match 1 ({} 1))', 'a map cannot be used as a pattern'),
    ('(match 1 ((1 x) 1))',
     "a constructor pattern starts with the constructor's name, e.g. (Some x)"),
    ('(data)', '`data` needs a type name and constructors: (data Shape (Circle r) (Square s))'),
    ('(data T)', '`data T` needs at least one constructor, e.g. (T)'),
    ('(data T (A) b)', 'type parameters must come before the constructors'),
    ('(data T B (A))',
     '`B` is not a type parameter (those start with a lower-case letter); write a constructor '
     'as (B fields...)'),
    ('(data T (A) (A 1))', 'duplicate constructor `A`'),
    ('(data T [A])', 'a constructor must be written (Name field-types...)'),
    ('(define)',
     '`define` needs a name and a value: (define name value) or (define (f args...) body...)'),
    ('(define 5 1)', '`define` needs a name or (name parameters...), got `5`'),
    ('(define x)', '`define` of a variable takes exactly one value: (define x value)'),
    ('(define x 1 2)', '`define` of a variable takes exactly one value: (define x value)'),
    ('(define (f))', '`define` needs a body'),
    ('(define (f a a) a)', 'duplicate parameter `a`'),
    ('(lambda () (define x 1))', 'a body must end with an expression after its definitions'),
])
def test_malformed_forms_are_reported_at_the_form(source, message):
    assert syntax_error(source) == (1, 1, message)


def test_malformed_forms_inside_other_forms_are_reported_where_they_are():
    assert syntax_error('(+ 1 (define x 1))') == (
        1, 6, '`define` is only allowed at top level or at the start of a body')
    assert syntax_error('(lambda () 1 (define x 1) 2)') == (
        1, 14, '`define` is only allowed at top level or at the start of a body')
    assert syntax_error('(lambda () (define x 1) (define x 2) x)') == (
        1, 25, 'duplicate definition of `x` in this body')
    assert syntax_error('(list (data T (A)))') == (
        1, 7, '`data` declarations are only allowed at top level')
    assert syntax_error('(define (f)\n  (let (x 1) x))') == (
        2, 3, '`let` bindings must be a list of (name value) pairs')
    assert syntax_error('(define (f) (match 1 ((Some x x) x)))') == (
        1, 13, 'variable `x` appears twice in one pattern')


def test_every_syntax_and_undefined_error_is_reported_together_in_source_order():
    source = ("(define (f x) (+ x y))\n"
              "(let (x 1) x)\n"
              "(lambda x x)\n"
              "(g (if))\n"
              "(define (h) (z) (lambda (w) (q w)))\n")
    assert errors(source) == [
        (1, 20, "undefined-variable", "undefined variable `y`"),
        (2, 1, "syntax-error", "`let` bindings must be a list of (name value) pairs"),
        (3, 1, "syntax-error", "`lambda` parameters must be a list"),
        (4, 2, "undefined-variable", "undefined variable `g`"),
        (4, 4, "syntax-error", "`if` takes a condition, a then-branch and an optional "
                               "else-branch, got 0 arguments"),
        (5, 14, "undefined-variable", "undefined variable `z`"),
        (5, 30, "undefined-variable", "undefined variable `q`"),
    ]


def test_a_broken_define_still_defines_its_name():
    assert errors("(define (f x) (let (x) 1))\n(f 1)") == [
        (1, 15, "syntax-error", "`let` bindings must be a list of (name value) pairs")]
    assert errors("(define (f . ) 1)\n(f)") == [
        (1, 1, "syntax-error", "`.` must be followed by exactly one rest-parameter name")]


def test_compile_error_output_lists_every_error_with_carets():
    with pytest.raises(CompileError) as info:
        parse_program("(+ 1 y)\n(- z 2)\n", "prog.fl")
    assert str(info.value) == (
        "prog.fl:1:6: error[undefined-variable]: undefined variable `y`\n"
        "    1 | (+ 1 y)\n"
        "      |      ^\n"
        "prog.fl:2:4: error[undefined-variable]: undefined variable `z`\n"
        "    2 | (- z 2)\n"
        "      |    ^")


# ---- scope ----

def test_globals_get_slots_in_definition_order_and_are_mutually_visible():
    program = parse("(define (even? n) (if (= n 0) true (odd? (- n 1))))\n"
                    "(define (odd? n) (if (= n 0) false (even? (- n 1))))\n"
                    "(define x 1) (define x 2) x")
    assert [(g.name, g.slot, g.kind) for g in program.globals] == [
        ("even?", 0, GLOBAL), ("odd?", 1, GLOBAL), ("x", 2, GLOBAL)]
    odd_ref = refs(program.forms[0], "odd?")[0]
    assert odd_ref.binding is program.globals[1]
    assert program.forms[2].binding is program.forms[3].binding is program.globals[2]


def test_builtins_resolve_and_can_be_shadowed():
    program = parse("(+ 1 2) (define (list . xs) xs) (list 1) (lambda (+) (+ 1))")
    plus = program.forms[0].fn.binding
    assert plus.kind == BUILTIN and plus.name == "+"
    assert program.forms[2].fn.binding.kind == GLOBAL
    assert program.forms[3].body.fn.binding.kind == LOCAL


def test_let_init_sees_earlier_bindings_and_the_outer_scope():
    # (let ((n 1)) (let ((n (+ n 1))) n)) is 2: the inner init sees the outer n.
    program = parse("(let ((n 1)) (let ((n (+ n 1))) n))")
    outer = program.forms[0]
    inner = outer.body
    init_ref = refs(inner.bindings[0][1], "n")[0]
    assert init_ref.binding is outer.bindings[0][0]
    assert refs(inner.body, "n")[0].binding is inner.bindings[0][0]
    assert not outer.recursive and not inner.recursive


def test_let_later_binding_is_not_visible_outside_lambdas():
    assert errors("(let ((a b) (b 1)) a)") == [(1, 10, "undefined-variable", "undefined variable `b`")]
    program = parse("(define b 0) (let ((a b) (b 1)) a)")
    let = program.forms[1]
    assert refs(let.bindings[0][1], "b")[0].binding.kind == GLOBAL
    assert not let.recursive


def test_let_lambdas_see_every_binding_of_the_same_let():
    program = parse("(let ((even? (lambda (n) (if (= n 0) true (odd? (- n 1)))))\n"
                    "      (odd? (lambda (n) (if (= n 0) false (even? (- n 1))))))\n"
                    "  (even? 10))")
    let = program.forms[0]
    even, odd = (b for b, _ in let.bindings)
    assert refs(let.bindings[0][1], "odd?")[0].binding is odd
    assert refs(let.bindings[1][1], "even?")[0].binding is even
    assert let.recursive
    assert even.captured and odd.captured
    assert let.bindings[0][1].free == [odd]
    assert let.bindings[1][1].free == [even]


def test_let_self_reference_from_a_lambda_is_recursive():
    program = parse("(let ((fact (lambda (n) (if (< n 2) 1 (* n (fact (- n 1))))))) (fact 5))")
    let = program.forms[0]
    assert let.recursive
    assert refs(let.bindings[0][1], "fact")[0].binding is let.bindings[0][0]


def test_let_with_repeated_name_uses_the_latest_earlier_binding():
    program = parse("(let* ((x 1) (x (+ x 1)) (f (lambda () x))) (f))")
    let = program.forms[0]
    first, second, _ = (b for b, _ in let.bindings)
    assert refs(let.bindings[1][1], "x")[0].binding is first
    assert refs(let.bindings[2][1], "x")[0].binding is second
    assert not let.recursive


def test_letrec_bindings_are_visible_in_every_init():
    program = parse("(letrec ((a (lambda () b)) (b 2)) (a))")
    letrec = program.forms[0]
    assert refs(letrec.bindings[0][1], "b")[0].binding is letrec.bindings[1][0]


def test_body_defines_are_mutually_visible():
    program = parse("(define (f)\n (define (g) (h))\n (define (h) 1)\n (g))")
    letrec = program.forms[0].value.body
    assert isinstance(letrec, ast.Letrec)
    assert refs(letrec.bindings[0][1], "h")[0].binding is letrec.bindings[1][0]


def test_handler_clause_functions_are_ordinary_expressions():
    program = parse("(define (f k) (handler ((state:get (lambda (key) k))) (state:get 1)))")
    handler = program.forms[0].value.body
    clause_fn = handler.clauses[0].fn
    k = program.forms[0].value.params[0]
    assert clause_fn.free == [k] and k.captured


def test_undefined_variables_are_all_reported():
    assert errors("(f a)\n(g [b c])") == [
        (1, 2, "undefined-variable", "undefined variable `f`"),
        (1, 4, "undefined-variable", "undefined variable `a`"),
        (2, 2, "undefined-variable", "undefined variable `g`"),
        (2, 5, "undefined-variable", "undefined variable `b`"),
        (2, 7, "undefined-variable", "undefined variable `c`"),
    ]


def test_pattern_variable_is_not_visible_in_other_clauses():
    assert errors("(match 1 (x 1) (_ x))") == [(1, 19, "undefined-variable", "undefined variable `x`")]


def test_every_ref_is_resolved():
    program = parse("(define (f a) (let loop ((i a)) (if (< i 0) (loop (- i 1)) [i a {1 2}])))\n"
                    "(match (f 1) ([h ...t] h) (_ (io:print 1)))")
    for form in program.forms:
        for name in ("f", "a", "i", "loop", "h", "<", "-"):
            for ref in refs(form, name):
                assert ref.binding is not None


# ---- free variables ----

def test_lambda_free_lists_captured_locals_in_first_use_order():
    program = parse("(define (make a b) (lambda (x) (+ x b a b)))")
    outer = program.forms[0].value
    a, b = outer.params
    inner = outer.body
    assert inner.free == [b, a]
    assert a.captured and b.captured
    assert outer.free == []
    assert not inner.params[0].captured


def test_free_variables_pass_through_nested_lambdas():
    program = parse("(define (f a) (lambda () (let ((c 1)) (lambda () (+ a c)))))")
    outer = program.forms[0].value
    [a] = outer.params
    middle, inner = lambdas(program.forms[0])[1:]
    let = middle.body
    c = let.bindings[0][0]
    assert inner.free == [a, c]
    assert middle.free == [a]
    assert c.captured


def test_globals_and_builtins_are_never_free():
    program = parse("(define g 1) (define (f) (lambda () (+ g 1)))")
    inner = program.forms[1].value.body
    assert inner.free == []


def test_top_level_let_locals_are_captured():
    program = parse("(let ((x 1)) (lambda () x))")
    let = program.forms[0]
    assert let.body.free == [let.bindings[0][0]]


def test_match_variables_can_be_captured():
    program = parse("(define (f v) (match v ((Some x) (lambda () x)) (_ 0)))")
    clause = program.forms[0].value.body.clauses[0]
    assert clause.body.free == [clause.pattern.args[0].binding]


def test_named_let_loop_captures_outer_locals():
    program = parse("(define (f n) (let loop ((i 0)) (if (< i n) (loop (+ i 1)) i)))")
    [n] = program.forms[0].value.params
    letrec = program.forms[0].value.body
    loop_fn = letrec.bindings[0][1]
    assert loop_fn.name == "loop"
    assert loop_fn.free == [n, letrec.bindings[0][0]]


# ---- warnings ----

def test_arity_warnings_for_known_calls():
    program = parse("(define (add a b) (+ a b))\n"
                    "(define (f) (add 1))\n"
                    "(define (v a . r) a)\n"
                    "(v)\n(v 1 2 3)\n(head)\n(range 1)\n(+)\n(data O (S x))\n(S)")
    messages = [(w.span.line, w.span.col, w.code, w.severity, w.message) for w in program.warnings]
    assert messages == [
        (2, 13, "arity-error", "warning", "arity: `add` expects 2 arguments, got 1"),
        (4, 1, "arity-error", "warning", "arity: `v` expects at least 1 argument, got 0"),
        (6, 1, "arity-error", "warning", "arity: `head` expects 1 argument, got 0"),
        (7, 1, "arity-error", "warning", "arity: `range` expects 2 or 3 arguments, got 1"),
        (10, 1, "arity-error", "warning", "arity: `S` expects 1 argument, got 0"),
    ]
    assert format_diagnostic(program.warnings[0], program.source) == (
        "t.fl:2:13: warning[arity-error]: arity: `add` expects 2 arguments, got 1\n"
        "    2 | (define (f) (add 1))\n"
        "      |             ^^^^^^^")


def test_no_arity_warning_for_redefined_or_non_lambda_globals_or_locals():
    program = parse("(define (f a) a) (define (f a b) a) (f 1)\n"
                    "(define g (list 1)) (g 1 2)\n"
                    "(lambda (head) (head 1 2))")
    assert program.warnings == []


# ---- the program object ----

def test_program_keeps_filename_source_and_forms():
    program = parse_program("(define x 1)\nx\n", "prog.fl")
    assert program.filename == "prog.fl"
    assert program.source == "(define x 1)\nx\n"
    assert len(program.forms) == 2 and program.warnings == []
    assert program.forms[1].span.filename == "prog.fl"


# ---- speed ----

def test_ten_thousand_lines_parse_quickly():
    lines = []
    for i in range(2500):
        lines += [f"(define (f{i} x y)",
                  f"  (let ((a (+ x 1)) (b [x y \"s{i}\" :k]))",
                  f"    (if (< a y) (f{i} (- x 1) y) (io:print a b {{1 2}}))))",
                  f"(f{i} 1 2) ; a comment"]
    source = "\n".join(lines)
    parse(source)   # warm up: the grammar is compiled once per process
    start = time.perf_counter()
    program = parse(source)
    elapsed = time.perf_counter() - start
    assert len(program.forms) == 5000
    assert elapsed < 1.5, f"parsing 10,000 lines took {elapsed:.2f} s"
