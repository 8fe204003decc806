/* map.c -- immutable insertion-ordered maps, fl_hash, the map builtins and `tuple`.
 *
 * In:  any values as keys and values; keys are compared with fl_equal (so 1
 *      and 1.0 are the same key) and hashed with fl_hash, which agrees with it.
 * Out: the fl_map_* API of fluentai.h and fl_map_builtins[].
 *
 * Representation. A map never changes once made; a new version shares almost
 * everything with the old one, so `set` on a 10^5-entry map copies O(log n)
 * small nodes, never the map.
 *  - Small maps (at most SMALL_MAX entries; most records and every error value)
 *    are one flat array of key/value pairs in insertion order, searched
 *    linearly; an update copies at most 2 * SMALL_MAX words.
 *  - Large maps are one compressed hash trie (CHAMP: 32-way, 5 hash bits per
 *    level) whose nodes hold their entries {key, value, seq} inline next to
 *    their sub-nodes, in arrays sized exactly by two bitmaps. seq is the
 *    insertion sequence number: a new key gets seq = next_seq++, `set` of an
 *    existing key keeps its seq (so it keeps its place and the first key
 *    written) and removal just drops the entry. get/has/set/remove are
 *    O(log32 n) and a `set` copies one path of about three nodes.
 *    Insertion order is recovered on demand: the first ordered access (key_at,
 *    value_at, walks for printing, dict-keys, dict-values, dict-merge,
 *    equality) sorts the entries by seq into an array cached in the map
 *    object; maps never change, so the cache never goes stale.
 * Why not a second, order-keyed tree: path-copying it on every `set` tripled
 * the garbage per update, and Boehm spent most of the time marking.
 * A node holding neither sub-nodes nor heap values (fixnum keys and values,
 * the common bottom of a trie) is allocated atomic, so Boehm never scans it.
 *  - Flat maps: a map that owned `set`s (passes/owned_maps.py) grow past
 *    SMALL_MAX entries is a hash table edited in place instead (CPython's dict
 *    layout: entries in insertion order, an open-addressing index, and a tag
 *    byte per slot probed first): a hit takes two or three cache misses and a
 *    miss usually one, where the trie takes one per level. Nobody
 *    else can see such a map while it changes; a persistent update of one
 *    builds the trie of its entries once, keeps it in the flat map, and goes
 *    on as a trie (see "flat maps" below).
 */
#include "fluentai.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BUILTIN(cname) FL_BUILTIN(cname)   /* a resume point for error:catch (fluentai.h) */

#define SMALL_MAX 8
enum map_shape { MAP_SMALL = 0, MAP_LARGE = 1, MAP_FLAT = 2 };   /* in the header's aux */

typedef struct small_map {
    fl_header hdr;
    int64_t size;
    fl_value kv[];       /* key i at 2i, its value at 2i + 1 */
} small_map;

/* ---- trie nodes ------------------------------------------------------------ */

#define HAMT_BITS 5
#define HAMT_MASK 31u
#define HAMT_FANOUT 32
/* Below the last level that still has hash bits (shift 60), a node is a
 * collision node: every entry in it has the same full hash. */
#define COLLISION_SHIFT 64

typedef struct entry { fl_value key, value; int64_t seq; } entry;

/* Followed by entry[popcount(datamap)] then hnode *[popcount(nodemap)]. A
 * collision node instead has datamap = its entry count, nodemap = 0. */
typedef struct hnode { uint32_t datamap, nodemap; } hnode;

typedef struct large_map {
    fl_header hdr;
    int64_t size;
    int64_t next_seq;
    hnode *root;
    fl_value *ordered;   /* NULL until first needed: key i at 2i, value at 2i + 1, insertion order */
} large_map;

/* A map built by owned `set`s (passes/owned_maps.py) past SMALL_MAX entries:
 * a hash table edited in place, laid out like CPython's dict: the entries in
 * insertion order in kv, found through an index, open addressing with linear
 * probing over a power-of-two number of slots, at most half of them used. A
 * byte per slot (tags: 0 when empty, else the top 7 bits of the key's hash
 * with the high bit set) is probed first, so a miss reads only tags (an eighth
 * of the index's size) and a probe rejects another key without touching kv.
 * Only an owned `set` ever changes a flat map; a persistent update first
 * builds the trie of the same entries (O(n), kept in `trie`, so many
 * persistent updates of one shared flat version pay it once) and goes on from
 * there. */
typedef struct flat_map {
    fl_header hdr;
    int64_t size;        /* entries, all live: nothing removes from a flat map */
    int64_t cap;         /* room in kv and hashes; the index has 2 * cap slots */
    fl_value *kv;        /* key i at 2i, value at 2i + 1; atomic until a heap key or value enters */
    uint64_t *hashes;    /* KEY_HASH of key i (atomic): to re-index on growth and to build the trie */
    uint8_t *tags;       /* per slot (atomic) */
    uint32_t *index;     /* per slot: the entry number, where the tag is not 0 (atomic) */
    fl_value trie;       /* 0, or a large map of the same entries */
    int64_t kv_scanned;  /* kv was allocated for the collector to scan */
} flat_map;

static small_map empty_map __attribute__((aligned(16))) = {{FL_K_MAP, MAP_SMALL}, 0};

static int is_map(fl_value v) { return FL_IS_KIND(v, FL_K_MAP); }
static uint32_t shape_of(fl_value m) { return ((fl_header *)FL_PTR(m))->aux; }
static small_map *small_of(fl_value m) { return (small_map *)FL_PTR(m); }
static large_map *large_of(fl_value m) { return (large_map *)FL_PTR(m); }
static flat_map *flat_of(fl_value m) { return (flat_map *)FL_PTR(m); }

typedef void (*entry_visitor)(void *ctx, fl_value key, fl_value value);
static void map_walk_unordered(fl_value m, entry_visitor visit, void *ctx);

/* ---- hashing ------------------------------------------------------------------ */

