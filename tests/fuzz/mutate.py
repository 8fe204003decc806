"""A mutator that turns the golden cases into malformed and hostile sources, and its oracle.

In: the golden programs tests/cases/*.fl and a seed.
Out: `mutant(seed, sources, hostile)` -> `Mutant` (the bytes and the list of mutations applied),
and `judge(mutant_bytes, workdir)` -> `MutantResult`: "ok" or the failure.

Mutations work on a rough token stream (brackets, strings, comments, atoms, whitespace):
delete, duplicate or swap tokens, drop or add a bracket, truncate, splice two programs,
replace a name by a builtin of another arity or by a special-form name, insert a NUL byte,
invalid UTF-8, a BOM or a CR, a huge number, a long identifier or string, deep nesting, and
malformed special forms. With `hostile=False` (the fixed-seed sample in `make test`) sizes stay
below the frontend limits being fixed elsewhere (literals under 4,000 digits, nesting under
200); the long campaign uses `hostile=True`, up to 10^4-digit literals and 10^4-deep nesting.

The oracle: the compiler and the program never crash (signal, exit 134/139), never print a
Python traceback, never report an internal compiler error (exit 70) and the compiler never
hangs; the exit status is 0, 1, 2, 130 or the program's own `(exit n)`, and a non-zero status
from an error comes with an `error[...]` report. A program that simply runs long (a mutant can
loop forever) is not a failure: when the run times out, `compile -c` alone must finish.
"""
from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

from fluentai.builtins import BUILTINS

from .runner import REPO_ROOT, crash_of, failure_kind, run_cli

CASES_DIR = REPO_ROOT / "tests" / "cases"
RUN_TIMEOUT_S = 10
SPECIAL_FORMS = ["define", "lambda", "let", "let*", "letrec", "if", "cond", "when", "unless",
                 "do", "begin", "and", "or", "match", "data", "quote", "effect", "handler",
                 "async", "await", "go", "select", "else", "...", "."]
_TOKEN = re.compile(rb'"(?:\\.|[^"\\])*"?'           # a string, maybe unterminated
                    rb'|;[^\n]*|[()\[\]{}\']|[ \t\r\n,]+'   # a comment, a bracket, blanks
                    rb'|[^ \t\r\n,()\[\]{}"\';]+', re.S)  # an atom


def tokens(source: bytes) -> list[bytes]:
    return _TOKEN.findall(source)


def mutation_sources() -> list[bytes]:
    """The golden cases, except those that need the network fixture or a terminal."""
    sources = []
    for path in sorted(CASES_DIR.glob("*.fl")):
        args = path.with_suffix(".args")
        if path.name.startswith("net") or (args.exists() and b"@" in args.read_bytes()):
            continue
        sources.append(path.read_bytes())
    return sources


@dataclass
class Mutant:
    seed: int
    source: bytes
    mutations: list[str]


