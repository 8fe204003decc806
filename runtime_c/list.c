/* list.c -- immutable singly linked lists and the list builtins.
 *
 * In:  values from generated code and the other runtime files; a list is
 *      FL_EMPTY or a pair whose tail is a list (there are no improper lists).
 * Out: fl_cons, fl_list_from_array, fl_list_length, the list builder, fl_int_arg
 *      and the builtins of LANGUAGE.md section 5 "Lists" in fl_list_builtins[].
 *
 * Nothing here recurses on a list's length: results are built front to back
 * with fl_list_builder (a tail pointer into cells nobody else has seen yet), so
 * 10^6-element lists need no stack. Errors are raised at the builtin's call
 * site, FL_LOCOF(argc); functions passed in are called with that same location
 * so that a fault inside them still points at a useful place.
 */
#include "fluentai.h"

#include <math.h>
#include <string.h>

#define BUILTIN(cname) FL_BUILTIN(cname)   /* a resume point for error:catch (fluentai.h) */

/* The ABI keeps the argument count in the low 32 bits of argc. */
#define MAX_CALL_ARGS 0x7FFFFFFF

static int is_pair(fl_value v) { return FL_IS_KIND(v, FL_K_PAIR); }
static int is_number(fl_value v) { return FL_IS_INT(v) || FL_IS_FLOAT(v); }

static int64_t int_of(fl_value v) {
    return FL_IS_FIXNUM(v) ? FL_FIXNUM_VAL(v) : ((fl_boxint *)FL_PTR(v))->value;
}

static double double_of(fl_value v) {
    return FL_IS_FLOAT(v) ? ((fl_float *)FL_PTR(v))->value : (double)int_of(v);
}

/* ---- construction -------------------------------------------------------- */

static fl_value new_pair(fl_value head, fl_value tail) {
    fl_pair *p = fl_alloc(sizeof *p);
    p->hdr.kind = FL_K_PAIR;
    p->head = head;
    p->tail = tail;
    return FL_HEAP(p);
}

static fl_value checked_cons(fl_value head, fl_value tail, int64_t loc) {
    if (!FL_IS_LIST(tail)) fl_type_fail("cons", "a list as its second argument", tail, loc);
    return new_pair(head, tail);
}

/* Generated code calls this only when a cons's tail is not a list: a resume point. */
FL_RESUME_ENTRY(fl_value, fl_cons, (fl_value head, fl_value tail, int64_t loc), (head, tail, loc),
                checked_cons, FL_RESUME_AS_VALUE)

fl_value fl_list_from_array(int64_t n, fl_value *items) {
    fl_value list = FL_EMPTY;
    for (int64_t i = n - 1; i >= 0; i--) list = new_pair(items[i], list);
    return list;
}

fl_value fl_list_from_table(int64_t n, const int64_t *words, const uint8_t *kinds,
                            const char *pool, const fl_value *built) {
    fl_list_builder b;
    fl_list_builder_init(&b);
    for (int64_t i = 0; i < n; i++) {
        int64_t w = words[i];
        const char *bytes = pool + ((uint64_t)w >> 32);
        int64_t nbytes = w & 0xFFFFFFFF;
        fl_value item;
        switch (kinds[i]) {
        case FL_DATUM_SYMBOL: item = fl_intern_symbol(bytes, nbytes); break;
        case FL_DATUM_KEYWORD: item = fl_intern_keyword(bytes, nbytes); break;
        case FL_DATUM_STRING: item = fl_make_string(bytes, nbytes); break;
        case FL_DATUM_FLOAT: {
            double d;
            memcpy(&d, &w, sizeof d);
            item = fl_make_float(d);
            break;
        }
        case FL_DATUM_INT: item = fl_make_int(w); break;
        case FL_DATUM_BUILT: item = *built++; break;
        default: item = (fl_value)w; break;
        }
        fl_list_builder_push(&b, item);
    }
    return b.head;
}

int64_t fl_list_length(fl_value list) {
    int64_t n = 0;
    for (; is_pair(list); list = FL_PAIR(list)->tail) n++;
    return n;
}