/* splitmix64's finaliser: the HAMT consumes the low bits first, so every input bit must reach them. */
static uint64_t mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t hash_bytes(const char *s, int64_t n, uint64_t salt) {
    uint64_t h = 1469598103934665603ULL ^ salt;   /* FNV-1a */
    for (int64_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return mix(h);
}

static uint64_t hash_int(int64_t i) { return mix((uint64_t)i ^ 0x5851f42d4c957f2dULL); }

/* fl_equal makes a float equal to an int exactly when it is that integer, so
 * such floats hash as the int (and -0.0 as 0). */
static uint64_t hash_float(double d) {
    if (d >= -0x1p63 && d < 0x1p63 && d == trunc(d)) return hash_int((int64_t)d);
    if (isnan(d)) return mix(0x7ff8000000000000ULL);
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return mix(bits ^ 0x2545f4914f6cdd1dULL);
}

static uint64_t hash_list(fl_value v) {
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (; v != FL_EMPTY; v = FL_PAIR(v)->tail) h = mix(h ^ fl_hash(FL_PAIR(v)->head)) + 1;
    return h;
}

static void add_entry_hash(void *ctx, fl_value key, fl_value value) {
    *(uint64_t *)ctx += mix(fl_hash(key) * 31 + fl_hash(value));
}

/* Key order does not matter to equality, so the entries' hashes are summed. */
static uint64_t hash_map(fl_value m) {
    uint64_t h = hash_int(fl_map_size(m)) ^ 0x632be59bd9b4e019ULL;
    map_walk_unordered(m, add_entry_hash, &h);
    return h;
}

static uint64_t hash_data(fl_value v) {
    fl_value *obj = FL_PTR(v);
    uint32_t n = ((fl_header *)obj)->aux;
    uint64_t h = fl_hash(obj[1]) ^ 0xd1b54a32d192ed03ULL;
    for (uint32_t i = 0; i < n; i++) h = mix(h ^ fl_hash(obj[2 + i])) + 1;
    return h;
}

uint64_t fl_hash(fl_value v) {
    if (FL_IS_FIXNUM(v)) return hash_int(FL_FIXNUM_VAL(v));
    if (!FL_IS_HEAP(v)) return mix((uint64_t)v);
    fl_check_stack(0);   /* only nesting recurses */
    switch (FL_KIND(v)) {
    case FL_K_INT: return hash_int(((fl_boxint *)FL_PTR(v))->value);
    case FL_K_FLOAT: return hash_float(((fl_float *)FL_PTR(v))->value);
    case FL_K_STRING: return hash_bytes(FL_STR(v)->bytes, FL_STR(v)->nbytes, 0);
    case FL_K_KEYWORD:
    case FL_K_SYMBOL: {   /* {hdr, name}; interned, but hashed by name so runs agree */
        fl_string *name = FL_STR(((fl_value *)FL_PTR(v))[1]);
        return hash_bytes(name->bytes, name->nbytes, FL_KIND(v));
    }
    case FL_K_PAIR: return hash_list(v);
    case FL_K_MAP: return hash_map(v);
    case FL_K_DATA: return hash_data(v);
    default: return mix((uint64_t)v);   /* functions, promises, channels: identity */
    }
}

/* A fixnum key, the common case, skips the call into fl_hash (same result). */
static inline uint64_t key_hash_full(fl_value k) {
    return FL_IS_FIXNUM(k) ? hash_int(FL_FIXNUM_VAL(k)) : fl_hash(k);
}

/* Tests also build a variant with a tiny hash (FL_TEST_HASH_MASK) so that
 * full-hash collisions, which real keys almost never produce, get exercised. */
#ifdef FL_TEST_HASH_MASK
#define KEY_HASH(k) (key_hash_full(k) & (uint64_t)(FL_TEST_HASH_MASK))
#else
#define KEY_HASH(k) key_hash_full(k)
#endif

/* Two distinct fixnums are never equal: decide that without calling fl_equal. */
static inline int same_key(fl_value a, fl_value b) {
    return a == b || (((a | b) & 1) && fl_equal(a, b));
}

/* ---- the trie ---------------------------------------------------------------------- */

/* The runtime is built for baseline x86-64, where __builtin_popcount becomes
 * a call to libgcc's __popcountdi2: the POPCNT instruction is used when CPUID
 * says the machine has it (every x86-64 since about 2009), plain bit
 * arithmetic otherwise. The flag never changes after start-up, so the branch
 * on it is always predicted. */
#if defined(__x86_64__) && !defined(FL_NO_POPCNT)   /* FL_NO_POPCNT: tests of the fallback */
#include <cpuid.h>
static int have_popcnt;

__attribute__((constructor)) static void detect_popcnt(void) {
    unsigned a, b, c, d;
    have_popcnt = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_POPCNT);
}
#endif

static inline int popcount32(uint32_t x) {
#if defined(__x86_64__) && !defined(FL_NO_POPCNT)
    if (have_popcnt) {
        uint32_t count;
        __asm__("popcnt %1, %0" : "=r"(count) : "rm"(x) : "cc");
        return (int)count;
    }
#endif
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0f0f0f0fu;
    return (int)((x * 0x01010101u) >> 24);
}

static inline uint32_t slot_bit(uint64_t hash, int shift) { return 1u << ((hash >> shift) & HAMT_MASK); }
static inline int slot_index(uint32_t bitmap, uint32_t bit) { return popcount32(bitmap & (bit - 1)); }

static inline entry *node_entries(const hnode *n) { return (entry *)(n + 1); }
static inline hnode **node_children(const hnode *n) {
    return (hnode **)(node_entries(n) + popcount32(n->datamap));
}

static int entries_pointer_free(const entry *e, int n) {
    for (int i = 0; i < n; i++)
        if (FL_IS_HEAP(e[i].key) || FL_IS_HEAP(e[i].value)) return 0;
    return 1;
}

