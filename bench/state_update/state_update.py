# state_update: the store is a dict, `update` applies a function to a key's value.
import sys

store = {}


def update(key, f):
    value = f(store.get(key))
    store[key] = value
    return value


def inc(x):
    return x + 1


N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
store["counter"] = 0
for i in range(N):
    update("counter", inc)
print("state_update", N, store["counter"])
