"""Delta-debugging reducers for failing inputs.

In: a failing input and a predicate `still_fails(candidate) -> bool` (the same kind of failure).
Out: a smaller input for which the predicate still holds.

- `reduce_forms(forms, still_fails)`: a generated program, as S-expressions: first ddmin over
  the top-level forms, then, repeatedly, each sub-expression replaced by one of its children
  or by a small literal of the same bracket kind, until nothing more can go.
- `reduce_tokens(source, still_fails)`: a mutant, as bytes: ddmin over its tokens, then over
  the bytes of each remaining token.

Every predicate call runs the compiler, so both stop after `budget` calls.
"""
from __future__ import annotations

from .mutate import tokens
from .sexpr import Form, MapLit, Vec, rebuild


class Budget:
    def __init__(self, calls: int):
        self.left = calls

    def test(self, still_fails, candidate) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return still_fails(candidate)


def ddmin(items: list, still_fails, budget: Budget) -> list:
    """Zeller's ddmin: a 1-minimal sublist (within the budget) that still fails."""
    n = 2
    while len(items) >= 2 and budget.left > 0:
        chunk = max(1, len(items) // n)
        subsets = [items[i:i + chunk] for i in range(0, len(items), chunk)]
        reduced = False
        for k in range(len(subsets)):
            complement = [x for j, s in enumerate(subsets) if j != k for x in s]
            if complement and budget.test(still_fails, complement):
                items, n, reduced = complement, max(n - 1, 2), True
                break
        if not reduced:
            if n >= len(items):
                break
            n = min(len(items), n * 2)
    return items


def _paths(x, path=()):
    yield path, x
    if isinstance(x, (Form, Vec, MapLit)):
        for i, child in enumerate(x):
            yield from _paths(child, path + (i,))


def _replace(x, path, new):
    if not path:
        return new
    children = list(x)
    children[path[0]] = _replace(children[path[0]], path[1:], new)
    return rebuild(x, children)


def _simpler(node):
    """Candidates for replacing `node`, smallest first."""
    out = []
    if isinstance(node, (Form, Vec, MapLit)):
        if len(node):
            out.append(type(node)())
        out.extend(node)
        if isinstance(node, Form) and len(node) > 2:
            out.extend(rebuild(node, [c for j, c in enumerate(node) if j != i])
                       for i in range(1, len(node)))
    elif isinstance(node, int) and not isinstance(node, bool) and node not in (0, 1):
        out.extend([0, 1])
    elif isinstance(node, str) and node:
        out.append("")
    return out


def reduce_forms(forms: list, still_fails, budget_calls: int = 150) -> list:
    budget = Budget(budget_calls)
    forms = ddmin(list(forms), still_fails, budget)
    progress = True
    while progress and budget.left > 0:
        progress = False
        for top in range(len(forms)):
            for path, node in list(_paths(forms[top])):
                for candidate in _simpler(node):
                    trial = list(forms)
                    try:
                        trial[top] = _replace(forms[top], path, candidate)
                    except (IndexError, TypeError):
                        continue
                    if budget.test(still_fails, trial):
                        forms, progress = trial, True
                        break
                if progress or budget.left <= 0:
                    break
            if progress or budget.left <= 0:
                break
    return forms


def reduce_tokens(source: bytes, still_fails, budget_calls: int = 200) -> bytes:
    budget = Budget(budget_calls)
    toks = ddmin(tokens(source), lambda ts: still_fails(b"".join(ts)), budget)
    for i in range(len(toks)):
        if len(toks[i]) > 8 and budget.left > 0:
            pieces = list(toks[i])
            kept = ddmin(pieces, lambda ps: still_fails(
                b"".join(toks[:i]) + bytes(ps) + b"".join(toks[i + 1:])), budget)
            toks[i] = bytes(kept)
    return b"".join(toks)