/* A node of ne entries and nk children; atomic when nothing in it points into the heap. */
static hnode *node_alloc(uint32_t datamap, uint32_t nodemap, const entry *ents, int ne, hnode *const *kids, int nk) {
    int64_t nbytes = (int64_t)sizeof(hnode) + ne * (int64_t)sizeof(entry) + nk * (int64_t)sizeof(hnode *);
    hnode *n = nk == 0 && entries_pointer_free(ents, ne) ? fl_alloc_atomic(nbytes) : fl_alloc(nbytes);
    n->datamap = datamap;
    n->nodemap = nodemap;
    if (ne) memcpy(node_entries(n), ents, ne * sizeof(entry));   /* ents/kids may be NULL when empty */
    if (nk) memcpy((entry *)(n + 1) + ne, kids, nk * sizeof(hnode *));
    return n;
}

/* The node's contents unpacked into caller buffers, to be edited and passed to node_alloc. */
static void node_unpack(const hnode *n, entry *ents, int *ne, hnode **kids, int *nk) {
    *ne = popcount32(n->datamap);
    *nk = popcount32(n->nodemap);
    memcpy(ents, node_entries(n), *ne * sizeof(entry));
    memcpy(kids, node_children(n), *nk * sizeof(hnode *));
}

/* A collision node of old's n entries (malloc'd scratch: every value in it
 * stays reachable from old or from the caller's stack), with `replace_at`
 * overwritten by e, or e appended when replace_at == n. */
static int64_t node_bytes(const hnode *n) {
    return (int64_t)sizeof(hnode) + popcount32(n->datamap) * (int64_t)sizeof(entry)
         + popcount32(n->nodemap) * (int64_t)sizeof(hnode *);
}

/* A copy of n (which has children, so is never atomic) with child `at` replaced:
 * the commonest path copy, done without unpacking. */
static hnode *node_with_child(const hnode *n, int at, hnode *child) {
    int64_t nbytes = node_bytes(n);
    hnode *copy = fl_alloc(nbytes);
    memcpy(copy, n, nbytes);
    node_children(copy)[at] = child;
    return copy;
}

/* A copy of n with e entered in the empty data slot `bit`: the commonest
 * insert, copied once instead of through node_unpack's buffers. Atomic by
 * node_alloc's rule. */
static hnode *node_with_entry(const hnode *n, uint32_t bit, const entry *e) {
    int ne = popcount32(n->datamap), nk = popcount32(n->nodemap), at = slot_index(n->datamap, bit);
    const entry *old = node_entries(n);
    int64_t nbytes = node_bytes(n) + (int64_t)sizeof(entry);
    int atomic = nk == 0 && !FL_IS_HEAP(e->key) && !FL_IS_HEAP(e->value) && entries_pointer_free(old, ne);
    hnode *copy = atomic ? fl_alloc_atomic(nbytes) : fl_alloc(nbytes);
    copy->datamap = n->datamap | bit;
    copy->nodemap = n->nodemap;
    entry *ents = node_entries(copy);
    memcpy(ents, old, at * sizeof(entry));
    ents[at] = *e;
    memcpy(ents + at + 1, old + at, (ne - at) * sizeof(entry));
    memcpy(ents + ne + 1, node_children(n), nk * sizeof(hnode *));
    return copy;
}

static hnode *collision_with(const entry *old, int n, int replace_at, const entry *e) {
    entry *all = fl_malloc_or_die((n + 1) * sizeof(entry));
    memcpy(all, old, n * sizeof(entry));
    all[replace_at] = *e;
    int count = replace_at == n ? n + 1 : n;
    hnode *c = node_alloc((uint32_t)count, 0, all, count, NULL, 0);
    free(all);
    return c;
}

static const entry *trie_find(const hnode *n, uint64_t hash, fl_value key) {
    for (int shift = 0;; shift += HAMT_BITS) {
        if (shift >= COLLISION_SHIFT) {
            const entry *e = node_entries(n);
            for (uint32_t i = 0; i < n->datamap; i++)
                if (same_key(e[i].key, key)) return &e[i];
            return NULL;
        }
        uint32_t bit = slot_bit(hash, shift);
        if (n->datamap & bit) {
            const entry *e = &node_entries(n)[slot_index(n->datamap, bit)];
            return same_key(e->key, key) ? e : NULL;
        }
        if (!(n->nodemap & bit)) return NULL;
        n = node_children(n)[slot_index(n->nodemap, bit)];
    }
}

/* A node at level `shift` holding the entries a and b, of different keys (hashes ha, hb). */
static hnode *node_of_two(const entry *a, uint64_t ha, const entry *b, uint64_t hb, int shift) {
    if (shift >= COLLISION_SHIFT) return collision_with(a, 1, 1, b);
    uint32_t bit_a = slot_bit(ha, shift), bit_b = slot_bit(hb, shift);
    if (bit_a == bit_b) {
        hnode *child = node_of_two(a, ha, b, hb, shift + HAMT_BITS);
        return node_alloc(0, bit_a, NULL, 0, &child, 1);
    }
    entry pair[2];
    pair[0] = bit_a < bit_b ? *a : *b;
    pair[1] = bit_a < bit_b ? *b : *a;
    return node_alloc(bit_a | bit_b, 0, pair, 2, NULL, 0);
}

static hnode *collision_put(const hnode *c, const entry *e) {
    int n = (int)c->datamap, at = 0;
    const entry *old = node_entries(c);
    while (at < n && !same_key(old[at].key, e->key)) at++;
    return collision_with(old, n, at, e);
}

