"""Editor support in editors/: the TextMate grammar, checked against the compiler's own reader.

The grammar must be valid JSON whose regexes compile (Python's `re` accepts the subset of
Oniguruma it uses). A small TextMate engine below (match and begin/end rules, captures,
`#repository` includes, earliest match wins, list order breaks ties) applies it to
examples/tour.fl; every special form at the head of a form, every effect operation, string,
escape, number and comment that the reader (fluentai/frontend/reader.py) finds must come out
with the scope meant for it. The Vim syntax file gets the same check through Vim itself
when `vim` is installed.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import lark
import pytest

from fluentai.frontend import reader as R

REPO = Path(__file__).resolve().parent.parent
GRAMMAR = REPO / "editors" / "fluentai.tmLanguage.json"
TOUR = REPO / "examples" / "tour.fl"
SPECIAL_FORMS = {"define", "data", "lambda", "let", "let*", "letrec", "if", "cond", "when",
                 "unless", "do", "begin", "and", "or", "quote", "effect", "handler", "match",
                 "async", "go", "await", "select"}


def _rules(grammar: dict):
    pending = [grammar] + list(grammar["repository"].values())
    while pending:
        rule = pending.pop()
        yield rule
        pending.extend(rule.get("patterns", []))


class TextMate:
    def __init__(self, grammar: dict):
        self.grammar = grammar
        self.compiled = {}
        for rule in _rules(grammar):
            for key in ("match", "begin", "end"):
                if key in rule:
                    self.compiled[id(rule), key] = re.compile(rule[key])

    def _expand(self, patterns):
        for rule in patterns:
            if "include" in rule:
                yield from self._expand([self.grammar["repository"][rule["include"][1:]]])
            elif "match" in rule or "begin" in rule:
                yield rule
            else:
                yield from self._expand(rule.get("patterns", []))

    def tokens(self, text: str) -> list[tuple[int, int, str, tuple[str, ...]]]:
        """(line, column, text, scopes) of every scoped piece, columns 1-based."""
        out = []
        stack = []      # open begin/end rules
        for lineno, line in enumerate(text.split("\n"), 1):
            pos = 0
            while pos <= len(line):
                rules = list(self._expand(stack[-1].get("patterns", []) if stack
                                          else self.grammar["patterns"]))
                best = None
                if stack:
                    m = self.compiled[id(stack[-1]), "end"].search(line, pos)
                    if m:
                        best = (m.start(), -1, m, stack[-1], "end")
                for order, rule in enumerate(rules):
                    key = "match" if "match" in rule else "begin"
                    m = self.compiled[id(rule), key].search(line, pos)
                    if m and (best is None or (m.start(), order) < best[:2]):
                        best = (m.start(), order, m, rule, key)
                if best is None:
                    break
                _, _, m, rule, key = best
                outer = tuple(r["name"] for r in stack if "name" in r)
                if key == "end":
                    self._emit(out, lineno, m, outer, rule.get("endCaptures", {}))
                    stack.pop()
                elif key == "begin":
                    scopes = outer + ((rule["name"],) if "name" in rule else ())
                    self._emit(out, lineno, m, scopes, rule.get("beginCaptures", {}))
                    stack.append(rule)
                else:
                    scopes = outer + ((rule["name"],) if "name" in rule else ())
                    self._emit(out, lineno, m, scopes, rule.get("captures", {}))
                pos = m.end() if m.end() > pos else pos + 1
        return out

    @staticmethod
    def _emit(out, lineno, m, scopes, captures):
        if m.group(0) and scopes:
            out.append((lineno, m.start() + 1, m.group(0), scopes))
        for group, capture in captures.items():
            if m.group(int(group)) and group != "0":
                out.append((lineno, m.start(int(group)) + 1, m.group(int(group)),
                            scopes + (capture["name"],)))
            elif group == "0" and m.group(0):
                out.append((lineno, m.start() + 1, m.group(0), scopes + (capture["name"],)))


def _scoped(tokens, scope: str) -> set[tuple[int, int, str]]:
    return {(line, col, text) for line, col, text, scopes in tokens if scopes[-1].startswith(scope)}


def _tour_facts() -> dict[str, set[tuple[int, int, str]]]:
    """What the compiler's reader sees in the tour: (line, column, text) of each kind."""
    text = TOUR.read_text()
    lines = text.split("\n")
    facts = {k: set() for k in ("special", "effect", "string", "number", "keyword", "comment")}

    def source(span):
        return lines[span.line - 1][span.col - 1:span.end_col - 1]

    pending = list(R.read(text, "tour.fl").data)
    while pending:
        d = pending.pop()
        if isinstance(d, (R.DList, R.DMap)):
            pending.extend(d.items)
            if isinstance(d, R.DList) and d.bracket == "(" and d.items \
                    and isinstance(d.items[0], R.DSymbol):
                name = d.items[0].name
                if name in SPECIAL_FORMS:
                    facts["special"].add((d.items[0].span.line, d.items[0].span.col, name))
        elif isinstance(d, R.DQuote):
            pending.append(d.datum)
        elif isinstance(d, R.DSymbol) and re.fullmatch(r"[A-Za-z][\w-]*:\S+", d.name):
            facts["effect"].add((d.span.line, d.span.col, d.name))
        elif isinstance(d, R.DKeyword):
            facts["keyword"].add((d.span.line, d.span.col, source(d.span)))
        elif isinstance(d, R.DConst) and isinstance(d.value, str) and d.span.line == d.span.end_line:
            facts["string"].add((d.span.line, d.span.col, source(d.span)))
        elif isinstance(d, R.DConst) and type(d.value) in (int, float):
            facts["number"].add((d.span.line, d.span.col, source(d.span)))
    lexer = lark.Lark((REPO / "fluentai/frontend/grammar.lark").read_text(), parser="lalr",
                      lexer="basic")
    for token in lexer.lex(text, dont_ignore=True):
        if token.type == "COMMENT":
            facts["comment"].add((token.line, token.column, str(token)))
    return facts