int32_t fl_list_has_prefix(fl_value list, fl_value prefix) {
    for (; is_pair(prefix); prefix = FL_PAIR(prefix)->tail, list = FL_PAIR(list)->tail)
        if (!is_pair(list) || !fl_equal(FL_PAIR(list)->head, FL_PAIR(prefix)->head)) return 0;
    return 1;
}

fl_value fl_list_drop_pairs(fl_value list, int64_t n) {
    for (; n > 0; n--) list = FL_PAIR(list)->tail;
    return list;
}

void fl_list_builder_init(fl_list_builder *b) {
    b->head = FL_EMPTY;
    b->last = NULL;
}

void fl_list_builder_push(fl_list_builder *b, fl_value item) {
    fl_value cell = new_pair(item, FL_EMPTY);
    if (b->last) b->last->tail = cell;
    else b->head = cell;
    b->last = FL_PAIR(cell);
}

/* The built list with `tail` (a list) shared as its end. */
static fl_value builder_finish(fl_list_builder *b, fl_value tail) {
    if (!b->last) return tail;
    b->last->tail = tail;
    return b->head;
}

/* ---- argument checks ----------------------------------------------------- */

int64_t fl_int_arg(const char *fname, fl_value v, int64_t loc) {
    if (!FL_IS_INT(v)) fl_type_fail(fname, "an int", v, loc);
    return int_of(v);
}

static void need_list(const char *fname, fl_value v, int64_t loc) {
    if (!FL_IS_LIST(v)) fl_type_fail(fname, "a list", v, loc);
}

static void need_function(const char *fname, fl_value f, int64_t loc) {
    if (!(FL_IS_HEAP(f) && FL_KIND(f) == FL_K_CLOSURE)) fl_type_fail(fname, "a function", f, loc);
}

static void need_number(const char *fname, fl_value v, int64_t loc) {
    if (!is_number(v)) fl_type_fail(fname, "a number", v, loc);
}

/* For head/tail/last: [] is an empty-list error, anything else a type-error. */
static void fail_not_pair(const char *fname, fl_value v, int64_t loc) {
    if (v == FL_EMPTY) fl_raise("empty-list", loc, "`%s` of an empty list", fname);
    fl_type_fail(fname, "a list", v, loc);
}

/* The elements of a list (already checked) in a fresh GC-visible array. */
static fl_value *list_to_array(fl_value xs, int64_t n) {
    fl_value *items = fl_alloc((n + 1) * (int64_t)sizeof(fl_value));
    for (int64_t i = 0; i < n; i++, xs = FL_PAIR(xs)->tail) items[i] = FL_PAIR(xs)->head;
    return items;
}

/* ---- basic builtins -------------------------------------------------------- */

BUILTIN(fl_bi_list) {
    fl_list_builder b;
    fl_list_builder_init(&b);
    for (int64_t i = 0; i < FL_NARGS(argc); i++) fl_list_builder_push(&b, FL_ARG(i));
    return b.head;
}

BUILTIN(fl_bi_cons) {
    FL_CHECK_ARITY("cons", argc, 2, 2);
    return fl_cons(a0, a1, FL_LOCOF(argc));
}

static fl_value first_of(const char *fname, int64_t argc, fl_value xs) {
    FL_CHECK_ARITY(fname, argc, 1, 1);
    if (!is_pair(xs)) fail_not_pair(fname, xs, FL_LOCOF(argc));
    return FL_PAIR(xs)->head;
}

static fl_value rest_of(const char *fname, int64_t argc, fl_value xs) {
    FL_CHECK_ARITY(fname, argc, 1, 1);
    if (!is_pair(xs)) fail_not_pair(fname, xs, FL_LOCOF(argc));
    return FL_PAIR(xs)->tail;
}

BUILTIN(fl_bi_head) { return first_of("head", argc, a0); }
BUILTIN(fl_bi_car) { return first_of("car", argc, a0); }
BUILTIN(fl_bi_tail) { return rest_of("tail", argc, a0); }
BUILTIN(fl_bi_cdr) { return rest_of("cdr", argc, a0); }

