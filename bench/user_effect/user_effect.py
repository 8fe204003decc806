# user_effect: the handler is a callback the loop calls for every operation.
import sys


def run(n, handler):
    acc = 0
    for i in range(n):
        acc += handler(i)
    return acc


N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
print("user_effect", N, run(N, lambda i: 2 * i))
