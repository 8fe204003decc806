/* runtime_lib_helpers.c -- test-only C for tests/test_runtime_lib.py.
 *
 * Small functions with the uniform closure signature (on fixnums only), so
 * the higher-order builtins can be driven over 10^6-element lists at C speed,
 * and rtlib_run_at, which calls a function through fl_run with a call-site
 * location id in argc, as generated code would.
 */
#include "fluentai.h"

#define HELPER(cname) \
    fl_value cname(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)

HELPER(rtlib_inc) { return FL_FIXNUM(FL_FIXNUM_VAL(a0) + 1); }
HELPER(rtlib_neg) { return FL_FIXNUM(-FL_FIXNUM_VAL(a0)); }
HELPER(rtlib_even_p) { return FL_BOOL((FL_FIXNUM_VAL(a0) & 1) == 0); }
HELPER(rtlib_add) { return FL_FIXNUM(FL_FIXNUM_VAL(a0) + FL_FIXNUM_VAL(a1)); }

/* even?, except that 3 is an error raised at the location it was called from. */
HELPER(rtlib_strict_even_p) {
    if (a0 == FL_FIXNUM(3)) fl_raise("value-error", FL_LOCOF(argc), "3 is not welcome");
    return FL_BOOL((FL_FIXNUM_VAL(a0) & 1) == 0);
}

static int64_t calls;
HELPER(rtlib_count) {
    calls++;
    return FL_NIL;
}
int64_t rtlib_calls(void) { return calls; }

static fl_value pending_fn;
static fl_value *pending_args;
static int64_t pending_n, pending_loc;

static fl_value call_pending(void) {
    return fl_call(pending_fn, FL_ARGC(pending_n, pending_loc), pending_n, pending_args);
}

void rtlib_run_at(fl_value fn, int64_t n, fl_value *args, int64_t loc, fl_outcome *out) {
    pending_fn = fn;
    pending_args = args;
    pending_n = n;
    pending_loc = loc;
    fl_run(call_pending, out);
}