/* The trie `n` at level `shift` with entry e, replacing the entry of an equal key. */
static hnode *trie_put(const hnode *n, uint64_t hash, const entry *e, int shift) {
    if (shift >= COLLISION_SHIFT) return collision_put(n, e);
    uint32_t bit = slot_bit(hash, shift), datamap = n->datamap, nodemap = n->nodemap;
    if (nodemap & bit) {
        int at = slot_index(nodemap, bit);
        hnode *child = trie_put(node_children(n)[at], hash, e, shift + HAMT_BITS);
        return node_with_child(n, at, child);
    }
    if (!(datamap & bit)) return node_with_entry(n, bit, e);
    entry ents[HAMT_FANOUT];
    hnode *kids[HAMT_FANOUT];
    int ne, nk;
    node_unpack(n, ents, &ne, kids, &nk);
    int at = slot_index(datamap, bit);
    if (same_key(ents[at].key, e->key)) {
        ents[at] = *e;
        return node_alloc(datamap, nodemap, ents, ne, kids, nk);
    }
    /* Two keys share this slot: both move down into a new sub-node. */
    hnode *child = node_of_two(&ents[at], KEY_HASH(ents[at].key), e, hash, shift + HAMT_BITS);
    memmove(ents + at, ents + at + 1, (ne - at - 1) * sizeof(entry));
    int kid_at = slot_index(nodemap, bit);
    memmove(kids + kid_at + 1, kids + kid_at, (nk - kid_at) * sizeof(hnode *));
    kids[kid_at] = child;
    return node_alloc(datamap & ~bit, nodemap | bit, ents, ne - 1, kids, nk + 1);
}

/* The one entry of a node at level `shift` that holds nothing else, else NULL:
 * such a node is folded into its parent, keeping the trie canonical. */
static const entry *sole_entry(const hnode *n, int shift) {
    if (shift >= COLLISION_SHIFT) return n->datamap == 1 ? node_entries(n) : NULL;
    return n->nodemap == 0 && popcount32(n->datamap) == 1 ? node_entries(n) : NULL;
}

/* The trie without `key`, which is in it. Every node below the root holds at
 * least two entries, so the result is never empty (the root of a large map
 * keeps more than SMALL_MAX). */
static hnode *trie_remove(const hnode *n, uint64_t hash, fl_value key, int shift) {
    if (shift >= COLLISION_SHIFT) {
        int count = (int)n->datamap, skip = 0;
        const entry *old = node_entries(n);
        while (!same_key(old[skip].key, key)) skip++;
        entry *rest = fl_malloc_or_die(count * sizeof(entry));
        memcpy(rest, old, skip * sizeof(entry));
        memcpy(rest + skip, old + skip + 1, (count - skip - 1) * sizeof(entry));
        hnode *c = node_alloc((uint32_t)(count - 1), 0, rest, count - 1, NULL, 0);
        free(rest);
        return c;
    }
    entry ents[HAMT_FANOUT];
    hnode *kids[HAMT_FANOUT];
    int ne, nk;
    node_unpack(n, ents, &ne, kids, &nk);
    uint32_t bit = slot_bit(hash, shift), datamap = n->datamap, nodemap = n->nodemap;
    if (datamap & bit) {
        int at = slot_index(datamap, bit);
        memmove(ents + at, ents + at + 1, (ne - at - 1) * sizeof(entry));
        return node_alloc(datamap & ~bit, nodemap, ents, ne - 1, kids, nk);
    }
    int kid_at = slot_index(nodemap, bit);
    hnode *child = trie_remove(kids[kid_at], hash, key, shift + HAMT_BITS);
    const entry *lone = sole_entry(child, shift + HAMT_BITS);
    if (!lone) {
        kids[kid_at] = child;
        return node_alloc(datamap, nodemap, ents, ne, kids, nk);
    }
    memmove(kids + kid_at, kids + kid_at + 1, (nk - kid_at - 1) * sizeof(hnode *));
    int at = slot_index(datamap, bit);
    memmove(ents + at + 1, ents + at, (ne - at) * sizeof(entry));
    ents[at] = *lone;
    return node_alloc(datamap | bit, nodemap & ~bit, ents, ne + 1, kids, nk - 1);
}

typedef void (*trie_visitor)(void *ctx, const entry *e);

/* Every entry, in no particular order. */
static void trie_walk(const hnode *n, int shift, trie_visitor visit, void *ctx) {
    const entry *e = node_entries(n);
    if (shift >= COLLISION_SHIFT) {
        for (uint32_t i = 0; i < n->datamap; i++) visit(ctx, &e[i]);
        return;
    }
    int ne = popcount32(n->datamap), nk = popcount32(n->nodemap);
    for (int i = 0; i < ne; i++) visit(ctx, &e[i]);
    hnode **kids = node_children(n);
    for (int i = 0; i < nk; i++) trie_walk(kids[i], shift + HAMT_BITS, visit, ctx);
}

/* ---- insertion order, recovered on demand -------------------------------------------- */

typedef struct gather { const entry **out; int64_t count; int64_t base; int direct; } gather;

/* Direct placement by seq when seqs are dense (few removals), a sort otherwise. */
static void gather_entry(void *ctx, const entry *e) {
    gather *g = ctx;
    if (g->direct) g->out[e->seq - g->base] = e;
    else g->out[g->count++] = e;
}

static int by_seq(const void *a, const void *b) {
    int64_t sa = (*(const entry *const *)a)->seq, sb = (*(const entry *const *)b)->seq;
    return (sa > sb) - (sa < sb);
}

/* The entries of a large map, as pointers into its nodes, sorted by seq (malloc'd: the map keeps them alive). */
static const entry **entries_in_order(const large_map *m) {
    int64_t span = m->next_seq;
    int direct = span <= 4 * m->size + 64;
    size_t nbytes = (size_t)(direct ? span : m->size) * sizeof(const entry *);
    const entry **out = memset(fl_malloc_or_die(nbytes), 0, nbytes);
    gather g = {out, 0, 0, direct};
    trie_walk(m->root, 0, gather_entry, &g);
    if (!direct) {
        qsort(out, m->size, sizeof *out, by_seq);
        return out;
    }
    int64_t j = 0;
    for (int64_t i = 0; i < span; i++)
        if (out[i]) out[j++] = out[i];
    return out;
}

