/* state.c -- the default handlers of the state effect (LANGUAGE.md section 7).
 *
 * In:  state:get k, set k v, update k f, delete k, clear, and the nestable
 *      begin-transaction / commit-transaction / rollback-transaction.
 * Out: get: the value or nil; set: the previous value (nil if unset);
 *      update: the new value (f old); delete: the removed value (nil if
 *      unset); the others nil.
 *
 * The store is a mutable hash table of cells, one per key ever set (keys by
 * structural equality: fl_equal, hashed with fl_hash, which agrees with it), so
 * an update of an existing key writes one word and allocates nothing. A
 * deleted key's cell stays, holding ABSENT; cells that hold ABSENT are dropped
 * when the table is rebuilt outside every transaction, so the table stays
 * proportional to the live keys.
 *
 * Transactions keep an undo log instead of snapshots: while one is open every
 * write first logs (cell, old value); begin pushes the log's length, commit pops
 * it (the entries stay for an enclosing transaction, and go when the outermost
 * commits), rollback replays the entries back to its mark. clear replaces the
 * whole table and logs the old table (an entry with cell NULL), so it is
 * undone the same way. begin, commit and clear cost O(1); a rollback costs the
 * writes it undoes.
 *
 * A small direct-mapped cache keyed by the key's word finds the cell of a key
 * seen before without hashing (a perform site passes the same keyword or
 * string object every time). Identity implies equality (fl_equal starts with
 * a == b), so a hit is always right; the cache is emptied whenever cells leave
 * the table. Everything lives in .bss or GC memory reachable from it, where
 * Boehm finds it.
 */
#include <gc.h>
#include <string.h>

#include "fluentai.h"

#define DEFAULT(cname) \
    static fl_value cname(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)

/* A value no program can hold: fixnums are even, heap values and immediates
 * odd and at least 3, so 1 is free. */
#define ABSENT ((fl_value)1)

typedef struct cell {
    fl_value key;
    fl_value value;      /* ABSENT: the key is not in the store */
    uint64_t hash;
    uint64_t logged_in;  /* the transaction that already logged its old value */
} cell;

typedef struct table {
    cell **slots;        /* open addressing, linear probing; NULL: empty */
    int64_t mask;        /* capacity - 1, capacity a power of two */
    int64_t used;        /* cells in slots, ABSENT ones included */
} table;

typedef struct undo {
    cell *cell;          /* NULL: `old` is the table replaced by clear */
    fl_value old;
    table *old_table;
} undo;

static table *store;
static undo *undo_log;
static int64_t undo_len, undo_cap;
static int64_t *marks;   /* undo_len at each open begin, innermost last */
static uint64_t *serials; /* each open transaction's number, innermost last */
static int64_t depth, marks_cap;
static uint64_t last_serial;

#define CACHE_SIZE 64
static struct { fl_value key; cell *cell; } cache[CACHE_SIZE];

static inline size_t cache_index(fl_value key)
{
    return (size_t)((key >> 3) ^ (key >> 9)) & (CACHE_SIZE - 1);
}

/* Counts the cache_clear calls: a cell found before some code ran is still
 * the key's cell afterwards if the count has not moved (cells leave the table,
 * or the table is replaced, only where the cache is cleared). */
static uint64_t cells_epoch;

/* Starts at 1: a site that was never filled holds 0. */
uint64_t fl_state_generation = 1;

void fl_state_sites_invalidate(void)
{
    fl_state_generation++;
}

static void cache_clear(void)
{
    memset(cache, 0, sizeof cache);
    cells_epoch++;
    fl_state_sites_invalidate();
}

static void *gc_alloc_or_die(size_t n)
{
    void *p = GC_MALLOC(n);
    if (!p)
        fl_out_of_memory((int64_t)n, 0);
    return p;
}