class Mutator:
    def __init__(self, seed: int, sources: list[bytes], hostile: bool):
        self.r = random.Random(seed)
        self.sources = sources
        self.hostile = hostile
        self.names = sorted(BUILTINS)

    def size(self, small: int, large: int) -> int:
        return self.r.randint(1, large if self.hostile and self.r.random() < 0.3 else small)

    def atom_positions(self, toks):
        return [i for i, t in enumerate(toks) if t[:1] not in b"()[]{}'\" \t\r\n,;"]

    def mutate(self, toks: list[bytes]) -> tuple[list[bytes], str]:
        r = self.r
        if not toks:
            toks = [b"(", b")"]
        i = r.randrange(len(toks))
        atoms = self.atom_positions(toks)
        brackets = [k for k, t in enumerate(toks) if t in (b"(", b")", b"[", b"]", b"{", b"}")]
        op = r.randrange(17)
        if op == 0:
            del toks[i]
            return toks, "delete a token"
        if op == 1:
            toks.insert(i, toks[i])
            return toks, "duplicate a token"
        if op == 2:
            j = r.randrange(len(toks))
            toks[i], toks[j] = toks[j], toks[i]
            return toks, "swap two tokens"
        if op == 3 and brackets:
            del toks[r.choice(brackets)]
            return toks, "drop a bracket"
        if op == 4:
            toks.insert(i, r.choice([b"(", b")", b"[", b"]", b"{", b"}", b"'", b'"']))
            return toks, "insert a bracket or quote"
        if op == 5:
            cut = r.randrange(len(toks) + 1)
            return toks[:cut], "truncate"
        if op == 6:
            other = tokens(r.choice(self.sources))
            return toks[:r.randrange(len(toks) + 1)] + other[r.randrange(len(other) + 1):], \
                "splice two programs"
        if op == 7 and atoms:
            toks[r.choice(atoms)] = r.choice(self.names).encode()
            return toks, "replace a name by a builtin"
        if op == 8 and atoms:
            toks[r.choice(atoms)] = r.choice(SPECIAL_FORMS).encode()
            return toks, "replace a name by a special form"
        if op == 9:
            toks.insert(i, r.choice([b"\0", b"\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80",
                                     b"\xef\xbb\xbf", b"\r", b"\r\n", b"\xe2\x80\xa8", b"\t"]))
            return toks, "insert a NUL, invalid UTF-8, a BOM or a CR"
        if op == 10:
            digits = self.size(40, 10_000) if self.hostile else self.r.randint(1, 3900)
            number = r.choice([b"", b"-", b"+"]) + b"9" * digits
            number += r.choice([b"", b".5", b"e9", b"e-999", b"e999999"])
            toks.insert(i, b" " + number + b" ")
            return toks, f"insert a {digits}-digit number"
        if op == 11:
            n = self.size(500, 100_000)
            toks.insert(i, r.choice([b" " + b"x" * n + b" ", b' "' + b"s" * n + b'" ',
                                     b" :" + b"k" * n + b" "]))
            return toks, f"insert a {n}-character token"
        if op == 12:
            depth = self.size(150, 10_000) if self.hostile else r.randint(1, 150)
            opener, closer = r.choice([(b"(", b")"), (b"[", b"]"), (b"{", b"}"), (b"'", b"")])
            toks[i:i + 1] = [opener * depth, toks[i], closer * depth]
            return toks, f"nest a token {depth} deep"
        if op == 13:
            n = self.size(200, 10_000)
            toks.insert(i, b"(list" + b" 1" * n + b")")
            return toks, f"insert a {n}-argument call"
        if op == 14:
            toks.insert(i, r.choice([
                b"(define)", b"(define 1 2)", b"(define (f . ) 1)", b"(lambda)", b"(lambda x x)",
                b"(let ((x)) x)", b"(let loop)", b"(let 5 ())", b"(letrec ((1 2)) 3)",
                b"(if)", b"(cond (else))", b"(cond 1)", b"(match)", b"(match 1 ())",
                b"(match [1] ([a ... ] a))", b"(data)", b"(data T (C) (C))", b"(data t)",
                b"(quote)", b"(quote 1 2)", b"(effect)", b"(effect 1)", b"(handler)",
                b"(handler (x) 1)", b"(handler ((io:print 1)) 2)", b"(async)", b"(await)",
                b"(go)", b"(select)", b"(select (1 2))", b"(select ((recv! 1)))", b"(. 1)",
                b"(1 . 2)", b"#t", b"#f", b"#x", b"1.2.3", b"12abc", b"'", b"\\u{D800}",
                b'"\\u{D800}"', b'"\\u{110000}"', b'"\\q"', b"{1}", b"{1 2 1 3}",
                b"(io:)", b"(:op 1)", b"(a:b:c)", b"(define (f x x) x)", b"(exit 300)",
                b"(exit -1)", b"(exit \"x\")"]))
            return toks, "insert a malformed form"
        if op == 15 and atoms:
            toks[r.choice(atoms)] = r.choice([b"9223372036854775808", b"-9223372036854775809",
                                               b"1e400", b"-0.0", b"nan", b"inf", b"0x10",
                                               b"1/2", b"--1", b"+", b"-", b"...", b"::k",
                                               b":", b"a:", b":a:b"])
            return toks, "replace an atom by an edge-case literal"
        toks.insert(i, b"\n")
        return toks, "insert a newline"

    def mutant(self, seed: int) -> Mutant:
        source = self.r.choice(self.sources)
        toks = tokens(source)
        applied = []
        for _ in range(self.r.choice([1, 1, 1, 2, 2, 3])):
            toks, what = self.mutate(toks)
            applied.append(what)
        return Mutant(seed, b"".join(toks), applied)


def make_mutant(seed: int, sources: list[bytes], hostile: bool) -> Mutant:
    return Mutator(seed, sources, hostile).mutant(seed)


@dataclass
class MutantResult:
    kind: str            # "ok", "runs-long", or the failure ("crash", "traceback", "hang", ...)
    detail: str = ""
    status: int | None = None

    @property
    def failed(self) -> bool:
        return self.kind not in ("ok", "runs-long")


def judge(source: bytes, workdir: Path, strict_compile_time: bool = False) -> MutantResult:
    """With `strict_compile_time` (the long campaign, not the sample in `make test`: a loaded
    machine must not fail a test), a compile using more than RUN_TIMEOUT_S of CPU time is a
    failure too."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prog.fl").write_bytes(source)
    run = run_cli(["jit", "--no-cache", "-O0", "prog.fl"], workdir, "jit-O0",
                  timeout=RUN_TIMEOUT_S)
    if run.status is None:
        # a mutant may loop forever; the compiler alone must still answer
        started = time.monotonic()
        compiled = run_cli(["compile", "-O0", "-c", "prog.fl", "-o", "prog.o"], workdir,
                           "compile-O0")
        took = time.monotonic() - started
        why = crash_of(compiled)
        if why:
            return MutantResult(failure_kind(why), f"{why}\n$ {compiled.command}\n"
                                + compiled.stderr.decode("utf-8", "replace")[-1500:])
        # CPU time, not wall time: a campaign at nice 19 on a loaded machine gets a fraction
        # of a core, and the wall clock measured the load
        cpu = compiled.cpu if compiled.cpu is not None else took
        if strict_compile_time and cpu > RUN_TIMEOUT_S:
            return MutantResult("slow-compile", f"`compile -c` took {cpu:.1f} s of CPU time "
                                f"({took:.0f} s of wall time)\n$ {compiled.command}",
                                compiled.status)
        return MutantResult("runs-long", status=None)
    why = crash_of(run)
    if why:
        return MutantResult(failure_kind(why), f"{why}\n$ {run.command}\n"
                            + run.stderr.decode("utf-8", "replace")[-1500:], run.status)
    return MutantResult("ok", status=run.status)

