"""'Did you mean' suggestions for misspelt names, as rustc and Elm make them.

In: a name that did not resolve and the names that would have. Out: the closest
candidate, or None when none is close enough. Distance is optimal string alignment
(Levenshtein plus the swap of two adjacent characters, so ``lenght`` is one edit from
``length``); a candidate qualifies within ``len(name) // 3`` edits (at least one), and a
name shorter than three characters only matches a candidate differing in case: one- and
two-letter names are too close to everything for a guess to help.

Hostile sources stay cheap: a name longer than ``MAX_NAME`` characters gets no guess
(the distance is quadratic in the length), and a candidate is only aligned when two
linear lower bounds of the distance (the difference in length, the characters of the
name that the candidate lacks) are within the limit. Callers bound how many names they
ask about (``MAX_SUGGESTIONS``).
"""
from __future__ import annotations

from typing import Iterable, Optional

MAX_NAME = 64
# Diagnostics per compilation that get a suggestion; later ones only name the problem.
MAX_SUGGESTIONS = 20


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance of a and b; any value above ``limit`` means 'too far'."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def closest(name: str, candidates: Iterable[str]) -> Optional[str]:
    """The best candidate for ``name``: a case-insensitive equal first, then the fewest
    edits; ties go to the candidate seen first (callers list nearer scopes first)."""
    if len(name) > MAX_NAME:
        return None
    limit = max(len(name), 3) // 3 if len(name) >= 3 else 0
    best: Optional[tuple[int, int]] = None
    found = ""
    lowered = name.lower()
    for order, candidate in enumerate(dict.fromkeys(candidates)):
        if candidate == name:
            continue
        if candidate.lower() == lowered:
            distance = 0
        elif limit == 0 or abs(len(candidate) - len(name)) > limit:
            continue
        elif sum(ch not in candidate for ch in name) > limit:
            continue            # each character the candidate lacks costs an edit
        else:
            distance = edit_distance(name, candidate, limit)
            if distance > limit or distance >= len(candidate):
                continue
        key = (distance, order)
        if best is None or key < best:
            best, found = key, candidate
    return found or None


def did_you_mean(name: str, candidates: Iterable[str]) -> list[str]:
    """The help lines of a diagnostic: one suggestion, or none."""
    match = closest(name, candidates)
    return [f"did you mean `{match}`?"] if match else []