static table *table_new(int64_t capacity)
{
    table *t = gc_alloc_or_die(sizeof *t);
    t->slots = gc_alloc_or_die((size_t)capacity * sizeof *t->slots);
    t->mask = capacity - 1;
    t->used = 0;
    return t;
}

static void table_put(table *t, cell *c)
{
    int64_t i = (int64_t)(c->hash & (uint64_t)t->mask);
    while (t->slots[i])
        i = (i + 1) & t->mask;
    t->slots[i] = c;
    t->used++;
}

/* Rebuild at twice the live size. Outside every transaction no undo entry can
 * name a cell, so ABSENT cells go; inside one they must stay in the table,
 * since a rollback may give them a value again. */
static void table_grow(void)
{
    table *old = store;
    int64_t keep = 0;
    int purge = depth == 0;
    for (int64_t i = 0; i <= old->mask; i++)
        if (old->slots[i] && (!purge || old->slots[i]->value != ABSENT))
            keep++;
    int64_t capacity = 16;
    while (capacity < 2 * (keep + 1))
        capacity *= 2;
    table *t = table_new(capacity);
    for (int64_t i = 0; i <= old->mask; i++)
        if (old->slots[i] && (!purge || old->slots[i]->value != ABSENT))
            table_put(t, old->slots[i]);
    /* The cells that moved are the same objects, but purged ones must not be
     * found through the cache any more. */
    if (purge)
        cache_clear();
    store = t;
}

static __attribute__((noinline)) cell *lookup_slow(fl_value key, int create)
{
    size_t ci = cache_index(key);
    uint64_t hash = fl_hash(key);
    table *t = store;
    int64_t i = (int64_t)(hash & (uint64_t)t->mask);
    for (cell *c; (c = t->slots[i]); i = (i + 1) & t->mask)
        if (c->hash == hash && fl_equal(c->key, key)) {
            cache[ci].key = key;
            cache[ci].cell = c;
            return c;
        }
    if (!create)
        return NULL;
    if (2 * (t->used + 1) > t->mask + 1) {
        table_grow();
        return lookup_slow(key, create);
    }
    cell *c = gc_alloc_or_die(sizeof *c);
    c->key = key;
    c->value = ABSENT;
    c->hash = hash;
    c->logged_in = 0;
    table_put(t, c);
    cache[ci].key = key;
    cache[ci].cell = c;
    return c;
}

/* The cache hit is a few instructions in each caller; everything else is out of line. */
static inline cell *lookup(fl_value key, int create)
{
    size_t ci = cache_index(key);
    cell *c = cache[ci].cell;
    if (__builtin_expect(cache[ci].key == key && c != NULL, 1))
        return c;
    return lookup_slow(key, create);
}

static void log_push(cell *c, fl_value old, table *old_table)
{
    if (undo_len == undo_cap) {
        int64_t capacity = undo_cap ? undo_cap * 2 : 64;
        undo *grown = gc_alloc_or_die((size_t)capacity * sizeof *grown);
        if (undo_len)
            memcpy(grown, undo_log, (size_t)undo_len * sizeof *grown);
        undo_log = grown;
        undo_cap = capacity;
    }
    undo_log[undo_len].cell = c;
    undo_log[undo_len].old = old;
    undo_log[undo_len].old_table = old_table;
    undo_len++;
}

/* A cell's first write in a transaction logs its old value; later writes in
 * the same transaction need not (the first entry is what a rollback restores),
 * so a loop of updates inside a transaction keeps the log as small as the set
 * of keys it touches. */
static inline void write_cell(cell *c, fl_value v)
{
    if (__builtin_expect(depth != 0, 0) && c->logged_in != serials[depth - 1]) {
        log_push(c, c->value, NULL);
        c->logged_in = serials[depth - 1];
    }
    c->value = v;
}

static inline fl_value visible(fl_value v)
{
    return v == ABSENT ? FL_NIL : v;
}