static const fl_value *large_ordered(large_map *m) {
    if (m->ordered) return m->ordered;
    const entry **sorted = entries_in_order(m);
    int pointer_free = 1;
    for (int64_t i = 0; i < m->size && pointer_free; i++) pointer_free = entries_pointer_free(sorted[i], 1);
    int64_t nbytes = 2 * m->size * (int64_t)sizeof(fl_value);
    fl_value *kv = pointer_free ? fl_alloc_atomic(nbytes) : fl_alloc(nbytes);
    for (int64_t i = 0; i < m->size; i++) {
        kv[2 * i] = sorted[i]->key;
        kv[2 * i + 1] = sorted[i]->value;
    }
    free(sorted);
    m->ordered = kv;   /* a benign race at worst: two builders store equal arrays */
    return kv;
}

/* ---- walking a map ----------------------------------------------------------------- */

/* The pairs of a map in insertion order, key i at 2i: small and flat maps keep them so. */
static const fl_value *ordered_kv(fl_value m) {
    switch (shape_of(m)) {
    case MAP_LARGE: return large_ordered(large_of(m));
    case MAP_FLAT: return flat_of(m)->kv;
    default: return small_of(m)->kv;
    }
}

static void map_walk(fl_value m, entry_visitor visit, void *ctx) {
    int64_t n = fl_map_size(m);
    const fl_value *kv = ordered_kv(m);
    for (int64_t i = 0; i < n; i++) visit(ctx, kv[2 * i], kv[2 * i + 1]);
}

typedef struct unordered_walk { entry_visitor visit; void *ctx; } unordered_walk;

static void visit_unordered(void *ctx, const entry *e) {
    unordered_walk *w = ctx;
    w->visit(w->ctx, e->key, e->value);
}

/* For order-blind uses (hashing): no need to build the order cache. */
static void map_walk_unordered(fl_value m, entry_visitor visit, void *ctx) {
    if (shape_of(m) != MAP_LARGE) {
        map_walk(m, visit, ctx);
        return;
    }
    unordered_walk w = {visit, ctx};
    trie_walk(large_of(m)->root, 0, visit_unordered, &w);
}

/* ---- small maps ------------------------------------------------------------------------ */

static small_map *small_new(int64_t size) {
    small_map *s = fl_alloc((int64_t)sizeof *s + 2 * size * (int64_t)sizeof(fl_value));
    s->hdr.kind = FL_K_MAP;
    s->hdr.aux = MAP_SMALL;
    s->size = size;
    return s;
}

static int64_t small_find(const small_map *s, fl_value key) {
    for (int64_t i = 0; i < s->size; i++)
        if (fl_equal(s->kv[2 * i], key)) return i;
    return -1;
}

/* ---- large maps ------------------------------------------------------------------------ */

static large_map *large_new(const large_map *from) {
    large_map *m = fl_alloc(sizeof *m);
    m->hdr.kind = FL_K_MAP;
    m->hdr.aux = MAP_LARGE;
    if (from) {
        m->size = from->size;
        m->next_seq = from->next_seq;
        m->root = from->root;
    }
    return m;
}

/* Adds a key known to be absent, in place: m is fresh and nobody else has seen it. */
static void large_add_new(large_map *m, uint64_t hash, fl_value key, fl_value value) {
    entry e = {key, value, m->next_seq++};
    m->root = m->root ? trie_put(m->root, hash, &e, 0) : node_alloc(slot_bit(hash, 0), 0, &e, 1, NULL, 0);
    m->size++;
}

/* A small map that is full, plus one new key: the first large version. */
static fl_value large_from_small(const small_map *s, fl_value key, fl_value value) {
    large_map *m = large_new(NULL);
    for (int64_t i = 0; i < s->size; i++) large_add_new(m, KEY_HASH(s->kv[2 * i]), s->kv[2 * i], s->kv[2 * i + 1]);
    large_add_new(m, KEY_HASH(key), key, value);
    return FL_HEAP(m);
}

static fl_value large_set(fl_value map, fl_value key, fl_value value) {
    large_map *m = large_of(map);
    uint64_t hash = KEY_HASH(key);
    const entry *old = trie_find(m->root, hash, key);
    if (old && old->value == value) return map;
    large_map *out = large_new(m);
    if (!old) {
        large_add_new(out, hash, key, value);
    } else {
        entry e = {old->key, value, old->seq};   /* the first key written stays, in its place */
        out->root = trie_put(m->root, hash, &e, 0);
    }
    return FL_HEAP(out);
}

/* ---- owned updates (passes/owned_maps.py) --------------------------------------------- */

/* A node's entries or children may be edited in place unless it could be an
 * atomic node (no children, nothing heap-allocated in it: node_alloc made it
 * atomic) and the write would store a heap pointer the GC then never sees. */
static int writable_for(const hnode *n, const entry *e) {
    if (n->nodemap) return 1;
    if (!FL_IS_HEAP(e->key) && !FL_IS_HEAP(e->value)) return 1;
    return !entries_pointer_free(node_entries(n), popcount32(n->datamap));
}

/* trie_put on nodes that only this map references: a node on the path is
 * changed in place where its size stays the same (a child replaced, a value
 * replaced), so an insert allocates the one node that grows instead of
 * copying the whole path. It finds the key on the same walk (a trie_find
 * first took a second round of cache misses down the same path): key gets
 * `value`, keeping its first-written key and seq if present, else enters
 * with `seq`; *added says which. */
static hnode *owned_upsert(hnode *n, uint64_t hash, fl_value key, fl_value value, int64_t seq, int *added,
                           int shift) {
    if (shift >= COLLISION_SHIFT) {
        const entry *old = node_entries(n);
        int count = (int)n->datamap, at = 0;
        while (at < count && !same_key(old[at].key, key)) at++;
        *added = at == count;
        entry e = *added ? (entry){key, value, seq} : (entry){old[at].key, value, old[at].seq};
        return collision_with(old, count, at, &e);
    }
    uint32_t bit = slot_bit(hash, shift);
    if (n->nodemap & bit) {
        hnode **kid = &node_children(n)[slot_index(n->nodemap, bit)];
        *kid = owned_upsert(*kid, hash, key, value, seq, added, shift + HAMT_BITS);
        return n;
    }
    if (n->datamap & bit) {
        entry *old = &node_entries(n)[slot_index(n->datamap, bit)];
        if (same_key(old->key, key)) {
            *added = 0;
            entry e = {old->key, value, old->seq};
            if (!writable_for(n, &e)) return trie_put(n, hash, &e, shift);
            *old = e;
            return n;
        }
    }
    /* An empty slot, or one holding another key with no sub-node: key is absent. */
    *added = 1;
    entry e = {key, value, seq};
    return trie_put(n, hash, &e, shift);
}

