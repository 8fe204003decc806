/* match.c -- the literal tables of `match` (fluentai/ir/match.py).
 *
 * In:  the literal patterns of one column of a match, as a list of constants in
 *      the order of their arms (fl_match_table, once, when the module starts);
 *      then any value (fl_match_index, each time the match runs).
 * Out: the position in that list of the first literal the value is `==` to
 *      (fl_equal, the runtime's structural equality), or -1.
 *
 * A column of many literals is one lookup and one LLVM `switch` on its answer
 * instead of one `==` test per arm. The table is open addressing on fl_hash,
 * which agrees with fl_equal (1 and 1.0 hash alike, NaN to one value), so the
 * answer is the one the chain of tests gave; a key equal to an earlier one would
 * not be inserted, so the first arm would win as before (ir/match.py passes
 * distinct literals: no two of them are `==`).
 *
 * A table built with results also holds each arm's constant value (fl_match_result):
 * a match of hundreds of literal arms that each give a constant is then one lookup and
 * one load, with no code per arm.
 *
 * A value of a kind no key has (a list, a map, a function...) is not hashed at
 * all: fl_equal never makes two values of different kinds equal, except numbers
 * (a fixnum, a boxed int and a float), which count as one kind here.
 */
#include <string.h>

#include "fluentai.h"

typedef struct {
    fl_value key;
    int64_t index;          /* the key's position + 1; 0: an empty slot */
} match_slot;

typedef struct {
    uint64_t mask;          /* slot count - 1 (a power of two) */
    uint64_t kinds;         /* bit k: a key has kind class k (kind_class) */
    fl_value *results;      /* the constant result of each arm, or NULL */
    /* The fixnum keys, when they are dense (a range at most twice their number):
     * dense[n - low] is the position of the key n + 1, or 0. */
    int64_t low, span;
    int64_t *dense;
    match_slot slots[];
} match_table;

/* 0 for fixnums, boxed ints and floats; 1 for other immediates (nil, booleans);
 * 2 + the heap kind for the other heap objects. */
static int kind_class(fl_value v)
{
    if (FL_IS_FIXNUM(v))
        return 0;
    if (!FL_IS_HEAP(v))
        return 1;
    int k = FL_KIND(v);
    return k == FL_K_INT || k == FL_K_FLOAT ? 0 : 2 + (k & 31);
}

/* The dense array of the fixnum keys, if there are 16 or more and they are dense. */
static void index_fixnums(match_table *t, fl_value keys)
{
    int64_t count = 0, low = INT64_MAX, high = INT64_MIN;
    for (fl_value l = keys; l != FL_EMPTY; l = FL_PAIR(l)->tail) {
        fl_value key = FL_PAIR(l)->head;
        if (FL_IS_FIXNUM(key)) {
            int64_t n = FL_FIXNUM_VAL(key);
            count++;
            low = n < low ? n : low;
            high = n > high ? n : high;
        }
    }
    if (count < 16 || (uint64_t)(high - low) >= 2 * (uint64_t)count)
        return;
    t->low = low;
    t->span = high - low + 1;
    t->dense = fl_alloc_atomic(t->span * (int64_t)sizeof(int64_t));
    memset(t->dense, 0, (size_t)t->span * sizeof(int64_t));
    int64_t index = 0;
    for (fl_value l = keys; l != FL_EMPTY; l = FL_PAIR(l)->tail, index++) {
        fl_value key = FL_PAIR(l)->head;
        if (FL_IS_FIXNUM(key) && t->dense[FL_FIXNUM_VAL(key) - low] == 0)
            t->dense[FL_FIXNUM_VAL(key) - low] = index + 1;
    }
}

fl_value fl_match_table(fl_value keys, fl_value results)
{
    int64_t n = fl_list_length(keys);
    uint64_t size = 16;
    while (size < 2 * (uint64_t)n)
        size *= 2;
    match_table *t = fl_alloc((int64_t)(sizeof(match_table) + size * sizeof(match_slot)));
    t->mask = size - 1;
    int64_t index = 0;
    for (fl_value l = keys; l != FL_EMPTY; l = FL_PAIR(l)->tail, index++) {
        fl_value key = FL_PAIR(l)->head;
        t->kinds |= UINT64_C(1) << kind_class(key);
        uint64_t h = fl_hash(key) & t->mask;
        while (t->slots[h].index != 0 && !fl_equal(t->slots[h].key, key))
            h = (h + 1) & t->mask;
        if (t->slots[h].index == 0) {
            t->slots[h].key = key;
            t->slots[h].index = index + 1;
        }
    }
    index_fixnums(t, keys);
    if (results != FL_EMPTY) {
        t->results = fl_alloc(n * (int64_t)sizeof(fl_value));
        for (int64_t i = 0; i < n; i++, results = FL_PAIR(results)->tail)
            t->results[i] = FL_PAIR(results)->head;
    }
    /* 16-byte aligned, so the word reads as a fixnum: nothing takes it for an object. */
    return (fl_value)(uintptr_t)t;
}

int64_t fl_match_index(fl_value v, fl_value table)
{
    const match_table *t = (const match_table *)(uintptr_t)table;
    if (t->dense != NULL && FL_IS_FIXNUM(v)) {
        /* A fixnum is == only to the fixnum key of its value or to a float key
         * equal to it, which the hash table below finds. */
        uint64_t offset = (uint64_t)(FL_FIXNUM_VAL(v) - t->low);
        if (offset < (uint64_t)t->span && t->dense[offset] != 0)
            return t->dense[offset] - 1;
    }
    if (!(t->kinds & (UINT64_C(1) << kind_class(v))))
        return -1;
    uint64_t h = fl_hash(v) & t->mask;
    for (;;) {
        const match_slot *s = &t->slots[h];
        if (s->index == 0)
            return -1;
        if (s->key == v || fl_equal(s->key, v))
            return s->index - 1;
        h = (h + 1) & t->mask;
    }
}

/* The constant result of the arm at `index` (0 <= index < the number of keys) of a table
 * built with results: a match whose literal arms all give constants is one lookup. */
fl_value fl_match_result(fl_value table, int64_t index)
{
    return ((const match_table *)(uintptr_t)table)->results[index];
}
