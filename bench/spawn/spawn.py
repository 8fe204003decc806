# spawn: 100,000 asyncio tasks created (each computes 2i), then each one awaited in order.
import asyncio, sys

async def task(i):
    return 2 * i

async def main(n):
    tasks = [asyncio.create_task(task(i)) for i in range(n)]
    s = 0
    for t in tasks:
        s += await t
    return s

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
print("spawn", N, asyncio.run(main(N)))
