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
 *  - Large maps pair two persistent structures:
 *      index: a hash array mapped trie (HAMT, 32-way, 5 hash bits per level)
 *             from key to leaf {key, value, seq}: get/has in O(log32 n);
 *      order: a weight-balanced tree (Adams, delta 3, ratio 2) keyed by seq,
 *             the insertion sequence number, holding key, value and subtree
 *             size: key_at/value_at(i) select by size in O(log n), and the
 *             whole map is walked in insertion order without sorting.
 *    A new key gets seq = next_seq++ and goes at the tree's right end; `set`
 *    of an existing key rewrites both structures at its old seq (so it keeps
 *    its place and the first key written); removal deletes from both, and the
 *    tree rebalances, so no tombstones pile up. A large map that shrinks back
 *    to SMALL_MAX entries becomes small again: large <=> size > SMALL_MAX.
 */
#include "fluentai.h"

#include <math.h>
#include <string.h>

#define BUILTIN(cname) \
    fl_value cname(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)

#define SMALL_MAX 8
enum map_shape { MAP_SMALL = 0, MAP_LARGE = 1 };   /* in the header's aux */

typedef struct small_map {
    fl_header hdr;
    int64_t size;
    fl_value kv[];       /* key i at 2i, its value at 2i + 1 */
} small_map;

/* ---- HAMT nodes ------------------------------------------------------------ */

#define HAMT_BITS 5
#define HAMT_MASK 31u
enum hamt_type { H_LEAF = 1, H_BRANCH = 2, H_COLLISION = 3 };

typedef struct hnode { uint32_t type; uint32_t bits; } hnode;   /* bits: branch bitmap / collision count */
typedef struct hleaf { hnode h; uint64_t hash; fl_value key, value; int64_t seq; } hleaf;
typedef struct hbranch { hnode h; hnode *slots[]; } hbranch;
typedef struct hcollision { hnode h; uint64_t hash; hleaf *leaves[]; } hcollision;   /* equal full hashes */

/* ---- order tree nodes ---------------------------------------------------------- */

typedef struct onode {
    int64_t size;
    int64_t seq;
    fl_value key, value;
    struct onode *left, *right;
} onode;

/* A weight-balanced tree of n nodes is at most log_{4/3}(n + 1) deep. */
#define ORDER_MAX_DEPTH 160

typedef struct large_map {
    fl_header hdr;
    int64_t size;
    int64_t next_seq;
    hnode *index;
    onode *order;
} large_map;

static small_map empty_map __attribute__((aligned(16))) = {{FL_K_MAP, MAP_SMALL}, 0};

static int is_map(fl_value v) { return FL_IS_KIND(v, FL_K_MAP); }
static int is_large(fl_value m) { return ((fl_header *)FL_PTR(m))->aux == MAP_LARGE; }
static small_map *small_of(fl_value m) { return (small_map *)FL_PTR(m); }
static large_map *large_of(fl_value m) { return (large_map *)FL_PTR(m); }

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

typedef void (*entry_visitor)(void *ctx, fl_value key, fl_value value);
static void map_walk(fl_value m, entry_visitor visit, void *ctx);

static void add_entry_hash(void *ctx, fl_value key, fl_value value) {
    *(uint64_t *)ctx += mix(fl_hash(key) * 31 + fl_hash(value));
}