void fl_state_reset(void)
{
    store = table_new(16);
    undo_log = NULL;
    undo_len = undo_cap = 0;
    marks = NULL;
    serials = NULL;
    depth = marks_cap = 0;
    cache_clear();
}

static inline fl_value get(fl_value key)
{
    cell *c = lookup(key, 0);
    return c ? visible(c->value) : FL_NIL;
}

fl_value fl_state_get(fl_value key)
{
    return get(key);
}

fl_value fl_state_set(fl_value key, fl_value value)
{
    cell *c = lookup(key, 1);
    fl_value previous = visible(c->value);
    write_cell(c, value);
    return previous;
}

/* f may itself use the state effect: a clear or a rollback inside f replaces
 * the table the key's cell was in, a delete and a rebuild can drop the cell,
 * so the cell found before the call is written only if cells_epoch says none
 * of that happened; otherwise (or when the key had no cell) it is found again. */
static __attribute__((noinline)) fl_value update_slow(fl_value key, cell *c, fl_value updated)
{
    write_cell(c ? c : lookup(key, 1), updated);
    return updated;
}

/* The common path keeps three values across the call (the key, its cell and
 * the epoch); everything else is in update_slow. */
fl_value fl_state_update(fl_value key, fl_value f, int64_t argc)
{
    if (!FL_IS_CLOSURE(f))
        fl_type_fail("state:update", "a function", f, FL_LOCOF(argc));
    cell *c = lookup(key, 0);
    uint64_t epoch = cells_epoch;
    fl_value updated = FL_CLOSURE(f)->code(f, FL_ARGC(1, FL_LOCOF(argc)),
                                           c ? visible(c->value) : FL_NIL, FL_NIL, FL_NIL, NULL);
    if (__builtin_expect(c == NULL || epoch != cells_epoch, 0))
        return update_slow(key, NULL, updated);
    if (__builtin_expect(depth != 0, 0))
        return update_slow(key, c, updated);
    c->value = updated;
    return updated;
}

/* Generated code calls these instead of fl_perform for state:get, set and
 * update with the right argument count (backend/codegen.py emit_Perform).
 * While no handler names the operation and no error:catch handler is
 * installed, fl_perform would call the default itself with no catch frame,
 * so calling it directly is the same; otherwise fl_perform decides. */
static inline int direct(int64_t op)
{
    return (fl_effect_handler_counts[op] | fl_resume_armed) == 0;
}

fl_value fl_state_get_direct(int64_t op, int64_t argc, fl_value key)
{
    if (__builtin_expect(direct(op), 1))
        return get(key);
    return fl_perform(op, argc, key, FL_NIL, FL_NIL, NULL);
}

fl_value fl_state_set_direct(int64_t op, int64_t argc, fl_value key, fl_value value)
{
    if (__builtin_expect(direct(op), 1))
        return fl_state_set(key, value);
    return fl_perform(op, argc, key, value, FL_NIL, NULL);
}

fl_value fl_state_update_direct(int64_t op, int64_t argc, fl_value key, fl_value f)
{
    if (__builtin_expect(direct(op), 1))
        return fl_state_update(key, f, argc);
    return fl_perform(op, argc, key, f, FL_NIL, NULL);
}

/* passes/state_updates.py: `(state:update k f)` with f a known function that
 * performs and calls nothing becomes, in generated code, a read of the cell,
 * f's body inline and a write of the cell. That is what fl_state_update does
 * when no handler could answer, no transaction logs the write and the key has
 * a cell; f cannot change the store, so the cell stays the key's across it.
 * Any other case is left to the perform. The layout of `cell` (value at
 * offset 8, ABSENT = 1) is known to backend/codegen.py emit_StateCell. */
int64_t fl_state_update_cell(int64_t op, fl_value key)
{
    if (__builtin_expect(!direct(op) || depth != 0, 0))
        return 0;
    return (int64_t)(uintptr_t)lookup(key, 0);
}

