"""Compile-time check of effect operations (LANGUAGE.md section 7).

In:  a resolved ``Program`` and the effect names handled from outside (Python
handlers). Out: nothing, or ``CompileError`` listing every ``Perform`` of an
operation that nothing can handle: not a built-in operation, no ``handler``
clause anywhere in the program names it or its effect, and no outside handler
does; with a 'did you mean' help when a known operation is close. (Handlers act through dynamic extent, so any clause in the program might
be active at the perform site; only a program with none is certainly wrong.)
Also every ``handler`` clause whose function is a literal that is not a
function (``(handler ((io:print 42)) ...)``).
"""
from __future__ import annotations

from ..diagnostics import CompileError, Diagnostic
from ..effects import BUILTIN_EFFECTS, is_builtin_op, split_op
from ..suggest import MAX_SUGGESTIONS, did_you_mean
from . import ast as A


def _walk(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        for value in vars(n).values():
            if isinstance(value, (A.Expr, A.HandlerClause, A.MatchClause, A.SelectClause)):
                stack.append(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, (A.Expr, A.HandlerClause, A.MatchClause, A.SelectClause)):
                        stack.append(item)
                    elif isinstance(item, tuple):
                        stack.extend(x for x in item if isinstance(x, A.Expr))


NOT_FUNCTIONS = (A.Const, A.ListLit, A.MapLit)


def _known_ops(effect: str, handled: set[str]) -> list[str]:
    """What a misspelt operation could have meant: the operations of its own effect first
    (built in, or named by a handler clause), then every other one."""
    builtin = [f"{e}:{op}" for e, ops in BUILTIN_EFFECTS.items() for op in ops]
    named = sorted(name for name in handled if ":" in name)
    every = named + builtin
    return [op for op in every if split_op(op)[0] == effect] + every


def check_effects(program: A.Program, handled_outside=()) -> None:
    performs: list[A.Perform] = []
    handled: set[str] = set(handled_outside)
    errors = []
    for form in program.forms:
        for node in _walk(form):
            if isinstance(node, A.Perform):
                performs.append(node)
            elif isinstance(node, A.HandlerClause):
                handled.add(node.name)
                if isinstance(node.fn, NOT_FUNCTIONS):
                    errors.append(Diagnostic("syntax-error", f"the `{node.name}` clause of a "
                                             "handler must be a function", node.fn.span))
    for p in performs:
        effect, _ = split_op(p.op)
        if is_builtin_op(p.op) or p.op in handled or effect in handled:
            continue
        helps = (did_you_mean(p.op, _known_ops(effect, handled))
                 if len(errors) < MAX_SUGGESTIONS else [])
        errors.append(Diagnostic("unhandled-effect", f"unhandled effect `{p.op}`: no handler in "
                                 "the program can handle it", p.span, helps=helps))
    if errors:
        errors.sort(key=lambda d: d.sort_key())
        raise CompileError(errors, program.source)