/* `set` on a map the compiler proved unshared and dead afterwards: a large
 * map is updated in place and returned. Every map reaching here was made by
 * an owned `set` (or is the empty map), so none of its nodes is shared with
 * a map anyone else can still see; small maps are copied as usual. */
static fl_value large_set_owned(fl_value map, fl_value key, fl_value value) {
    large_map *m = large_of(map);
    int added;
    m->root = owned_upsert(m->root, KEY_HASH(key), key, value, m->next_seq, &added, 0);
    if (added) {
        m->next_seq++;
        m->size++;
    }
    m->ordered = NULL;
    return map;
}

typedef struct survivors { const entry *skip; const entry *kept[SMALL_MAX + 1]; int count; } survivors;

static void keep_survivor(void *ctx, const entry *e) {
    survivors *s = ctx;
    if (e != s->skip) s->kept[s->count++] = e;
}

/* The map left when `gone` is removed from m, which has SMALL_MAX + 1 entries. */
static fl_value small_from_large(const large_map *m, const entry *gone) {
    survivors s = {.skip = gone};
    trie_walk(m->root, 0, keep_survivor, &s);
    for (int i = 1; i < s.count; i++)   /* insertion sort by seq: at most SMALL_MAX entries */
        for (int j = i; j > 0 && s.kept[j - 1]->seq > s.kept[j]->seq; j--) {
            const entry *t = s.kept[j];
            s.kept[j] = s.kept[j - 1];
            s.kept[j - 1] = t;
        }
    small_map *out = small_new(s.count);
    for (int i = 0; i < s.count; i++) {
        out->kv[2 * i] = s.kept[i]->key;
        out->kv[2 * i + 1] = s.kept[i]->value;
    }
    return FL_HEAP(out);
}

static fl_value large_remove(fl_value map, fl_value key) {
    large_map *m = large_of(map);
    uint64_t hash = KEY_HASH(key);
    const entry *old = trie_find(m->root, hash, key);
    if (!old) return map;
    if (m->size - 1 <= SMALL_MAX) return small_from_large(m, old);
    large_map *out = large_new(m);
    out->root = trie_remove(m->root, hash, key, 0);
    out->size--;
    return FL_HEAP(out);
}

/* ---- flat maps (built by owned updates) ---------------------------------------------- */

#define FLAT_FIRST_CAP 16
/* The index keeps entry numbers in 32 bits: a flat map stops growing there and
 * goes on as a trie (2^31 entries, 32 GiB of kv: never in practice). */
#define FLAT_MAX_CAP ((int64_t)1 << 31)

static inline uint8_t slot_tag(uint64_t hash) { return (uint8_t)(0x80 | (hash >> 57)); }

/* The slot holding key (of this hash), or the empty slot where it would go:
 * the index is at most half full, so a probe ends soon. */
static inline uint64_t flat_probe(const flat_map *m, uint64_t hash, fl_value key) {
    uint64_t mask = 2 * (uint64_t)m->cap - 1;
    const uint8_t *tags = m->tags, tag = slot_tag(hash);
    for (uint64_t i = hash & mask;; i = (i + 1) & mask) {
        uint8_t t = tags[i];
        if (!t || (t == tag && same_key(m->kv[2 * (int64_t)m->index[i]], key))) return i;
    }
}

/* The entry number of key, or -1. */
static inline int64_t flat_find(const flat_map *m, uint64_t hash, fl_value key) {
    uint64_t i = flat_probe(m, hash, key);
    return m->tags[i] ? (int64_t)m->index[i] : -1;
}

/* Room for cap entries: new arrays (the old ones become garbage: only this
 * map saw them) and the index rebuilt from the kept hashes. */
static void flat_resize(flat_map *m, int64_t cap) {
    int64_t n = m->size, kv_bytes = 2 * cap * (int64_t)sizeof(fl_value);
    fl_value *kv = m->kv_scanned ? fl_alloc(kv_bytes) : fl_alloc_atomic(kv_bytes);
    uint64_t *hashes = fl_alloc_atomic(cap * (int64_t)sizeof(uint64_t));
    uint8_t *tags = memset(fl_alloc_atomic(2 * cap), 0, (size_t)(2 * cap));
    uint32_t *index = fl_alloc_atomic(2 * cap * (int64_t)sizeof(uint32_t));
    if (n) {
        memcpy(kv, m->kv, 2 * n * sizeof(fl_value));
        memcpy(hashes, m->hashes, n * sizeof(uint64_t));
    }
    uint64_t mask = 2 * (uint64_t)cap - 1;
    for (int64_t e = 0; e < n; e++) {
        uint64_t i = hashes[e] & mask;
        while (tags[i]) i = (i + 1) & mask;
        tags[i] = slot_tag(hashes[e]);
        index[i] = (uint32_t)e;
    }
    m->kv = kv;
    m->hashes = hashes;
    m->tags = tags;
    m->index = index;
    m->cap = cap;
}

/* The trie of the map's entries, seq = entry number, built once. It is built
 * by in-place updates: its nodes are new, and nothing but `m->trie` sees them
 * until it is complete. */
static large_map *flat_trie(flat_map *m) {
    if (m->trie) return large_of(m->trie);
    large_map *t = large_new(NULL);
    for (int64_t i = 0; i < m->size; i++) {
        fl_value key = m->kv[2 * i], value = m->kv[2 * i + 1];
        if (!t->root) {
            entry e = {key, value, i};
            t->root = node_alloc(slot_bit(m->hashes[i], 0), 0, &e, 1, NULL, 0);
        } else {
            int added;
            t->root = owned_upsert(t->root, m->hashes[i], key, value, i, &added, 0);
        }
    }
    t->size = t->next_seq = m->size;
    m->trie = FL_HEAP(t);
    return t;
}

