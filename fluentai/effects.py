"""The built-in effects and their operations (LANGUAGE.md section 7).

One table for the compiler: which ``effect:op`` names are built in (their
default handlers live in the runtime's effect.c and the files it dispatches
to), with their argument counts. Anything else is a user effect, which only a
``handler`` can serve.
"""
from __future__ import annotations

# effect -> {operation: (min args, max args or -1)}
BUILTIN_EFFECTS: dict[str, dict[str, tuple[int, int]]] = {
    "io": {"print": (0, -1), "println": (0, -1), "write": (1, 1), "read-line": (0, 0),
           "read-file": (1, 1), "write-file": (2, 2), "append-file": (2, 2)},
    "state": {"get": (1, 1), "set": (2, 2), "update": (2, 2), "delete": (1, 1), "clear": (0, 0),
              "begin-transaction": (0, 0), "commit-transaction": (0, 0),
              "rollback-transaction": (0, 0)},
    "error": {"raise": (1, 3), "catch": (2, 2)},
    "time": {"now": (0, 0), "elapsed": (0, 0), "sleep": (1, 1)},
    "random": {"int": (2, 2), "float": (0, 0), "bool": (0, 0), "choice": (1, 1),
               "shuffle": (1, 1), "seed": (1, 1)},
    "async": {"all": (1, 1), "race": (1, 1), "delay": (1, 2), "then": (2, 2),
              "resolve": (1, 1), "reject": (1, 1)},
    "concurrent": {"channel": (0, 1), "send": (2, 2), "receive": (1, 1), "close": (1, 1),
                   "spawn": (1, 1), "join": (1, 1)},
    "network": {"fetch": (1, 2), "get": (1, 1), "post": (2, 2)},
    "dom": {"create-element": (1, 1), "text": (1, 1), "h": (3, 3), "set-attribute": (3, 3),
            "get-attribute": (2, 2), "set-text": (2, 2), "get-text": (1, 1),
            "append-child": (2, 2), "remove-child": (2, 2), "set-root": (1, 1),
            "get-root": (0, 0), "query-selector": (1, 1), "add-event-listener": (3, 3),
            "dispatch": (2, 3), "serialize": (1, 1)},
}


def split_op(qualified: str) -> tuple[str, str]:
    effect, _, op = qualified.partition(":")
    return effect, op


def is_builtin_op(qualified: str) -> bool:
    effect, op = split_op(qualified)
    return op in BUILTIN_EFFECTS.get(effect, {})
