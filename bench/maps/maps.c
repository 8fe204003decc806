/* maps: 100,000 inserts into a hash map, then 100,000 hits and 100,000 misses, repeated r times.
   An open-addressing table (linear probing, power-of-two capacity, grown at 70% load from a
   small start so that the growth is part of the work, as in every other variant). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct { int64_t key, value; int used; } slot;
typedef struct { slot *slots; size_t cap, size; } map;

static int64_t key_of(int64_t i) { return (i * 7919) % 1000003; }

static size_t bucket(const map *m, int64_t key) {
    return (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 17) & (m->cap - 1);
}

static void put(map *m, int64_t key, int64_t value);

static void grow(map *m) {
    slot *old = m->slots;
    size_t old_cap = m->cap;
    m->cap *= 2;
    m->size = 0;
    m->slots = calloc(m->cap, sizeof(slot));
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].used) put(m, old[i].key, old[i].value);
    free(old);
}

static void put(map *m, int64_t key, int64_t value) {
    if ((m->size + 1) * 10 > m->cap * 7) grow(m);
    size_t i = bucket(m, key);
    while (m->slots[i].used && m->slots[i].key != key) i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].used) { m->slots[i].used = 1; m->slots[i].key = key; m->size++; }
    m->slots[i].value = value;
}

static const slot *find(const map *m, int64_t key) {
    size_t i = bucket(m, key);
    while (m->slots[i].used) {
        if (m->slots[i].key == key) return &m->slots[i];
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

static int64_t once(int64_t n) {
    map m = { calloc(8, sizeof(slot)), 8, 0 };
    for (int64_t i = 0; i < n; i++) put(&m, key_of(i), i);
    int64_t acc = 0;
    for (int64_t i = 0; i < n; i++) {
        acc += find(&m, key_of((i * 31) % n))->value;
        if (!find(&m, key_of(i) + 1000003)) acc += 1;
    }
    int64_t result = (int64_t)m.size + acc;
    free(m.slots);
    return result;
}

int main(int argc, char **argv) {
    int64_t n = 100000, r = argc > 1 ? atol(argv[1]) : 40, t = 0;
    for (int64_t k = 0; k < r; k++) t += once(n);
    printf("maps %ld %ld %ld\n", (long)n, (long)r, (long)t);
    return 0;
}