/* `set` on a flat map the compiler proved unshared and dead afterwards. */
static fl_value flat_set_owned(fl_value map, fl_value key, fl_value value) {
    flat_map *m = flat_of(map);
    uint64_t hash = KEY_HASH(key);
    m->trie = 0;   /* it holds the old entries */
    if (!m->kv_scanned && (FL_IS_HEAP(key) || FL_IS_HEAP(value))) {
        /* an atomic kv would hide the heap value from the collector */
        fl_value *kv = fl_alloc(2 * m->cap * (int64_t)sizeof(fl_value));
        memcpy(kv, m->kv, 2 * m->size * sizeof(fl_value));
        m->kv = kv;
        m->kv_scanned = 1;
    }
    uint64_t at = flat_probe(m, hash, key);
    if (m->tags[at]) {   /* the first key written stays, in its place */
        m->kv[2 * (int64_t)m->index[at] + 1] = value;
        return map;
    }
    if (m->size == m->cap) {
        if (m->cap == FLAT_MAX_CAP) return large_set_owned(FL_HEAP(flat_trie(m)), key, value);
        flat_resize(m, 2 * m->cap);
        at = flat_probe(m, hash, key);
    }
    int64_t e = m->size++;
    m->kv[2 * e] = key;
    m->kv[2 * e + 1] = value;
    m->hashes[e] = hash;
    m->tags[at] = slot_tag(hash);
    m->index[at] = (uint32_t)e;
    return map;
}

/* A full small map plus a new key, under an owned `set`: the first flat version. */
static fl_value flat_from_small(const small_map *s, fl_value key, fl_value value) {
    flat_map *m = fl_alloc(sizeof *m);
    m->hdr.kind = FL_K_MAP;
    m->hdr.aux = MAP_FLAT;
    flat_resize(m, FLAT_FIRST_CAP);
    fl_value map = FL_HEAP(m);
    for (int64_t i = 0; i < s->size; i++) flat_set_owned(map, s->kv[2 * i], s->kv[2 * i + 1]);
    return flat_set_owned(map, key, value);
}

/* Persistent updates of a flat map go on from its trie; the map itself never changes. */
static fl_value flat_set(fl_value map, fl_value key, fl_value value) {
    flat_map *m = flat_of(map);
    int64_t at = flat_find(m, KEY_HASH(key), key);
    if (at >= 0 && m->kv[2 * at + 1] == value) return map;
    return large_set(FL_HEAP(flat_trie(m)), key, value);
}

static fl_value flat_remove(fl_value map, fl_value key) {
    flat_map *m = flat_of(map);
    if (flat_find(m, KEY_HASH(key), key) < 0) return map;
    return large_remove(FL_HEAP(flat_trie(m)), key);
}

/* ---- the map API ---------------------------------------------------------------------- */

fl_value fl_map_empty(void) { return FL_HEAP(&empty_map); }

int64_t fl_map_size(fl_value m) {
    switch (shape_of(m)) {
    case MAP_LARGE: return large_of(m)->size;
    case MAP_FLAT: return flat_of(m)->size;
    default: return small_of(m)->size;
    }
}

fl_value fl_map_get(fl_value m, fl_value key, fl_value dflt) {
    switch (shape_of(m)) {
    case MAP_FLAT: {
        int64_t i = flat_find(flat_of(m), KEY_HASH(key), key);
        return i < 0 ? dflt : flat_of(m)->kv[2 * i + 1];
    }
    case MAP_LARGE: {
        const entry *e = trie_find(large_of(m)->root, KEY_HASH(key), key);
        return e ? e->value : dflt;
    }
    default: {
        int64_t i = small_find(small_of(m), key);
        return i < 0 ? dflt : small_of(m)->kv[2 * i + 1];
    }
    }
}

int32_t fl_map_has(fl_value m, fl_value key) {
    switch (shape_of(m)) {
    case MAP_FLAT: return flat_find(flat_of(m), KEY_HASH(key), key) >= 0;
    case MAP_LARGE: return trie_find(large_of(m)->root, KEY_HASH(key), key) != NULL;
    default: return small_find(small_of(m), key) >= 0;
    }
}

/* The pairs of a long constant map literal, set in order as its code would (lower.py). */
fl_value fl_map_from_list(fl_value list) {
    fl_value m = fl_map_empty();
    while (FL_IS_KIND(list, FL_K_PAIR)) {
        fl_value key = FL_PAIR(list)->head;
        list = FL_PAIR(list)->tail;
        /* The compiler always passes keys and values in pairs; a list of odd length
           (never generated) ends the literal instead of reading past its end. */
        if (!FL_IS_KIND(list, FL_K_PAIR)) break;
        m = fl_map_set(m, key, FL_PAIR(list)->head);
        list = FL_PAIR(list)->tail;
    }
    return m;
}

fl_value fl_map_set(fl_value m, fl_value key, fl_value value) {
    if (shape_of(m) == MAP_LARGE) return large_set(m, key, value);
    if (shape_of(m) == MAP_FLAT) return flat_set(m, key, value);
    small_map *s = small_of(m);
    int64_t i = small_find(s, key);
    if (i >= 0 && s->kv[2 * i + 1] == value) return m;
    if (i < 0 && s->size == SMALL_MAX) return large_from_small(s, key, value);
    small_map *out = small_new(i < 0 ? s->size + 1 : s->size);
    memcpy(out->kv, s->kv, 2 * s->size * sizeof(fl_value));
    if (i < 0) {
        out->kv[2 * s->size] = key;
        out->kv[2 * s->size + 1] = value;
    } else {
        out->kv[2 * i + 1] = value;   /* the first key written stays */
    }
    return FL_HEAP(out);
}