BUILTIN(fl_bi_length) {
    FL_CHECK_ARITY("length", argc, 1, 1);
    need_list("length", a0, FL_LOCOF(argc));
    return FL_FIXNUM(fl_list_length(a0));
}

BUILTIN(fl_bi_nth) {
    FL_CHECK_ARITY("nth", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    need_list("nth", a0, loc);
    int64_t index = fl_int_arg("nth", a1, loc);
    fl_value p = a0;
    for (int64_t i = 0; i < index && is_pair(p); i++) p = FL_PAIR(p)->tail;
    if (index < 0 || !is_pair(p))
        fl_raise("index-error", loc, "index %lld out of bounds for a list of length %lld",
                 (long long)index, (long long)fl_list_length(a0));
    return FL_PAIR(p)->head;
}

BUILTIN(fl_bi_last) {
    FL_CHECK_ARITY("last", argc, 1, 1);
    if (!is_pair(a0)) fail_not_pair("last", a0, FL_LOCOF(argc));
    fl_value p = a0;
    while (is_pair(FL_PAIR(p)->tail)) p = FL_PAIR(p)->tail;
    return FL_PAIR(p)->head;
}

/* Every argument but the last is copied; the last is shared as the tail. */
BUILTIN(fl_bi_append) {
    int64_t n = FL_NARGS(argc), loc = FL_LOCOF(argc);
    if (n == 0) return FL_EMPTY;
    fl_list_builder b;
    fl_list_builder_init(&b);
    for (int64_t i = 0; i < n - 1; i++) {
        fl_value xs = FL_ARG(i);
        need_list("append", xs, loc);
        for (; is_pair(xs); xs = FL_PAIR(xs)->tail) fl_list_builder_push(&b, FL_PAIR(xs)->head);
    }
    fl_value last = FL_ARG(n - 1);
    need_list("append", last, loc);
    return builder_finish(&b, last);
}

BUILTIN(fl_bi_reverse) {
    FL_CHECK_ARITY("reverse", argc, 1, 1);
    need_list("reverse", a0, FL_LOCOF(argc));
    fl_value out = FL_EMPTY;
    for (fl_value p = a0; is_pair(p); p = FL_PAIR(p)->tail) out = new_pair(FL_PAIR(p)->head, out);
    return out;
}

/* take and drop clamp n to [0, length]. */
BUILTIN(fl_bi_take) {
    FL_CHECK_ARITY("take", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    int64_t n = fl_int_arg("take", a0, loc);
    need_list("take", a1, loc);
    fl_list_builder b;
    fl_list_builder_init(&b);
    fl_value p = a1;
    for (int64_t i = 0; i < n && is_pair(p); i++, p = FL_PAIR(p)->tail) fl_list_builder_push(&b, FL_PAIR(p)->head);
    return p == FL_EMPTY ? a1 : b.head;   /* taking everything shares the whole list */
}

BUILTIN(fl_bi_drop) {
    FL_CHECK_ARITY("drop", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    int64_t n = fl_int_arg("drop", a0, loc);
    need_list("drop", a1, loc);
    fl_value p = a1;
    for (int64_t i = 0; i < n && is_pair(p); i++) p = FL_PAIR(p)->tail;
    return p;
}

/* ---- range ----------------------------------------------------------------- */

static fl_value int_range(int64_t start, int64_t end, int64_t step) {
    fl_list_builder b;
    fl_list_builder_init(&b);
    for (int64_t x = start; step > 0 ? x < end : x > end;) {
        fl_list_builder_push(&b, fl_make_int(x));
        if (__builtin_add_overflow(x, step, &x)) break;   /* past int64 is past `end` too */
    }
    return b.head;
}

/* Each element is start + i*step rather than a running sum, so rounding
 * errors do not accumulate along the list. */
static fl_value float_range(double start, double end, double step) {
    fl_list_builder b;
    fl_list_builder_init(&b);
    for (int64_t i = 0;; i++) {
        double x = start + (double)i * step;
        if (!(step > 0 ? x < end : x > end)) break;
        fl_list_builder_push(&b, fl_make_float(x));
    }
    return b.head;
}

/* Ints give ints; any float argument makes every element a float. */
BUILTIN(fl_bi_range) {
    FL_CHECK_ARITY("range", argc, 2, 3);
    int64_t loc = FL_LOCOF(argc);
    fl_value step = FL_NARGS(argc) == 3 ? a2 : FL_FIXNUM(1);
    need_number("range", a0, loc);
    need_number("range", a1, loc);
    need_number("range", step, loc);
    if (double_of(step) == 0) fl_raise("value-error", loc, "`range` step must not be zero");
    if (FL_IS_INT(a0) && FL_IS_INT(a1) && FL_IS_INT(step)) return int_range(int_of(a0), int_of(a1), int_of(step));
    return float_range(double_of(a0), double_of(a1), double_of(step));
}

/* ---- higher-order builtins ------------------------------------------------- */

BUILTIN(fl_bi_map) {
    FL_CHECK_ARITY("map", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    need_function("map", a0, loc);
    need_list("map", a1, loc);
    fl_list_builder b;
    fl_list_builder_init(&b);
    for (fl_value p = a1; is_pair(p); p = FL_PAIR(p)->tail)
        fl_list_builder_push(&b, fl_call1(a0, FL_ARGC(1, loc), FL_PAIR(p)->head));
    return b.head;
}

BUILTIN(fl_bi_for_each) {
    FL_CHECK_ARITY("for-each", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    need_function("for-each", a0, loc);
    need_list("for-each", a1, loc);
    for (fl_value p = a1; is_pair(p); p = FL_PAIR(p)->tail) fl_call1(a0, FL_ARGC(1, loc), FL_PAIR(p)->head);
    return FL_NIL;
}

BUILTIN(fl_bi_filter) {
    FL_CHECK_ARITY("filter", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    need_function("filter", a0, loc);
    need_list("filter", a1, loc);
    fl_list_builder b;
    fl_list_builder_init(&b);
    for (fl_value p = a1; is_pair(p); p = FL_PAIR(p)->tail) {
        fl_value x = FL_PAIR(p)->head;
        if (FL_TRUTHY(fl_call1(a0, FL_ARGC(1, loc), x))) fl_list_builder_push(&b, x);
    }
    return b.head;
}

/* (f acc x) from the left. */
static fl_value fold_left(const char *fname, int64_t argc, fl_value f, fl_value acc, fl_value xs) {
    FL_CHECK_ARITY(fname, argc, 3, 3);
    int64_t loc = FL_LOCOF(argc);
    need_function(fname, f, loc);
    need_list(fname, xs, loc);
    for (; is_pair(xs); xs = FL_PAIR(xs)->tail) acc = fl_call2(f, FL_ARGC(2, loc), acc, FL_PAIR(xs)->head);
    return acc;
}

BUILTIN(fl_bi_fold) { return fold_left("fold", argc, a0, a1, a2); }
BUILTIN(fl_bi_reduce) { return fold_left("reduce", argc, a0, a1, a2); }

/* (f x acc) from the right, over a reversed copy instead of the C stack. */
BUILTIN(fl_bi_fold_right) {
    FL_CHECK_ARITY("fold-right", argc, 3, 3);
    int64_t loc = FL_LOCOF(argc);
    need_function("fold-right", a0, loc);
    need_list("fold-right", a2, loc);
    fl_value reversed = FL_EMPTY;
    for (fl_value p = a2; is_pair(p); p = FL_PAIR(p)->tail) reversed = new_pair(FL_PAIR(p)->head, reversed);
    fl_value acc = a1;
    for (fl_value p = reversed; is_pair(p); p = FL_PAIR(p)->tail) acc = fl_call2(a0, FL_ARGC(2, loc), FL_PAIR(p)->head, acc);
    return acc;
}

/* any? stops at the first truthy result, all? at the first falsy one. */
static fl_value find_truth(const char *fname, int64_t argc, fl_value f, fl_value xs, int wanted) {
    FL_CHECK_ARITY(fname, argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    need_function(fname, f, loc);
    need_list(fname, xs, loc);
    for (; is_pair(xs); xs = FL_PAIR(xs)->tail)
        if (FL_TRUTHY(fl_call1(f, FL_ARGC(1, loc), FL_PAIR(xs)->head)) == wanted) return FL_BOOL(wanted);
    return FL_BOOL(!wanted);
}

BUILTIN(fl_bi_any_p) { return find_truth("any?", argc, a0, a1, 1); }
BUILTIN(fl_bi_all_p) { return find_truth("all?", argc, a0, a1, 0); }

BUILTIN(fl_bi_apply) {
    FL_CHECK_ARITY("apply", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    need_function("apply", a0, loc);
    need_list("apply", a1, loc);
    int64_t n = fl_list_length(a1);
    if (n > MAX_CALL_ARGS)
        fl_raise("value-error", loc, "`apply` can pass at most %d arguments, got a list of length %lld",
                 MAX_CALL_ARGS, (long long)n);
    /* Arguments past the third travel in a heap array (see fl_code). */
    fl_value *args = fl_rest_array(n < FL_REG_ARGS ? FL_REG_ARGS : n);
    fl_value p = a1;
    for (int64_t i = 0; i < n; i++, p = FL_PAIR(p)->tail) args[i] = FL_PAIR(p)->head;
    return fl_call(a0, FL_ARGC(n, loc), n, args);
}

/* ---- sorting --------------------------------------------------------------- */

typedef int (*less_fn)(fl_value a, fl_value b);

/* Exact int < float and float < int, without rounding the int to a double. */
static int int_less_float(int64_t i, double d) {
    if (isnan(d)) return 0;
    if (d >= 0x1p63) return 1;
    if (d < -0x1p63) return 0;
    double whole = floor(d);
    int64_t w = (int64_t)whole;
    return i < w || (i == w && d > whole);
}

static int float_less_int(double d, int64_t i) {
    if (isnan(d)) return 0;
    if (d >= 0x1p63) return 0;
    if (d < -0x1p63) return 1;
    double whole = ceil(d);
    int64_t w = (int64_t)whole;
    return w < i || (w == i && d < whole);
}

static int number_less(fl_value a, fl_value b) {
    if (FL_IS_FIXNUM(a) && FL_IS_FIXNUM(b)) return a < b;   /* tagging keeps the order */
    if (FL_IS_INT(a) && FL_IS_INT(b)) return int_of(a) < int_of(b);
    if (FL_IS_INT(a)) return int_less_float(int_of(a), double_of(b));
    if (FL_IS_INT(b)) return float_less_int(double_of(a), int_of(b));
    return double_of(a) < double_of(b);
}

/* UTF-8 byte order is code-point order. */
static int string_less(fl_value a, fl_value b) {
    fl_string *x = FL_STR(a), *y = FL_STR(b);
    int64_t n = x->nbytes < y->nbytes ? x->nbytes : y->nbytes;
    int c = memcmp(x->bytes, y->bytes, (size_t)n);
    return c < 0 || (c == 0 && x->nbytes < y->nbytes);
}

/* sort-by sorts private (key . item) cells by their keys; they never escape,
 * so their tails need not be lists. */
static int key_number_less(fl_value a, fl_value b) { return number_less(FL_PAIR(a)->head, FL_PAIR(b)->head); }
static int key_string_less(fl_value a, fl_value b) { return string_less(FL_PAIR(a)->head, FL_PAIR(b)->head); }

/* How a sort names what it wanted in a type-error. */
typedef struct sort_words { const char *any, *numbers, *strings; } sort_words;

/* All keys must be numbers or all strings; the first key decides which.
 * Returns 1 for numbers, 0 for strings. */
static int keys_are_numbers(const char *fname, const sort_words *words, fl_value keys, int64_t loc) {
    if (keys == FL_EMPTY) return 1;
    fl_value first = FL_PAIR(keys)->head;
    int numbers = is_number(first);
    if (!numbers && !FL_IS_STRING(first)) fl_type_fail(fname, words->any, first, loc);
    for (fl_value p = keys; is_pair(p); p = FL_PAIR(p)->tail) {
        fl_value key = FL_PAIR(p)->head;
        if (numbers ? !is_number(key) : !FL_IS_STRING(key))
            fl_type_fail(fname, numbers ? words->numbers : words->strings, key, loc);
    }
    return numbers;
}

#define SORT_RUN 24

static void insertion_sort(fl_value *items, int64_t lo, int64_t hi, less_fn less) {
    for (int64_t i = lo + 1; i < hi; i++) {
        fl_value cur = items[i];
        int64_t j = i;
        for (; j > lo && less(cur, items[j - 1]); j--) items[j] = items[j - 1];
        items[j] = cur;
    }
}

/* Ties take from the left run: that is what keeps the sort stable. */
static void merge_runs(const fl_value *src, fl_value *dst, int64_t lo, int64_t mid, int64_t hi, less_fn less) {
    int64_t i = lo, j = mid, k = lo;
    while (i < mid && j < hi) dst[k++] = less(src[j], src[i]) ? src[j++] : src[i++];
    while (i < mid) dst[k++] = src[i++];
    while (j < hi) dst[k++] = src[j++];
}

/* A stable bottom-up merge sort, no recursion; returns the sorted array
 * (items itself or the scratch copy). */
static fl_value *merge_sort(fl_value *items, int64_t n, less_fn less) {
    fl_value *tmp = fl_alloc((n + 1) * (int64_t)sizeof(fl_value));
    for (int64_t lo = 0; lo < n; lo += SORT_RUN) insertion_sort(items, lo, lo + SORT_RUN < n ? lo + SORT_RUN : n, less);
    for (int64_t width = SORT_RUN; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n;
            int64_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            merge_runs(items, tmp, lo, mid, hi, less);
        }
        fl_value *swap = items;
        items = tmp;
        tmp = swap;
    }
    return items;
}

BUILTIN(fl_bi_sort) {
    static const sort_words words = {"numbers or strings", "numbers", "strings"};
    FL_CHECK_ARITY("sort", argc, 1, 1);
    int64_t loc = FL_LOCOF(argc);
    need_list("sort", a0, loc);
    less_fn less = keys_are_numbers("sort", &words, a0, loc) ? number_less : string_less;
    int64_t n = fl_list_length(a0);
    return fl_list_from_array(n, merge_sort(list_to_array(a0, n), n, less));
}

/* The key function runs once per element, in list order. */
BUILTIN(fl_bi_sort_by) {
    static const sort_words words = {"keys that are numbers or strings", "number keys", "string keys"};
    FL_CHECK_ARITY("sort-by", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    need_function("sort-by", a0, loc);
    need_list("sort-by", a1, loc);
    fl_list_builder keys;
    fl_list_builder_init(&keys);
    for (fl_value p = a1; is_pair(p); p = FL_PAIR(p)->tail)
        fl_list_builder_push(&keys, fl_call1(a0, FL_ARGC(1, loc), FL_PAIR(p)->head));
    less_fn less = keys_are_numbers("sort-by", &words, keys.head, loc) ? key_number_less : key_string_less;
    int64_t n = fl_list_length(a1);
    fl_value *cells = fl_alloc((n + 1) * (int64_t)sizeof(fl_value));
    fl_value item = a1, key = keys.head;
    for (int64_t i = 0; i < n; i++, item = FL_PAIR(item)->tail, key = FL_PAIR(key)->tail)
        cells[i] = new_pair(FL_PAIR(key)->head, FL_PAIR(item)->head);
    cells = merge_sort(cells, n, less);
    fl_value out = FL_EMPTY;
    for (int64_t i = n - 1; i >= 0; i--) out = new_pair(FL_PAIR(cells[i])->tail, out);
    return out;
}

/* ---- numeric folds ----------------------------------------------------------- */

/* Ints accumulate exactly (overflow is an error); from the first float on,
 * the rest combines as floats, as a left fold of + or * would. */
static fl_value sum_or_product(const char *fname, int64_t argc, fl_value xs, int multiply) {
    FL_CHECK_ARITY(fname, argc, 1, 1);
    int64_t loc = FL_LOCOF(argc);
    need_list(fname, xs, loc);
    int64_t whole = multiply;
    double real = 0;
    int floating = 0;
    for (; is_pair(xs); xs = FL_PAIR(xs)->tail) {
        fl_value x = FL_PAIR(xs)->head;
        if (!is_number(x)) fl_type_fail(fname, "numbers", x, loc);
        if (!floating && FL_IS_INT(x)) {
            int64_t v = int_of(x);
            int overflow = multiply ? __builtin_mul_overflow(whole, v, &whole) : __builtin_add_overflow(whole, v, &whole);
            if (overflow) fl_raise("overflow-error", loc, "integer overflow in `%s`", fname);
            continue;
        }
        if (!floating) real = (double)whole, floating = 1;
        real = multiply ? real * double_of(x) : real + double_of(x);
    }
    return floating ? fl_make_float(real) : fl_make_int(whole);
}

BUILTIN(fl_bi_sum) { return sum_or_product("sum", argc, a0, 0); }
BUILTIN(fl_bi_product) { return sum_or_product("product", argc, a0, 1); }

/* ---- searching and pairing ------------------------------------------------------ */

BUILTIN(fl_bi_zip) {
    FL_CHECK_ARITY("zip", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    need_list("zip", a0, loc);
    need_list("zip", a1, loc);
    fl_list_builder b;
    fl_list_builder_init(&b);
    for (fl_value x = a0, y = a1; is_pair(x) && is_pair(y); x = FL_PAIR(x)->tail, y = FL_PAIR(y)->tail)
        fl_list_builder_push(&b, new_pair(FL_PAIR(x)->head, new_pair(FL_PAIR(y)->head, FL_EMPTY)));
    return b.head;
}

/* The position of the first element equal (==) to v, or -1. */
static int64_t position_of(const char *fname, int64_t argc, fl_value xs, fl_value v) {
    FL_CHECK_ARITY(fname, argc, 2, 2);
    need_list(fname, xs, FL_LOCOF(argc));
    int64_t i = 0;
    for (; is_pair(xs); xs = FL_PAIR(xs)->tail, i++)
        if (fl_equal(FL_PAIR(xs)->head, v)) return i;
    return -1;
}

BUILTIN(fl_bi_contains_p) { return FL_BOOL(position_of("contains?", argc, a0, a1) >= 0); }

BUILTIN(fl_bi_index_of) {
    int64_t i = position_of("index-of", argc, a0, a1);
    return i < 0 ? FL_NIL : FL_FIXNUM(i);
}

const fl_builtin_def fl_list_builtins[] = {
    {"list", fl_bi_list, 0, -1},
    {"cons", fl_bi_cons, 2, 2},
    {"head", fl_bi_head, 1, 1},
    {"car", fl_bi_car, 1, 1},
    {"tail", fl_bi_tail, 1, 1},
    {"cdr", fl_bi_cdr, 1, 1},
    {"length", fl_bi_length, 1, 1},
    {"nth", fl_bi_nth, 2, 2},
    {"last", fl_bi_last, 1, 1},
    {"append", fl_bi_append, 0, -1},
    {"reverse", fl_bi_reverse, 1, 1},
    {"take", fl_bi_take, 2, 2},
    {"drop", fl_bi_drop, 2, 2},
    {"range", fl_bi_range, 2, 3},
    {"map", fl_bi_map, 2, 2},
    {"for-each", fl_bi_for_each, 2, 2},
    {"filter", fl_bi_filter, 2, 2},
    {"fold", fl_bi_fold, 3, 3},
    {"reduce", fl_bi_reduce, 3, 3},
    {"fold-right", fl_bi_fold_right, 3, 3},
    {"any?", fl_bi_any_p, 2, 2},
    {"all?", fl_bi_all_p, 2, 2},
    {"sort", fl_bi_sort, 1, 1},
    {"sort-by", fl_bi_sort_by, 2, 2},
    {"sum", fl_bi_sum, 1, 1},
    {"product", fl_bi_product, 1, 1},
    {"zip", fl_bi_zip, 2, 2},
    {"contains?", fl_bi_contains_p, 2, 2},
    {"index-of", fl_bi_index_of, 2, 2},
    {"apply", fl_bi_apply, 2, 2},
    {NULL, NULL, 0, 0},
};
