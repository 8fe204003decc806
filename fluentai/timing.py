"""``--time-passes``: how long each stage of a compilation takes.

In: ``with phase("name"): ...`` around each stage (the frontend's, every IR pass of
``ir/pipeline.py``, codegen, LLVM's optimisation and code generation, linking), anywhere
in the compiler. Out: while a ``collect()`` block is active, the wall time of each phase
(a name met twice adds up), and ``format_table`` renders them for stderr. Outside one,
``phase`` costs one global read. The compiler's worker threads (``call_with_deep_stack``)
run one at a time, so one module-level collector serves them all.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator, Optional


class PassTimes:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}       # in the order phases first ran

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds


_active: Optional[PassTimes] = None


@contextmanager
def phase(name: str) -> Iterator[None]:
    times = _active
    if times is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        times.add(name, time.perf_counter() - start)


@contextmanager
def collect() -> Iterator[PassTimes]:
    global _active
    previous, _active = _active, PassTimes()
    try:
        yield _active
    finally:
        _active = previous


def format_table(times: PassTimes) -> str:
    total = sum(times.seconds.values())
    width = max([len(name) for name in times.seconds] + [len("total")])
    lines = ["===== fluentai --time-passes =====",
             f"  {'pass':<{width}}  {'time (ms)':>10}  {'share':>6}"]
    for name, seconds in times.seconds.items():
        share = 100 * seconds / total if total else 0.0
        lines.append(f"  {name:<{width}}  {seconds * 1000:>10.2f}  {share:>5.1f}%")
    lines.append(f"  {'total':<{width}}  {total * 1000:>10.2f}  {100.0 if total else 0.0:>5.1f}%")
    return "\n".join(lines) + "\n"