fl_value fl_map_remove(fl_value m, fl_value key) {
    if (shape_of(m) == MAP_LARGE) return large_remove(m, key);
    if (shape_of(m) == MAP_FLAT) return flat_remove(m, key);
    small_map *s = small_of(m);
    int64_t i = small_find(s, key);
    if (i < 0) return m;
    small_map *out = small_new(s->size - 1);
    memcpy(out->kv, s->kv, 2 * i * sizeof(fl_value));
    memcpy(out->kv + 2 * i, s->kv + 2 * (i + 1), 2 * (s->size - i - 1) * sizeof(fl_value));
    return FL_HEAP(out);
}

fl_value fl_map_key_at(fl_value m, int64_t i) {
    if (i < 0 || i >= fl_map_size(m)) return FL_NIL;
    return ordered_kv(m)[2 * i];
}

fl_value fl_map_value_at(fl_value m, int64_t i) {
    if (i < 0 || i >= fl_map_size(m)) return FL_NIL;
    return ordered_kv(m)[2 * i + 1];
}

/* ---- builtins ------------------------------------------------------------------------ */

static void need_map(const char *fname, fl_value v, int64_t loc) {
    if (!is_map(v)) fl_type_fail(fname, "a map", v, loc);
}

BUILTIN(fl_bi_get) {
    FL_CHECK_ARITY("get", argc, 2, 3);
    need_map("get", a0, FL_LOCOF(argc));
    return fl_map_get(a0, a1, FL_NARGS(argc) == 3 ? a2 : FL_NIL);
}

BUILTIN(fl_bi_set) {
    FL_CHECK_ARITY("set", argc, 3, 3);
    need_map("set", a0, FL_LOCOF(argc));
    return fl_map_set(a0, a1, a2);
}

/* set, called by code whose map argument is unshared and dead after the call. */
BUILTIN(fl_bi_set_owned) {
    FL_CHECK_ARITY("set", argc, 3, 3);
    need_map("set", a0, FL_LOCOF(argc));
    switch (shape_of(a0)) {
    case MAP_FLAT: return flat_set_owned(a0, a1, a2);
    case MAP_LARGE: return large_set_owned(a0, a1, a2);
    default: {
        small_map *s = small_of(a0);
        if (s->size == SMALL_MAX && small_find(s, a1) < 0) return flat_from_small(s, a1, a2);
        return fl_map_set(a0, a1, a2);
    }
    }
}

BUILTIN(fl_bi_dict_remove) {
    FL_CHECK_ARITY("dict-remove", argc, 2, 2);
    need_map("dict-remove", a0, FL_LOCOF(argc));
    return fl_map_remove(a0, a1);
}

BUILTIN(fl_bi_dict_size) {
    FL_CHECK_ARITY("dict-size", argc, 1, 1);
    need_map("dict-size", a0, FL_LOCOF(argc));
    return FL_FIXNUM(fl_map_size(a0));
}

BUILTIN(fl_bi_dict_has_p) {
    FL_CHECK_ARITY("dict-has?", argc, 2, 2);
    need_map("dict-has?", a0, FL_LOCOF(argc));
    return FL_BOOL(fl_map_has(a0, a1));
}

static void push_key(void *ctx, fl_value key, fl_value value) {
    (void)value;
    fl_list_builder_push(ctx, key);
}

static void push_value(void *ctx, fl_value key, fl_value value) {
    (void)key;
    fl_list_builder_push(ctx, value);
}

BUILTIN(fl_bi_dict_keys) {
    FL_CHECK_ARITY("dict-keys", argc, 1, 1);
    need_map("dict-keys", a0, FL_LOCOF(argc));
    fl_list_builder b;
    fl_list_builder_init(&b);
    map_walk(a0, push_key, &b);
    return b.head;
}

BUILTIN(fl_bi_dict_values) {
    FL_CHECK_ARITY("dict-values", argc, 1, 1);
    need_map("dict-values", a0, FL_LOCOF(argc));
    fl_list_builder b;
    fl_list_builder_init(&b);
    map_walk(a0, push_value, &b);
    return b.head;
}

static void merge_entry(void *ctx, fl_value key, fl_value value) {
    fl_value *into = ctx;
    *into = fl_map_set(*into, key, value);
}

/* m2's entries set into m1 in m2's order: m1's keys keep their places, new ones follow. */
BUILTIN(fl_bi_dict_merge) {
    FL_CHECK_ARITY("dict-merge", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    need_map("dict-merge", a0, loc);
    need_map("dict-merge", a1, loc);
    if (fl_map_size(a0) == 0) return a1;
    fl_value merged = a0;
    map_walk(a1, merge_entry, &merged);
    return merged;
}

/* (tuple "Tag" fields...): a data value like a constructor's. */
BUILTIN(fl_bi_tuple) {
    FL_CHECK_ARITY("tuple", argc, 1, -1);
    int64_t n = FL_NARGS(argc) - 1;
    if (!FL_IS_STRING(a0)) fl_type_fail("tuple", "a string tag", a0, FL_LOCOF(argc));
    fl_value *fields = fl_alloc((n + 1) * (int64_t)sizeof(fl_value));
    for (int64_t i = 0; i < n; i++) fields[i] = FL_ARG(i + 1);
    return fl_make_data(a0, n, fields);
}

const fl_builtin_def fl_map_builtins[] = {
    {"get", fl_bi_get, 2, 3},
    {"set", fl_bi_set, 3, 3},
    {"dict-remove", fl_bi_dict_remove, 2, 2},
    {"dict-keys", fl_bi_dict_keys, 1, 1},
    {"dict-values", fl_bi_dict_values, 1, 1},
    {"dict-size", fl_bi_dict_size, 1, 1},
    {"dict-has?", fl_bi_dict_has_p, 2, 2},
    {"dict-merge", fl_bi_dict_merge, 2, 2},
    {"tuple", fl_bi_tuple, 1, -1},
    {NULL, NULL, 0, 0},
};
