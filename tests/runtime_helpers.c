/* runtime_helpers.c -- test-only entries for tests/test_runtime.py.
 *
 * Compiled by the test into its own small cffi extension; its calls to fl_*
 * resolve against the already loaded runtime extension (the test dlopens that
 * one RTLD_GLOBAL first), so both share one runtime instance.
 */
#include <gc.h>

#include "fluentai.h"

/* A module with a few locations, to check report formatting. */
static const char test_source[] =
    "(define (ratio a b)\n"
    "  (/ a b))\n"
    "\t(f\t\"\xc3\xa9\xc3\xa9\" (/ 1 0))\n"
    "(g (h 1)\n"
    "   2)\n";
static const fl_loc test_locs[] = {
    {0, 0, 0, 0},
    {2, 3, 2, 10},   /* 1: (/ a b) */
    {3, 10, 3, 17},  /* 2: (/ 1 0) after tabs and a 2-code-point string */
    {4, 1, 5, 6},    /* 3: a form spanning two lines */
};
static const fl_module_info test_module = {
    "prog.fl", test_source, sizeof test_source - 1, test_locs, 4,
};

void helper_register_module(void)
{
    fl_module_register(&test_module);
}

static int64_t raise_loc;
void helper_set_loc(int64_t loc) { raise_loc = loc; }

fl_value helper_divide_by_zero(void)
{
    return fl_div(FL_FIXNUM(1), FL_FIXNUM(0), raise_loc);
}

fl_value helper_raise_config(void)
{
    fl_value data = fl_list_from_array(0, NULL);
    data = fl_cons(FL_FIXNUM(7), data, 0);
    fl_raise_value(fl_make_error(fl_string_from_cstr("config"), fl_string_from_cstr("bad port"), data),
                   raise_loc);
    return FL_NIL;
}

fl_value helper_raise_formatted(void)
{
    fl_raise("value-error", raise_loc, "%s %d", "answer", 42);
    return FL_NIL;
}

/* Non-tail recursion: `pad` and the use after the call keep every frame. */
static int64_t deep(int64_t n)
{
    volatile char pad[64];
    pad[0] = (char)(n & 1);
    if (n == 0)
        return 0;
    return deep(n - 1) + pad[0];
}

static int64_t depth_wanted;
void helper_set_depth(int64_t n) { depth_wanted = n; }

fl_value helper_deep(void)
{
    return fl_make_int(deep(depth_wanted));
}

/* Runtime recursion guarded by fl_check_stack: printing a deeply nested list. */
fl_value helper_nested_show(void)
{
    fl_value v = FL_EMPTY;
    for (int64_t i = 0; i < depth_wanted; i++)
        v = fl_cons(v, FL_EMPTY, 0);
    return fl_show(v);
}

fl_value helper_exit_7(void)
{
    fl_value argv[1] = {FL_FIXNUM(7)};
    return fl_call(fl_builtin_value("exit"), 0, 1, argv);
}

/* 10^6 cons cells kept only through `slot`, across forced collections. */
fl_value helper_build_list(fl_value *slot, int64_t n)
{
    fl_value list = FL_EMPTY;
    for (int64_t i = n - 1; i >= 0; i--)
        list = fl_cons(fl_make_int(i), list, 0);
    *slot = list;
    return FL_NIL;
}

int64_t helper_churn(int64_t n)
{
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        fl_value garbage = fl_make_string("garbage bytes", 13);
        kept += FL_STR(garbage)->nbytes;
    }
    return kept;
}

int64_t helper_sum_list(fl_value list)
{
    int64_t total = 0;
    for (; list != FL_EMPTY; list = FL_PAIR(list)->tail)
        total += fl_int_value(FL_PAIR(list)->head);
    return total;
}

/* A fault outside the guard region: must not be taken for a stack overflow. */
fl_value helper_null_deref(void)
{
    volatile int64_t *p = (volatile int64_t *)16;
    return *p;
}

/* A closure whose code adds its two arguments and its one captured value. */
static fl_value add_captured(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
{
    if (FL_NARGS(argc) != 2)
        return fl_arity_fail(self, argc);
    return fl_add(fl_add(a0, a1, FL_LOCOF(argc)), FL_CLOSURE(self)->free[0], FL_LOCOF(argc));
}

fl_value helper_make_adder(fl_value name, fl_value captured)
{
    fl_value c = fl_make_closure(add_captured, 2, 0, name, 1);
    FL_CLOSURE(c)->free[0] = captured;
    return c;
}

/* Sums its arguments; takes any number (exercises rest arrays and fl_collect_rest). */
static fl_value sum_rest(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
{
    fl_value list = fl_collect_rest(0, argc, a0, a1, a2, rest);
    fl_value total = FL_FIXNUM(0);
    for (; list != FL_EMPTY; list = FL_PAIR(list)->tail)
        total = fl_add(total, FL_PAIR(list)->head, 0);
    return total;
}

fl_value helper_make_summer(void)
{
    return fl_make_closure(sum_rest, 0, FL_CLOSURE_HAS_REST, fl_string_from_cstr("sum-all"), 0);
}

fl_value helper_perform(const char *op, int64_t n, fl_value *args)
{
    return fl_perform(fl_effect_op(op), FL_ARGC(n, raise_loc), n > 0 ? args[0] : FL_NIL,
                      n > 1 ? args[1] : FL_NIL, n > 2 ? args[2] : FL_NIL, n > 3 ? args + 3 : NULL);
}

static const char *perform_op;
static int64_t perform_n;
static fl_value *perform_args;
void helper_set_perform(const char *op, int64_t n, fl_value *args)
{
    perform_op = op;
    perform_n = n;
    perform_args = args;
}

fl_value helper_perform_entry(void)
{
    return helper_perform(perform_op, perform_n, perform_args);
}

/* Recursion that checks headroom like runtime code must: fl_check_stack
 * raises before the guard region is reached. */
static int64_t deep_checked(int64_t n)
{
    volatile char pad[64];
    pad[0] = (char)(n & 1);
    fl_check_stack(0);
    if (n == 0)
        return 0;
    return deep_checked(n - 1) + pad[0];
}

fl_value helper_deep_checked(void)
{
    return fl_make_int(deep_checked(depth_wanted));
}

/* Values held only in frames of the program stack while collections run
 * there: Boehm must scan the whole program stack (GC_set_stackbottom). */
static int64_t alloc_deep(int64_t n)
{
    volatile fl_value mine = fl_make_float((double)n + 0.5);
    if (n == 0) {
        fl_gc_collect();
        helper_churn(300000);
        fl_gc_collect();
        return 0;
    }
    int64_t below = alloc_deep(n - 1);
    fl_value again = fl_make_float((double)n + 0.5);   /* reuses any wrongly freed block */
    (void)again;
    return below + (fl_float_value(mine) == (double)n + 0.5 ? 1 : 0);
}

fl_value helper_deep_alloc(void)
{
    return fl_make_int(alloc_deep(depth_wanted));
}

/* What Boehm really reserved for an object: the size classes of fl_alloc. */
int64_t helper_heap_bytes(fl_value v)
{
    return (int64_t)GC_size((void *)(v - 1));
}

int64_t helper_alloc_bytes(int64_t nbytes)
{
    return (int64_t)GC_size(fl_alloc(nbytes));
}
