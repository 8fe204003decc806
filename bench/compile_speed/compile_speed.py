"""Compile speed: seconds per 1,000 lines of FluentAI at -O0 and -O2, and warm-cache start-up.

Generates a program of LINES lines (small functions with arithmetic, conditionals, lists,
closures and a match, each calling the previous one), then times
`fluentai compile -c` at -O0 and -O2 (median of RUNS), and `fluentai jit` of hello world
with a warm cache. Usage: python bench/compile_speed/compile_speed.py [LINES] [RUNS]
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

FUNCTION = """(define (f{i} x acc)
  (let ((y (+ (* x {k}) (mod x 7)))
        (g (lambda (z) (+ z {i}))))
    (cond ((< y 0) (f{prev} (- x 1) acc))
          ((= (mod y 2) 0) (g (+ acc y)))
          (else (match (list y acc)
                  ([a b] (+ a b (length (map g (range 0 3)))))
                  (_ 0))))))
"""
LINES_PER_FUNCTION = FUNCTION.count("\n")


def generate(lines: int) -> str:
    n = max(1, lines // LINES_PER_FUNCTION)
    parts = ["(define (f0 x acc) acc)\n"]
    parts += [FUNCTION.format(i=i, k=i % 13 + 1, prev=i - 1) for i in range(1, n)]
    parts.append(f'(io:print (f{n - 1} 5 0))\n')
    return "".join(parts)


def timed(cmd: list[str], env=None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    fluentai = [sys.executable, "-m", "fluentai"]
    with tempfile.TemporaryDirectory() as tmp:
        prog = os.path.join(tmp, "big.fl")
        source = generate(lines)
        with open(prog, "w") as f:
            f.write(source)
        actual = source.count("\n")
        for opt in ("-O0", "-O2"):
            times = [timed(fluentai + ["compile", "-c", opt, prog, "-o", os.path.join(tmp, "big.o")])
                     for _ in range(runs)]
            med = statistics.median(times)
            print(f"compile {opt}: {actual} lines in {med:.2f} s = {med * 1000 / actual:.2f} s "
                  "per 1,000 lines (whole process, median)")
        hello = os.path.join(tmp, "hello.fl")
        with open(hello, "w") as f:
            f.write('(io:print "hello")\n')
        env = dict(os.environ, FLUENTAI_CACHE_DIR=os.path.join(tmp, "cache"))
        timed(fluentai + ["jit", hello], env)                      # fills the cache
        warm = [timed(fluentai + ["jit", hello], env) for _ in range(max(runs, 5))]
        print(f"jit hello world, warm cache: {statistics.median(warm) * 1000:.0f} ms "
              "(whole process, median)")


if __name__ == "__main__":
    main()
