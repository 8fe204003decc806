/* value.c -- making and inspecting values: boxed numbers, strings, interned
 * keywords and symbols, closures, cells, data values; kinds and type names;
 * structural equality; the Predicates builtins.
 */
#include <gc.h>
#include <math.h>
#include <string.h>

#include "fluentai.h"



/* ---- numbers ---- */

fl_value fl_make_int(int64_t n)
{
    if (n >= FL_FIXNUM_MIN && n <= FL_FIXNUM_MAX)
        return FL_FIXNUM(n);
    _Static_assert(sizeof(fl_boxint) == 16, "one granule");
    fl_boxint *box = fl_alloc_atomic_granule();
    box->hdr.kind = FL_K_INT;
    box->hdr.aux = 0;
    box->value = n;
    return FL_HEAP(box);
}

int64_t fl_int_value(fl_value v)
{
    if (FL_IS_FIXNUM(v))
        return FL_FIXNUM_VAL(v);
    return ((fl_boxint *)FL_PTR(v))->value;
}

fl_value fl_make_float(double d)
{
    _Static_assert(sizeof(fl_float) == 16, "one granule");
    fl_float *box = fl_alloc_atomic_granule();
    box->hdr.kind = FL_K_FLOAT;
    box->hdr.aux = 0;
    box->value = d;
    return FL_HEAP(box);
}

double fl_float_value(fl_value v)
{
    return ((fl_float *)FL_PTR(v))->value;
}

/* ---- strings ---- */

static int64_t count_code_points(const char *bytes, int64_t nbytes, int *all_ascii)
{
    int64_t count = 0;
    int ascii = 1;
    for (int64_t i = 0; i < nbytes; i++) {
        unsigned char c = (unsigned char)bytes[i];
        if (c >= 0x80)
            ascii = 0;
        if ((c & 0xC0) != 0x80)   /* every byte but a continuation starts a code point */
            count++;
    }
    *all_ascii = ascii;
    return count;
}

fl_value fl_make_string(const char *bytes, int64_t nbytes)
{
    fl_string *s = fl_alloc_atomic((int64_t)sizeof(fl_string) + nbytes + 1);
    int ascii;
    s->hdr.kind = FL_K_STRING;
    s->nbytes = nbytes;
    s->ncodepoints = count_code_points(bytes, nbytes, &ascii);
    s->hdr.aux = (uint32_t)ascii;
    if (nbytes)
        memcpy(s->bytes, bytes, (size_t)nbytes);
    s->bytes[nbytes] = 0;
    return FL_HEAP(s);
}

fl_value fl_string_from_cstr(const char *s)
{
    return fl_make_string(s, (int64_t)strlen(s));
}

/* ---- interned keywords and symbols ----
 * Open-addressing tables in uncollectable memory (so Boehm scans them and the
 * interned objects live forever): interning makes equality an identity test. */

typedef struct intern_table {
    fl_value *slots;      /* 0 = empty */
    int64_t capacity;     /* a power of two */
    int64_t count;
    uint32_t kind;
} intern_table;

static intern_table keywords = {0, 0, 0, FL_K_KEYWORD};
static intern_table symbols = {0, 0, 0, FL_K_SYMBOL};