/* Key order does not matter to equality, so the entries' hashes are summed. */
static uint64_t hash_map(fl_value m) {
    uint64_t h = hash_int(fl_map_size(m)) ^ 0x632be59bd9b4e019ULL;
    map_walk(m, add_entry_hash, &h);
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

/* Tests also build a variant with a tiny hash (FL_TEST_HASH_MASK) so that
 * full-hash collisions, which real keys almost never produce, get exercised. */
#ifdef FL_TEST_HASH_MASK
#define KEY_HASH(k) (fl_hash(k) & (uint64_t)(FL_TEST_HASH_MASK))
#else
#define KEY_HASH(k) fl_hash(k)
#endif

/* ---- HAMT ------------------------------------------------------------------------ */

static uint32_t slot_bit(uint64_t hash, int shift) { return 1u << ((hash >> shift) & HAMT_MASK); }
static int slot_index(uint32_t bitmap, uint32_t bit) { return __builtin_popcount(bitmap & (bit - 1)); }

static hleaf *leaf_new(uint64_t hash, fl_value key, fl_value value, int64_t seq) {
    hleaf *l = fl_alloc(sizeof *l);
    l->h.type = H_LEAF;
    l->hash = hash;
    l->key = key;
    l->value = value;
    l->seq = seq;
    return l;
}

static hbranch *branch_new(uint32_t bitmap) {
    hbranch *b = fl_alloc((int64_t)sizeof *b + __builtin_popcount(bitmap) * (int64_t)sizeof(hnode *));
    b->h.type = H_BRANCH;
    b->h.bits = bitmap;
    return b;
}

static hcollision *collision_new(uint64_t hash, uint32_t count) {
    hcollision *c = fl_alloc((int64_t)sizeof *c + count * (int64_t)sizeof(hleaf *));
    c->h.type = H_COLLISION;
    c->h.bits = count;
    c->hash = hash;
    return c;
}

static hleaf *hamt_find(const hnode *n, uint64_t hash, fl_value key) {
    for (int shift = 0; n; shift += HAMT_BITS) {
        if (n->type == H_LEAF) {
            hleaf *l = (hleaf *)n;
            return l->hash == hash && fl_equal(l->key, key) ? l : NULL;
        }
        if (n->type == H_COLLISION) {
            const hcollision *c = (const hcollision *)n;
            for (uint32_t i = 0; c->hash == hash && i < c->h.bits; i++)
                if (fl_equal(c->leaves[i]->key, key)) return c->leaves[i];
            return NULL;
        }
        uint32_t bit = slot_bit(hash, shift);
        if (!(n->bits & bit)) return NULL;
        n = ((const hbranch *)n)->slots[slot_index(n->bits, bit)];
    }
    return NULL;
}

/* A branch at level `shift` holding two nodes whose (different) hashes are ha and hb. */
static hnode *branch_of_two(hnode *a, uint64_t ha, hnode *b, uint64_t hb, int shift) {
    uint32_t bit_a = slot_bit(ha, shift), bit_b = slot_bit(hb, shift);
    hbranch *br = branch_new(bit_a | bit_b);
    if (bit_a == bit_b) {
        br->slots[0] = branch_of_two(a, ha, b, hb, shift + HAMT_BITS);
    } else {
        br->slots[slot_index(br->h.bits, bit_a)] = a;
        br->slots[slot_index(br->h.bits, bit_b)] = b;
    }
    return &br->h;
}

/* The collision node with `leaf` added, or replacing the leaf of an equal key. */
static hnode *collision_put(const hcollision *c, hleaf *leaf) {
    uint32_t n = c->h.bits;
    for (uint32_t i = 0; i < n; i++)
        if (fl_equal(c->leaves[i]->key, leaf->key)) {
            hcollision *copy = collision_new(c->hash, n);
            memcpy(copy->leaves, c->leaves, n * sizeof(hleaf *));
            copy->leaves[i] = leaf;
            return &copy->h;
        }
    hcollision *grown = collision_new(c->hash, n + 1);
    memcpy(grown->leaves, c->leaves, n * sizeof(hleaf *));
    grown->leaves[n] = leaf;
    return &grown->h;
}

static hnode *branch_put(const hbranch *b, hleaf *leaf, int shift);

/* The trie `n` (at level `shift`) with `leaf` added, or replacing the leaf of an equal key. */
static hnode *hamt_put(hnode *n, hleaf *leaf, int shift) {
    if (!n) return &leaf->h;
    if (n->type == H_BRANCH) return branch_put((hbranch *)n, leaf, shift);
    uint64_t hash = n->type == H_LEAF ? ((hleaf *)n)->hash : ((hcollision *)n)->hash;
    if (hash != leaf->hash) return branch_of_two(n, hash, &leaf->h, leaf->hash, shift);
    if (n->type == H_COLLISION) return collision_put((hcollision *)n, leaf);
    hleaf *old = (hleaf *)n;
    if (fl_equal(old->key, leaf->key)) return &leaf->h;
    hcollision *c = collision_new(hash, 2);
    c->leaves[0] = old;
    c->leaves[1] = leaf;
    return &c->h;
}

static hnode *branch_put(const hbranch *b, hleaf *leaf, int shift) {
    uint32_t bit = slot_bit(leaf->hash, shift), bitmap = b->h.bits;
    int at = slot_index(bitmap, bit), count = __builtin_popcount(bitmap);
    if (bitmap & bit) {
        hbranch *copy = branch_new(bitmap);
        memcpy(copy->slots, b->slots, count * sizeof(hnode *));
        copy->slots[at] = hamt_put(b->slots[at], leaf, shift + HAMT_BITS);
        return &copy->h;
    }
    hbranch *grown = branch_new(bitmap | bit);
    memcpy(grown->slots, b->slots, at * sizeof(hnode *));
    grown->slots[at] = &leaf->h;
    memcpy(grown->slots + at + 1, b->slots + at, (count - at) * sizeof(hnode *));
    return &grown->h;
}

static hnode *collision_remove(const hcollision *c, fl_value key) {
    uint32_t n = c->h.bits, skip = 0;
    while (!fl_equal(c->leaves[skip]->key, key)) skip++;
    if (n == 2) return &c->leaves[1 - skip]->h;
    hcollision *shrunk = collision_new(c->hash, n - 1);
    for (uint32_t i = 0, j = 0; i < n; i++)
        if (i != skip) shrunk->leaves[j++] = c->leaves[i];
    return &shrunk->h;
}

/* The branch with slot `at` replaced by `child` (NULL: slot removed). A branch
 * left holding a single leaf or collision hands it up to its parent: such a
 * node is found by its hash prefix at any level. */
static hnode *branch_replace(const hbranch *b, uint32_t bit, hnode *child) {
    uint32_t bitmap = b->h.bits;
    int at = slot_index(bitmap, bit), count = __builtin_popcount(bitmap);
    if (!child) {
        if (count == 1) return NULL;
        if (count == 2 && b->slots[1 - at]->type != H_BRANCH) return b->slots[1 - at];
        hbranch *shrunk = branch_new(bitmap & ~bit);
        memcpy(shrunk->slots, b->slots, at * sizeof(hnode *));
        memcpy(shrunk->slots + at, b->slots + at + 1, (count - at - 1) * sizeof(hnode *));
        return &shrunk->h;
    }
    if (count == 1 && child->type != H_BRANCH) return child;
    hbranch *copy = branch_new(bitmap);
    memcpy(copy->slots, b->slots, count * sizeof(hnode *));
    copy->slots[at] = child;
    return &copy->h;
}

/* The trie without `key`, which must be in it. */
static hnode *hamt_remove(hnode *n, uint64_t hash, fl_value key, int shift) {
    if (n->type == H_LEAF) return NULL;
    if (n->type == H_COLLISION) return collision_remove((hcollision *)n, key);
    const hbranch *b = (const hbranch *)n;
    uint32_t bit = slot_bit(hash, shift);
    hnode *child = hamt_remove(b->slots[slot_index(b->h.bits, bit)], hash, key, shift + HAMT_BITS);
    return branch_replace(b, bit, child);
}

/* ---- order tree ---------------------------------------------------------------------- */

#define DELTA 3
#define RATIO 2

static int64_t size_of(const onode *t) { return t ? t->size : 0; }

/* A node with the entry of `e` and the given children. */
static onode *onode_with(const onode *e, onode *left, onode *right) {
    onode *t = fl_alloc(sizeof *t);
    t->seq = e->seq;
    t->key = e->key;
    t->value = e->value;
    t->left = left;
    t->right = right;
    t->size = size_of(left) + size_of(right) + 1;
    return t;
}

static onode *rotate_left(const onode *e, onode *l, onode *r) {
    if (size_of(r->left) < RATIO * size_of(r->right)) return onode_with(r, onode_with(e, l, r->left), r->right);
    onode *rl = r->left;
    return onode_with(rl, onode_with(e, l, rl->left), onode_with(r, rl->right, r->right));
}

static onode *rotate_right(const onode *e, onode *l, onode *r) {
    if (size_of(l->right) < RATIO * size_of(l->left)) return onode_with(l, l->left, onode_with(e, l->right, r));
    onode *lr = l->right;
    return onode_with(lr, onode_with(l, l->left, lr->left), onode_with(e, lr->right, r));
}

/* A node for entry e over l and r, whose sizes differ by at most one
 * insertion or deletion from a balanced pair. */
static onode *balance(const onode *e, onode *l, onode *r) {
    int64_t sl = size_of(l), sr = size_of(r);
    if (sl + sr <= 1) return onode_with(e, l, r);
    if (sr > DELTA * sl) return rotate_left(e, l, r);
    if (sl > DELTA * sr) return rotate_right(e, l, r);
    return onode_with(e, l, r);
}

/* seq is larger than every seq in t: the entry goes at the right end. */
static onode *order_append(onode *t, const onode *entry) {
    if (!t) return onode_with(entry, NULL, NULL);
    return balance(t, t->left, order_append(t->right, entry));
}

static onode *order_set_value(onode *t, int64_t seq, fl_value value) {
    if (seq < t->seq) return onode_with(t, order_set_value(t->left, seq, value), t->right);
    if (seq > t->seq) return onode_with(t, t->left, order_set_value(t->right, seq, value));
    onode *copy = onode_with(t, t->left, t->right);
    copy->value = value;
    return copy;
}

static onode *order_min(onode *t) {
    while (t->left) t = t->left;
    return t;
}

static onode *order_max(onode *t) {
    while (t->right) t = t->right;
    return t;
}

static onode *order_remove_min(onode *t) {
    if (!t->left) return t->right;
    return balance(t, order_remove_min(t->left), t->right);
}

static onode *order_remove_max(onode *t) {
    if (!t->right) return t->left;
    return balance(t, t->left, order_remove_max(t->right));
}

/* Two trees, every seq of l below every seq of r, joined under one root. */
static onode *order_glue(onode *l, onode *r) {
    if (!l) return r;
    if (!r) return l;
    if (size_of(l) > size_of(r)) return balance(order_max(l), order_remove_max(l), r);
    return balance(order_min(r), l, order_remove_min(r));
}

static onode *order_remove(onode *t, int64_t seq) {
    if (seq < t->seq) return balance(t, order_remove(t->left, seq), t->right);
    if (seq > t->seq) return balance(t, t->left, order_remove(t->right, seq));
    return order_glue(t->left, t->right);
}

/* The i-th entry in insertion order, 0 <= i < size. */
static const onode *order_select(const onode *t, int64_t i) {
    while (t) {
        int64_t left = size_of(t->left);
        if (i == left) return t;
        if (i < left) {
            t = t->left;
        } else {
            i -= left + 1;
            t = t->right;
        }
    }
    return NULL;
}

/* ---- walking a map in insertion order ------------------------------------------------ */

static void order_walk(const onode *t, entry_visitor visit, void *ctx) {
    const onode *stack[ORDER_MAX_DEPTH];
    int depth = 0;
    while (t || depth > 0) {
        for (; t; t = t->left) stack[depth++] = t;
        t = stack[--depth];
        visit(ctx, t->key, t->value);
        t = t->right;
    }
}

static void map_walk(fl_value m, entry_visitor visit, void *ctx) {
    if (is_large(m)) {
        order_walk(large_of(m)->order, visit, ctx);
        return;
    }
    small_map *s = small_of(m);
    for (int64_t i = 0; i < s->size; i++) visit(ctx, s->kv[2 * i], s->kv[2 * i + 1]);
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

static void small_collect(void *ctx, fl_value key, fl_value value) {
    small_map *s = ctx;
    s->kv[2 * s->size] = key;
    s->kv[2 * s->size + 1] = value;
    s->size++;
}

/* ---- large maps ------------------------------------------------------------------------ */

static large_map *large_copy(const large_map *m) {
    large_map *copy = fl_alloc(sizeof *copy);
    *copy = *m;
    return copy;
}

/* Adds a key known to be absent, in place: m is fresh and nobody else has seen it. */
static void large_add_new(large_map *m, uint64_t hash, fl_value key, fl_value value) {
    onode entry = {1, m->next_seq, key, value, NULL, NULL};
    m->index = hamt_put(m->index, leaf_new(hash, key, value, m->next_seq), 0);
    m->order = order_append(m->order, &entry);
    m->next_seq++;
    m->size++;
}

/* A small map that is full, plus one new key: the first large version. */
static fl_value large_from_small(const small_map *s, fl_value key, fl_value value) {
    large_map *m = fl_alloc(sizeof *m);
    m->hdr.kind = FL_K_MAP;
    m->hdr.aux = MAP_LARGE;
    for (int64_t i = 0; i < s->size; i++) large_add_new(m, KEY_HASH(s->kv[2 * i]), s->kv[2 * i], s->kv[2 * i + 1]);
    large_add_new(m, KEY_HASH(key), key, value);
    return FL_HEAP(m);
}

static fl_value large_set(fl_value map, fl_value key, fl_value value) {
    large_map *m = large_of(map);
    uint64_t hash = KEY_HASH(key);
    hleaf *old = hamt_find(m->index, hash, key);
    if (old && old->value == value) return map;
    large_map *out = large_copy(m);
    if (!old) {
        large_add_new(out, hash, key, value);
    } else {
        out->index = hamt_put(m->index, leaf_new(hash, old->key, value, old->seq), 0);
        out->order = order_set_value(m->order, old->seq, value);
    }
    return FL_HEAP(out);
}

static fl_value large_remove(fl_value map, fl_value key) {
    large_map *m = large_of(map);
    uint64_t hash = KEY_HASH(key);
    hleaf *old = hamt_find(m->index, hash, key);
    if (!old) return map;
    onode *order = order_remove(m->order, old->seq);
    if (m->size - 1 <= SMALL_MAX) {
        small_map *s = small_new(m->size - 1);
        s->size = 0;   /* small_collect counts the entries back in */
        order_walk(order, small_collect, s);
        return FL_HEAP(s);
    }
    large_map *out = large_copy(m);
    out->index = hamt_remove(m->index, hash, key, 0);
    out->order = order;
    out->size--;
    return FL_HEAP(out);
}

/* ---- the map API ---------------------------------------------------------------------- */

fl_value fl_map_empty(void) { return FL_HEAP(&empty_map); }

int64_t fl_map_size(fl_value m) { return is_large(m) ? large_of(m)->size : small_of(m)->size; }

fl_value fl_map_get(fl_value m, fl_value key, fl_value dflt) {
    if (is_large(m)) {
        hleaf *l = hamt_find(large_of(m)->index, KEY_HASH(key), key);
        return l ? l->value : dflt;
    }
    int64_t i = small_find(small_of(m), key);
    return i < 0 ? dflt : small_of(m)->kv[2 * i + 1];
}

int32_t fl_map_has(fl_value m, fl_value key) {
    if (is_large(m)) return hamt_find(large_of(m)->index, KEY_HASH(key), key) != NULL;
    return small_find(small_of(m), key) >= 0;
}

fl_value fl_map_set(fl_value m, fl_value key, fl_value value) {
    if (is_large(m)) return large_set(m, key, value);
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
    if (is_large(m)) return large_remove(m, key);
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
    return is_large(m) ? order_select(large_of(m)->order, i)->key : small_of(m)->kv[2 * i];
}

fl_value fl_map_value_at(fl_value m, int64_t i) {
    if (i < 0 || i >= fl_map_size(m)) return FL_NIL;
    return is_large(m) ? order_select(large_of(m)->order, i)->value : small_of(m)->kv[2 * i + 1];
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
