# fanin: 1,000 asyncio tasks each send 1,000 values into one queue; main receives and sums them.
# asyncio has no unbuffered channel: Queue(maxsize=1) is the closest.
import asyncio, sys

async def producer(q, i, m):
    for k in range(m):
        await q.put(i * m + k)

async def main(tasks, m):
    q = asyncio.Queue(maxsize=1)
    workers = [asyncio.create_task(producer(q, i, m)) for i in range(tasks)]
    s = 0
    for _ in range(tasks * m):
        s += await q.get()
    await asyncio.gather(*workers)
    return s

TASKS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
M = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
print("fanin", TASKS, M, asyncio.run(main(TASKS, M)))