static uint64_t hash_bytes(const char *s, int64_t n)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (int64_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static fl_string *interned_name(fl_value v)
{
    return FL_STR(((fl_value *)FL_PTR(v))[1]);
}

static void intern_grow(intern_table *t)
{
    int64_t new_capacity = t->capacity ? t->capacity * 2 : 256;
    fl_value *new_slots = GC_MALLOC_UNCOLLECTABLE((size_t)new_capacity * sizeof(fl_value));
    if (!new_slots)
        fl_out_of_memory(new_capacity * (int64_t)sizeof(fl_value), 0);
    memset(new_slots, 0, (size_t)new_capacity * sizeof(fl_value));
    for (int64_t i = 0; i < t->capacity; i++) {
        fl_value v = t->slots[i];
        if (!v)
            continue;
        fl_string *name = interned_name(v);
        uint64_t j = hash_bytes(name->bytes, name->nbytes) & (uint64_t)(new_capacity - 1);
        while (new_slots[j])
            j = (j + 1) & (uint64_t)(new_capacity - 1);
        new_slots[j] = v;
    }
    if (t->slots)
        GC_FREE(t->slots);
    t->slots = new_slots;
    t->capacity = new_capacity;
}

static fl_value intern(intern_table *t, const char *name, int64_t nbytes)
{
    if (2 * (t->count + 1) > t->capacity)
        intern_grow(t);
    uint64_t mask = (uint64_t)(t->capacity - 1);
    uint64_t j = hash_bytes(name, nbytes) & mask;
    for (; t->slots[j]; j = (j + 1) & mask) {
        fl_string *existing = interned_name(t->slots[j]);
        if (existing->nbytes == nbytes && memcmp(existing->bytes, name, (size_t)nbytes) == 0)
            return t->slots[j];
    }
    fl_value name_string = fl_make_string(name, nbytes);
    fl_value *obj = fl_alloc(2 * sizeof(fl_value));
    ((fl_header *)obj)->kind = t->kind;
    ((fl_header *)obj)->aux = 0;
    obj[1] = name_string;
    t->slots[j] = FL_HEAP(obj);
    t->count++;
    return t->slots[j];
}

fl_value fl_intern_keyword(const char *name, int64_t nbytes)
{
    return intern(&keywords, name, nbytes);
}

fl_value fl_intern_symbol(const char *name, int64_t nbytes)
{
    return intern(&symbols, name, nbytes);
}

/* ---- closures, cells, data ---- */

fl_value fl_make_closure(fl_code code, int32_t arity, int32_t flags, fl_value name, int64_t nfree)
{
    fl_closure *c = fl_alloc((int64_t)sizeof(fl_closure) + nfree * (int64_t)sizeof(fl_value));
    c->hdr.kind = FL_K_CLOSURE;
    c->hdr.aux = (uint32_t)nfree;
    c->code = code;
    c->arity = arity;
    c->flags = flags;
    c->name = name;
    for (int64_t i = 0; i < nfree; i++)
        c->free[i] = FL_NIL;
    return FL_HEAP(c);
}

fl_value fl_make_cell(fl_value v)
{
    fl_cell *c = fl_alloc(sizeof(fl_cell));
    c->hdr.kind = FL_K_CELL;
    c->value = v;
    return FL_HEAP(c);
}

fl_value fl_make_data(fl_value tag, int64_t n, fl_value *fields)
{
    fl_value *obj = fl_alloc((2 + n) * (int64_t)sizeof(fl_value));
    ((fl_header *)obj)->kind = FL_K_DATA;
    ((fl_header *)obj)->aux = (uint32_t)n;
    obj[1] = tag;
    for (int64_t i = 0; i < n; i++)
        obj[2 + i] = fields[i];
    return FL_HEAP(obj);
}

int32_t fl_kind_of(fl_value v)
{
    return FL_IS_HEAP(v) ? (int32_t)FL_KIND(v) : 0;
}

const char *fl_type_phrase(fl_value v)
{
    if (FL_IS_FIXNUM(v))
        return "an int";
    switch (v) {
    case FL_TRUE:
    case FL_FALSE:
        return "a bool";
    case FL_NIL:
        return "nil";
    case FL_EMPTY:
        return "a list";
    case FL_UNBOUND:
        return "an unbound slot";
    }
    if (!FL_IS_HEAP(v))
        return "an unknown value";
    switch (FL_KIND(v)) {
    case FL_K_INT: return "an int";
    case FL_K_FLOAT: return "a float";
    case FL_K_STRING: return "a string";
    case FL_K_PAIR: return "a list";
    case FL_K_CLOSURE: return "a function";
    case FL_K_KEYWORD: return "a keyword";
    case FL_K_SYMBOL: return "a symbol";
    case FL_K_MAP: return "a map";
    case FL_K_DATA: return "a data value";
    case FL_K_CELL: return "a cell";
    case FL_K_PROMISE: return "a promise";
    case FL_K_CHANNEL: return "a channel";
    case FL_K_DOM_NODE: return "a dom node";
    }
    return "an unknown value";
}

/* ---- equality ---- */

/* An int and a float are equal only when the float is exactly that integer
 * (no rounding through double: 2^53 + 1 is not 2^53 as a float). */
static int int_equals_float(int64_t i, double d)
{
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        return 0;
    return (double)(int64_t)d == d && (int64_t)d == i;
}

static int numbers_equal(fl_value a, fl_value b)
{
    int a_int = FL_IS_INT(a), b_int = FL_IS_INT(b);
    if (a_int && b_int)
        return fl_int_value(a) == fl_int_value(b);
    if (a_int)
        return int_equals_float(fl_int_value(a), fl_float_value(b));
    if (b_int)
        return int_equals_float(fl_int_value(b), fl_float_value(a));
    /* NaN equals NaN: == is structural equality (Scheme's equal?), so it must be
     * an equivalence relation -- the identity shortcut of fl_equal, map keys and
     * `(== x x)` then agree however the NaNs were boxed (docs/language.md). */
    double x = fl_float_value(a), y = fl_float_value(b);
    return x == y || (isnan(x) && isnan(y));
}

static int is_number(fl_value v)
{
    return FL_IS_INT(v) || FL_IS_FLOAT(v);
}

static int maps_equal(fl_value a, fl_value b)
{
    int64_t n = fl_map_size(a);
    if (n != fl_map_size(b))
        return 0;
    for (int64_t i = 0; i < n; i++) {
        fl_value other = fl_map_get(b, fl_map_key_at(a, i), FL_UNBOUND);
        if (other == FL_UNBOUND || !fl_equal(fl_map_value_at(a, i), other))
            return 0;
    }
    return 1;
}

static int data_equal(fl_value a, fl_value b)
{
    fl_value *x = FL_PTR(a), *y = FL_PTR(b);
    uint32_t n = ((fl_header *)x)->aux;
    if (n != ((fl_header *)y)->aux || !fl_equal(x[1], y[1]))
        return 0;
    for (uint32_t i = 0; i < n; i++)
        if (!fl_equal(x[2 + i], y[2 + i]))
            return 0;
    return 1;
}

/* Structural equality. Lists are walked along their tails in this loop, so a
 * long list costs no stack; only nesting recurses (with a headroom check). */
int32_t fl_equal(fl_value a, fl_value b)
{
    fl_check_stack(0);
    for (;;) {
        if (a == b)
            return 1;
        if (is_number(a) && is_number(b))
            return numbers_equal(a, b);
        if (!FL_IS_HEAP(a) || !FL_IS_HEAP(b) || FL_KIND(a) != FL_KIND(b))
            return 0;
        switch (FL_KIND(a)) {
        case FL_K_STRING:
            return FL_STR_HEAD(a)->nbytes == FL_STR_HEAD(b)->nbytes &&
                   memcmp(FL_STR(a)->bytes, FL_STR(b)->bytes, (size_t)FL_STR_HEAD(a)->nbytes) == 0;
        case FL_K_PAIR:
            if (!fl_equal(FL_PAIR(a)->head, FL_PAIR(b)->head))
                return 0;
            a = FL_PAIR(a)->tail;
            b = FL_PAIR(b)->tail;
            continue;
        case FL_K_MAP:
            return maps_equal(a, b);
        case FL_K_DATA:
            return data_equal(a, b);
        default:   /* keywords and symbols are interned; the rest compare by identity */
            return 0;
        }
    }
}

/* ---- Predicates builtins ---- */

#define PREDICATE(cname, fname, test)                                              \
    FL_BUILTIN(cname)                                                               \
    {                                                                               \
        (void)self; (void)a1; (void)a2; (void)rest;                                 \
        fl_arity_check(fname, argc, 1, 1);                                          \
        return FL_BOOL(test);                                                       \
    }

PREDICATE(fl_bi_int_p, "int?", FL_IS_INT(a0))
PREDICATE(fl_bi_float_p, "float?", FL_IS_FLOAT(a0))
PREDICATE(fl_bi_number_p, "number?", is_number(a0))
PREDICATE(fl_bi_string_p, "string?", FL_IS_STRING(a0))
PREDICATE(fl_bi_bool_p, "bool?", a0 == FL_TRUE || a0 == FL_FALSE)
PREDICATE(fl_bi_nil_p, "nil?", a0 == FL_NIL)
PREDICATE(fl_bi_list_p, "list?", FL_IS_LIST(a0))
PREDICATE(fl_bi_map_p, "map?", FL_IS_KIND(a0, FL_K_MAP))
PREDICATE(fl_bi_keyword_p, "keyword?", FL_IS_KIND(a0, FL_K_KEYWORD))
PREDICATE(fl_bi_symbol_p, "symbol?", FL_IS_KIND(a0, FL_K_SYMBOL))
PREDICATE(fl_bi_function_p, "function?", FL_IS_CLOSURE(a0))
PREDICATE(fl_bi_promise_p, "promise?", FL_IS_KIND(a0, FL_K_PROMISE))
PREDICATE(fl_bi_channel_p, "channel?", FL_IS_KIND(a0, FL_K_CHANNEL))
PREDICATE(fl_bi_null_p, "null?", a0 == FL_NIL || a0 == FL_EMPTY)


/* empty? asks about a collection: lists, strings and maps. */
FL_BUILTIN(fl_bi_empty_p)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    fl_arity_check("empty?", argc, 1, 1);
    if (FL_IS_LIST(a0))
        return FL_BOOL(a0 == FL_EMPTY);
    if (FL_IS_STRING(a0))
        return FL_BOOL(FL_STR_HEAD(a0)->nbytes == 0);
    if (FL_IS_KIND(a0, FL_K_MAP))
        return FL_BOOL(fl_map_size(a0) == 0);
    fl_type_fail("empty?", "a list, a string or a map", a0, FL_LOCOF(argc));
    return FL_NIL;
}

const fl_builtin_def fl_predicate_builtins[] = {
    {"int?", fl_bi_int_p, 1, 1},
    {"float?", fl_bi_float_p, 1, 1},
    {"number?", fl_bi_number_p, 1, 1},
    {"string?", fl_bi_string_p, 1, 1},
    {"bool?", fl_bi_bool_p, 1, 1},
    {"nil?", fl_bi_nil_p, 1, 1},
    {"list?", fl_bi_list_p, 1, 1},
    {"map?", fl_bi_map_p, 1, 1},
    {"keyword?", fl_bi_keyword_p, 1, 1},
    {"symbol?", fl_bi_symbol_p, 1, 1},
    {"function?", fl_bi_function_p, 1, 1},
    {"promise?", fl_bi_promise_p, 1, 1},
    {"channel?", fl_bi_channel_p, 1, 1},
    {"empty?", fl_bi_empty_p, 1, 1},
    {"null?", fl_bi_null_p, 1, 1},
    {NULL, NULL, 0, 0},
};