@pytest.fixture(scope="module")
def grammar() -> dict:
    return json.loads(GRAMMAR.read_text())


def test_grammar_is_valid_json_with_compiling_regexes(grammar):
    assert grammar["scopeName"] == "source.fluentai" and "fl" in grammar["fileTypes"]
    engine = TextMate(grammar)
    assert len(engine.compiled) >= 10
    for rule in _rules(grammar):
        if "include" in rule:
            assert rule["include"][1:] in grammar["repository"], rule


def test_grammar_highlights_the_tour_as_the_reader_reads_it(grammar):
    tokens = TextMate(grammar).tokens(TOUR.read_text())
    facts = _tour_facts()
    assert {"define", "lambda", "let", "if", "match", "handler", "data"} <= {t for _, _, t in facts["special"]}
    assert facts["effect"] and facts["string"] and facts["comment"] and facts["number"]
    assert _scoped(tokens, "keyword.control.special-form") == facts["special"]
    assert _scoped(tokens, "support.function.effect") == facts["effect"]
    strings = {(line, col, text) for line, col, text, scopes in tokens
               if scopes[-1].startswith("punctuation.definition.string.begin")}
    assert strings == {(line, col, '"') for line, col, _ in facts["string"]}
    assert _scoped(tokens, "constant.numeric") == facts["number"]
    assert _scoped(tokens, "comment.line") == facts["comment"]
    escapes = _scoped(tokens, "constant.character.escape")
    assert escapes and all(text.startswith("\\") for _, _, text in escapes)
    assert not _scoped(tokens, "invalid")


def test_grammar_covers_keywords_constants_and_escapes(grammar):
    source = '(get m :name) (if true nil #f) "tab\\t\\u{1F600} bad\\q" -1.5e3 x1 ; done'
    tokens = TextMate(grammar).tokens(source)
    assert {t for _, _, t in _scoped(tokens, "constant.other.keyword")} == {":name"}
    assert {t for _, _, t in _scoped(tokens, "constant.language")} == {"true", "nil", "#f"}
    assert {t for _, _, t in _scoped(tokens, "constant.character.escape")} == {"\\t", "\\u{1F600}"}
    assert {t for _, _, t in _scoped(tokens, "invalid.illegal.escape")} == {"\\q"}
    assert {t for _, _, t in _scoped(tokens, "constant.numeric")} == {"-1.5e3"}
    assert {t for _, _, t in _scoped(tokens, "comment.line")} == {"; done"}


@pytest.mark.skipif(shutil.which("vim") is None, reason="vim is not installed")
def test_vim_syntax_file_highlights_the_tour(tmp_path):
    script = tmp_path / "check.vim"
    script.write_text(
        "syntax on\nexecute 'source ' . fnameescape($FL_SYNTAX)\nlet out = []\n"
        "for lnum in range(1, line('$'))\n  for col in range(1, len(getline(lnum)))\n"
        "    call add(out, lnum . ':' . col . ':' . synIDattr(synID(lnum, col, 1), 'name'))\n"
        "  endfor\nendfor\ncall writefile(out, $FL_OUT)\nqall!\n")
    env = dict(os.environ, FL_SYNTAX=str(REPO / "editors" / "fluentai.vim"),
               FL_OUT=str(tmp_path / "groups"))
    subprocess.run(["vim", "-N", "-u", "NONE", "-i", "NONE", "-es", "-S", str(script), str(TOUR)],
                   env=env, timeout=60, check=True, capture_output=True)
    group = {}
    for entry in (tmp_path / "groups").read_text().splitlines():
        line, col, name = entry.split(":", 2)
        group[int(line), int(col)] = name
    facts = _tour_facts()
    lines = TOUR.read_text().split("\n")
    for kind, expected in (("special", "fluentaiSpecial"), ("effect", "fluentaiEffectOp"),
                           ("string", "fluentaiString"), ("number", "fluentaiNumber"),
                           ("comment", "fluentaiComment")):
        for line, col, text in facts[kind]:
            byte_col = len(lines[line - 1][:col - 1].encode()) + 1     # Vim counts bytes
            assert group.get((line, byte_col)) == expected, (kind, line, col, text)
