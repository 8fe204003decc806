# maps: 100,000 inserts into a dict, then 100,000 hits and 100,000 misses, repeated r times.
import sys


def key_of(i):
    return (i * 7919) % 1000003


def once(n):
    m = {}
    for i in range(n):
        m[key_of(i)] = i
    acc = 0
    for i in range(n):
        acc += m[key_of((i * 31) % n)]
        if key_of(i) + 1000003 not in m:
            acc += 1
    return len(m) + acc


N = 100000
R = int(sys.argv[1]) if len(sys.argv) > 1 else 40
print("maps", N, R, sum(once(N) for _ in range(R)))