/* A site is filled only with the cell's own key (c->key, the object the cell was
 * made for, which the cell keeps alive while it is in the table): an equal key
 * object that dies could leave its address to some other key. The site may lie in
 * memory Boehm does not scan (the JIT's data); it is read only while the
 * generation is the one it was filled at, so while the cell is still the key's. */
int64_t fl_state_update_cell_site(int64_t op, fl_value key, int64_t *site)
{
    int64_t found = fl_state_update_cell(op, key);
    if (found && ((cell *)(uintptr_t)found)->key == key) {
        site[0] = (int64_t)fl_state_generation;
        site[1] = (int64_t)key;
        site[2] = found;
    }
    return found;
}

DEFAULT(state_get)
{
    fl_arity_check("state:get", argc, 1, 1);
    return fl_state_get(a0);
}

DEFAULT(state_set)
{
    fl_arity_check("state:set", argc, 2, 2);
    return fl_state_set(a0, a1);
}

DEFAULT(state_update)
{
    fl_arity_check("state:update", argc, 2, 2);
    return fl_state_update(a0, a1, argc);
}

DEFAULT(state_delete)
{
    fl_arity_check("state:delete", argc, 1, 1);
    cell *c = lookup(a0, 0);
    if (!c || c->value == ABSENT)
        return FL_NIL;
    fl_value previous = c->value;
    write_cell(c, ABSENT);
    return previous;
}

DEFAULT(state_clear)
{
    fl_arity_check("state:clear", argc, 0, 0);
    if (depth)
        log_push(NULL, 0, store);
    store = table_new(16);
    cache_clear();
    return FL_NIL;
}

DEFAULT(state_begin)
{
    fl_arity_check("state:begin-transaction", argc, 0, 0);
    if (depth == marks_cap) {
        int64_t capacity = marks_cap ? marks_cap * 2 : 16;
        int64_t *grown = gc_alloc_or_die((size_t)capacity * sizeof *grown);
        uint64_t *grown_serials = gc_alloc_or_die((size_t)capacity * sizeof *grown_serials);
        if (depth) {
            memcpy(grown, marks, (size_t)depth * sizeof *grown);
            memcpy(grown_serials, serials, (size_t)depth * sizeof *grown_serials);
        }
        marks = grown;
        serials = grown_serials;
        marks_cap = capacity;
    }
    serials[depth] = ++last_serial;
    marks[depth++] = undo_len;
    fl_state_sites_invalidate();
    return FL_NIL;
}

static int64_t pop_mark(const char *op, int64_t argc)
{
    fl_arity_check(op, argc, 0, 0);
    if (depth == 0)
        fl_raise("value-error", FL_LOCOF(argc), "`%s` without a matching `state:begin-transaction`", op);
    fl_state_sites_invalidate();
    return marks[--depth];
}

DEFAULT(state_commit)
{
    pop_mark("state:commit-transaction", argc);
    if (depth == 0)
        undo_len = 0;
    return FL_NIL;
}

DEFAULT(state_rollback)
{
    int64_t mark = pop_mark("state:rollback-transaction", argc);
    int replaced = 0;
    while (undo_len > mark) {
        undo *u = &undo_log[--undo_len];
        if (u->cell) {
            u->cell->value = u->old;
        } else {
            store = u->old_table;
            replaced = 1;
        }
    }
    if (replaced)
        cache_clear();
    return FL_NIL;
}

void fl_state_effect_init(void)
{
    fl_state_reset();
    fl_effect_set_default("state:get", state_get);
    fl_effect_set_default("state:set", state_set);
    fl_effect_set_default("state:update", state_update);
    fl_effect_set_default("state:delete", state_delete);
    fl_effect_set_default("state:clear", state_clear);
    fl_effect_set_default("state:begin-transaction", state_begin);
    fl_effect_set_default("state:commit-transaction", state_commit);
    fl_effect_set_default("state:rollback-transaction", state_rollback);
}
