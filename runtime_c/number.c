/* number.c -- arithmetic and comparison: the slow paths behind the inlined
 * fixnum fast paths (boxed ints, floats, mixed operands, overflow, type
 * errors) and every builtin of LANGUAGE.md section 5 "Numbers".
 *
 * Ints are int64: a result outside int64 is an overflow-error, never a wrap;
 * an int and a float combine as floats; comparisons between an int and a
 * float are exact (no rounding of the int through double).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fluentai.h"

/* A number unpacked: kind NUM_INT uses i, NUM_FLOAT uses d. */
enum { NUM_NONE = 0, NUM_INT = 1, NUM_FLOAT = 2 };
typedef struct number { int kind; int64_t i; double d; } number;

static number unpack(fl_value v)
{
    number n = {NUM_NONE, 0, 0.0};
    if (FL_IS_FIXNUM(v)) {
        n.kind = NUM_INT;
        n.i = FL_FIXNUM_VAL(v);
    } else if (FL_IS_KIND(v, FL_K_INT)) {
        n.kind = NUM_INT;
        n.i = fl_int_value(v);
    } else if (FL_IS_FLOAT(v)) {
        n.kind = NUM_FLOAT;
        n.d = fl_float_value(v);
    }
    return n;
}

static double as_double(number n)
{
    return n.kind == NUM_INT ? (double)n.i : n.d;
}

static number unpack_or_fail(const char *fname, fl_value v, int64_t loc)
{
    number n = unpack(v);
    if (n.kind == NUM_NONE)
        fl_type_fail(fname, "numbers", v, loc);
    return n;
}

static void overflow(const char *fname, int64_t loc)
{
    fl_raise("overflow-error", loc, "integer overflow in `%s`", fname);
}

/* The overflow of `+` or `-` of two raw int64s in a raw-ints clone
 * (passes/specialise_fixnums.py): the error the generic operation raises for
 * the same operands. One call with constants keeps the clone's frame small. */
void fl_int_overflow(const char *fname, int64_t loc)
{
    overflow(fname, loc);
}

/* The slow path of an unboxed float operation's operand (generated code tests
 * fixnums and heap floats inline): boxed ints convert, anything else is the
 * type error the generic operation `fname` would raise. */
static double number_to_double(fl_value v, const char *fname, int64_t loc)
{
    return as_double(unpack_or_fail(fname, v, loc));
}

/* ---- the four operations ---- */

static fl_value add_numbers(fl_value a, fl_value b, int64_t loc)
{
    number x = unpack_or_fail("+", a, loc), y = unpack_or_fail("+", b, loc);
    if (x.kind == NUM_INT && y.kind == NUM_INT) {
        int64_t r;
        if (__builtin_add_overflow(x.i, y.i, &r))
            overflow("+", loc);
        return fl_make_int(r);
    }
    return fl_make_float(as_double(x) + as_double(y));
}

static fl_value sub_numbers(fl_value a, fl_value b, int64_t loc)
{
    number x = unpack_or_fail("-", a, loc), y = unpack_or_fail("-", b, loc);
    if (x.kind == NUM_INT && y.kind == NUM_INT) {
        int64_t r;
        if (__builtin_sub_overflow(x.i, y.i, &r))
            overflow("-", loc);
        return fl_make_int(r);
    }
    return fl_make_float(as_double(x) - as_double(y));
}

static fl_value mul_numbers(fl_value a, fl_value b, int64_t loc)
{
    number x = unpack_or_fail("*", a, loc), y = unpack_or_fail("*", b, loc);
    if (x.kind == NUM_INT && y.kind == NUM_INT) {
        int64_t r;
        if (__builtin_mul_overflow(x.i, y.i, &r))
            overflow("*", loc);
        return fl_make_int(r);
    }
    return fl_make_float(as_double(x) * as_double(y));
}

static void division_by_zero(int64_t loc)
{
    fl_raise("division-by-zero", loc, "division by zero");
}

static fl_value div_numbers(fl_value a, fl_value b, int64_t loc)
{
    number x = unpack_or_fail("/", a, loc), y = unpack_or_fail("/", b, loc);
    if (x.kind == NUM_INT && y.kind == NUM_INT) {
        if (y.i == 0)
            division_by_zero(loc);
        if (x.i == INT64_MIN && y.i == -1)
            overflow("/", loc);
        return fl_make_int(x.i / y.i);   /* C truncates toward zero */
    }
    return fl_make_float(as_double(x) / as_double(y));
}

static fl_value negate_number(fl_value a, int64_t loc)
{
    number x = unpack_or_fail("-", a, loc);
    if (x.kind == NUM_INT) {
        if (x.i == INT64_MIN)
            overflow("-", loc);
        return fl_make_int(-x.i);
    }
    return fl_make_float(-x.d);
}

/* ---- comparison ---- */

/* -1, 0, 1 for an exact comparison of an int with a float; 2 when d is NaN. */
static int compare_int_float(int64_t i, double d)
{
    if (isnan(d))
        return 2;
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    double whole = trunc(d);
    int64_t t = (int64_t)whole;
    if (i != t)
        return i < t ? -1 : 1;
    double frac = d - whole;
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

/* -1, 0, 1, or 2 when unordered (a NaN is involved). */
static int compare_numbers(number x, number y)
{
    if (x.kind == NUM_INT && y.kind == NUM_INT)
        return x.i < y.i ? -1 : x.i > y.i;
    if (x.kind == NUM_INT)
        return compare_int_float(x.i, y.d);
    if (y.kind == NUM_INT) {
        int c = compare_int_float(y.i, x.d);
        return c == 2 ? 2 : -c;
    }
    if (x.d < y.d)
        return -1;
    if (x.d > y.d)
        return 1;
    return x.d == y.d ? 0 : 2;
}

static int compare_strings(fl_value a, fl_value b)
{
    fl_string *s = FL_STR(a), *t = FL_STR(b);
    int64_t n = s->nbytes < t->nbytes ? s->nbytes : t->nbytes;
    int c = memcmp(s->bytes, t->bytes, (size_t)n);   /* UTF-8 byte order = code-point order */
    if (c)
        return c < 0 ? -1 : 1;
    return s->nbytes < t->nbytes ? -1 : s->nbytes > t->nbytes;
}

/* Two numbers or two strings; the first operand decides which is expected. */
static int compare_values(const char *fname, fl_value a, fl_value b, int64_t loc)
{
    if (FL_IS_STRING(a)) {
        if (!FL_IS_STRING(b))
            fl_type_fail(fname, "strings", b, loc);
        return compare_strings(a, b);
    }
    number x = unpack(a);
    if (x.kind == NUM_NONE)
        fl_type_fail(fname, "numbers or strings", a, loc);
    return compare_numbers(x, unpack_or_fail(fname, b, loc));
}

static int32_t less(fl_value a, fl_value b, int64_t loc) { return compare_values("<", a, b, loc) == -1; }
static int32_t less_equal(fl_value a, fl_value b, int64_t loc) { int c = compare_values("<=", a, b, loc); return c == -1 || c == 0; }
static int32_t greater(fl_value a, fl_value b, int64_t loc) { return compare_values(">", a, b, loc) == 1; }
static int32_t greater_equal(fl_value a, fl_value b, int64_t loc) { int c = compare_values(">=", a, b, loc); return c == 1 || c == 0; }

int32_t fl_num_eq(fl_value a, fl_value b, int64_t loc)
{
    (void)loc;
    return fl_equal(a, b);
}

/* ---- the slow paths generated code calls, as resume points ----
 * Generated code calls these when an inline fast path misses; a fault inside
 * returns an error:catch handler's answer as the operation's value (a comparison
 * in a test takes the answer's truthiness; an unboxed-float operand, the
 * answer as a float, or NaN if it is not a number). The builtins above call the
 * unguarded versions, so a fault inside `(+ 1 "a" 2)` resumes the whole call. */

#define FL_RESUME_AS_TRUTH(v) ((int32_t)FL_TRUTHY(v))
static double resume_as_double(fl_value v)
{
    number n = unpack(v);
    return n.kind == NUM_NONE ? __builtin_nan("") : as_double(n);
}

#define BINARY_PARAMS (fl_value a, fl_value b, int64_t loc)
#define BINARY_ARGS (a, b, loc)
FL_RESUME_ENTRY(fl_value, fl_add, BINARY_PARAMS, BINARY_ARGS, add_numbers, FL_RESUME_AS_VALUE)
FL_RESUME_ENTRY(fl_value, fl_sub, BINARY_PARAMS, BINARY_ARGS, sub_numbers, FL_RESUME_AS_VALUE)
FL_RESUME_ENTRY(fl_value, fl_mul, BINARY_PARAMS, BINARY_ARGS, mul_numbers, FL_RESUME_AS_VALUE)
FL_RESUME_ENTRY(fl_value, fl_div, BINARY_PARAMS, BINARY_ARGS, div_numbers, FL_RESUME_AS_VALUE)
FL_RESUME_ENTRY(fl_value, fl_neg, (fl_value a, int64_t loc), (a, loc), negate_number, FL_RESUME_AS_VALUE)
FL_RESUME_ENTRY(int32_t, fl_lt, BINARY_PARAMS, BINARY_ARGS, less, FL_RESUME_AS_TRUTH)
FL_RESUME_ENTRY(int32_t, fl_le, BINARY_PARAMS, BINARY_ARGS, less_equal, FL_RESUME_AS_TRUTH)
FL_RESUME_ENTRY(int32_t, fl_gt, BINARY_PARAMS, BINARY_ARGS, greater, FL_RESUME_AS_TRUTH)
FL_RESUME_ENTRY(int32_t, fl_ge, BINARY_PARAMS, BINARY_ARGS, greater_equal, FL_RESUME_AS_TRUTH)

FL_RESUME_ENTRY(double, fl_number_to_double, (fl_value v, const char *fname, int64_t loc), (v, fname, loc),
                number_to_double, resume_as_double)

/* ---- variadic arithmetic builtins ---- */

typedef fl_value (*binary_op)(fl_value, fl_value, int64_t);

static fl_value fold_args(binary_op op, fl_value acc, int64_t first, int64_t argc,
                          fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
{
    int64_t n = FL_NARGS(argc), loc = FL_LOCOF(argc);
    for (int64_t i = first; i < n; i++)
        acc = op(acc, FL_ARG(i), loc);
    return acc;
}

FL_BUILTIN(fl_bi_add)
{
    (void)self;
    return fold_args(add_numbers, FL_FIXNUM(0), 0, argc, a0, a1, a2, rest);
}

FL_BUILTIN(fl_bi_mul)
{
    (void)self;
    return fold_args(mul_numbers, FL_FIXNUM(1), 0, argc, a0, a1, a2, rest);
}

FL_BUILTIN(fl_bi_sub)
{
    (void)self;
    fl_arity_check("-", argc, 1, -1);
    if (FL_NARGS(argc) == 1)
        return negate_number(a0, FL_LOCOF(argc));
    unpack_or_fail("-", a0, FL_LOCOF(argc));
    return fold_args(sub_numbers, a0, 1, argc, a0, a1, a2, rest);
}

/* (/ x) is (/ 1 x), as in Scheme. */
FL_BUILTIN(fl_bi_div)
{
    (void)self;
    fl_arity_check("/", argc, 1, -1);
    if (FL_NARGS(argc) == 1)
        return div_numbers(FL_FIXNUM(1), a0, FL_LOCOF(argc));
    unpack_or_fail("/", a0, FL_LOCOF(argc));
    return fold_args(div_numbers, a0, 1, argc, a0, a1, a2, rest);
}

/* ---- integer division family ---- */

enum division { FLOORED_MOD, TRUNCATED_QUOTIENT, TRUNCATED_REMAINDER };

static fl_value divide(const char *fname, enum division how, int64_t argc, fl_value a, fl_value b)
{
    int64_t loc = FL_LOCOF(argc);
    fl_arity_check(fname, argc, 2, 2);
    number x = unpack_or_fail(fname, a, loc), y = unpack_or_fail(fname, b, loc);
    if (x.kind == NUM_INT && y.kind == NUM_INT) {
        if (y.i == 0)
            division_by_zero(loc);
        if (y.i == -1) {   /* INT64_MIN / -1 traps in hardware */
            if (how != TRUNCATED_QUOTIENT)
                return FL_FIXNUM(0);
            if (x.i == INT64_MIN)
                overflow(fname, loc);
            return fl_make_int(-x.i);
        }
        int64_t q = x.i / y.i, r = x.i % y.i;
        if (how == TRUNCATED_QUOTIENT)
            return fl_make_int(q);
        if (how == FLOORED_MOD && r != 0 && ((r < 0) != (y.i < 0)))
            r += y.i;
        return fl_make_int(r);
    }
    /* Floats follow IEEE: a zero divisor gives a NaN or an infinity, no error. */
    double u = as_double(x), v = as_double(y);
    if (how == TRUNCATED_QUOTIENT)
        return fl_make_float(trunc(u / v));
    double r = fmod(u, v);
    if (how == FLOORED_MOD && r != 0 && ((r < 0) != (v < 0)))
        r += v;
    return fl_make_float(r);
}

FL_BUILTIN(fl_bi_mod)
{
    (void)self; (void)a2; (void)rest;
    return divide("mod", FLOORED_MOD, argc, a0, a1);
}

FL_BUILTIN(fl_bi_quotient)
{
    (void)self; (void)a2; (void)rest;
    return divide("quotient", TRUNCATED_QUOTIENT, argc, a0, a1);
}

FL_BUILTIN(fl_bi_remainder)
{
    (void)self; (void)a2; (void)rest;
    return divide("remainder", TRUNCATED_REMAINDER, argc, a0, a1);
}

/* ---- one-argument functions ---- */

FL_BUILTIN(fl_bi_abs)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    fl_arity_check("abs", argc, 1, 1);
    number x = unpack_or_fail("abs", a0, FL_LOCOF(argc));
    if (x.kind == NUM_FLOAT)
        return fl_make_float(fabs(x.d));
    if (x.i >= 0)
        return a0;
    if (x.i == INT64_MIN)
        overflow("abs", FL_LOCOF(argc));
    return fl_make_int(-x.i);
}

/* A float rounded to an integral value, as an int; NaN and out-of-range fail. */
static fl_value integral_float_to_int(const char *fname, double d, int64_t loc)
{
    if (isnan(d))
        fl_raise("value-error", loc, "`%s`: cannot convert nan to an int", fname);
    if (isinf(d))
        fl_raise("overflow-error", loc, "`%s`: cannot convert %s to an int", fname, d > 0 ? "inf" : "-inf");
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        overflow(fname, loc);
    return fl_make_int((int64_t)d);
}

static fl_value round_with(const char *fname, double (*rounding)(double), int64_t argc, fl_value a0)
{
    fl_arity_check(fname, argc, 1, 1);
    number x = unpack_or_fail(fname, a0, FL_LOCOF(argc));
    if (x.kind == NUM_INT)
        return a0;
    return integral_float_to_int(fname, rounding(x.d), FL_LOCOF(argc));
}

FL_BUILTIN(fl_bi_floor)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    return round_with("floor", floor, argc, a0);
}

FL_BUILTIN(fl_bi_ceil)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    return round_with("ceil", ceil, argc, a0);
}

/* nearbyint in the default rounding mode takes halves to even, like Python's round. */
FL_BUILTIN(fl_bi_round)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    return round_with("round", nearbyint, argc, a0);
}

/* IEEE: the square root of a negative number is NaN. */
FL_BUILTIN(fl_bi_sqrt)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    fl_arity_check("sqrt", argc, 1, 1);
    return fl_make_float(sqrt(as_double(unpack_or_fail("sqrt", a0, FL_LOCOF(argc)))));
}

static fl_value int_power(int64_t base, int64_t exponent, int64_t loc)
{
    int64_t result = 1;
    while (exponent > 0) {
        if ((exponent & 1) && __builtin_mul_overflow(result, base, &result))
            overflow("expt", loc);
        exponent >>= 1;
        if (exponent > 0 && __builtin_mul_overflow(base, base, &base))
            overflow("expt", loc);
    }
    return fl_make_int(result);
}

FL_BUILTIN(fl_bi_expt)
{
    (void)self; (void)a2; (void)rest;
    int64_t loc = FL_LOCOF(argc);
    fl_arity_check("expt", argc, 2, 2);
    number x = unpack_or_fail("expt", a0, loc), y = unpack_or_fail("expt", a1, loc);
    if (x.kind == NUM_INT && y.kind == NUM_INT && y.i >= 0)
        return int_power(x.i, y.i, loc);
    return fl_make_float(pow(as_double(x), as_double(y)));
}

/* ---- conversions ---- */

/* The text without surrounding ASCII whitespace, as Python's int()/float() accept it. */
static void trimmed(fl_value s, const char **start, int64_t *len)
{
    const char *p = FL_STR(s)->bytes;
    int64_t n = FL_STR(s)->nbytes;
    while (n > 0 && isspace((unsigned char)*p)) {
        p++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)p[n - 1]))
        n--;
    *start = p;
    *len = n;
}

static void unparsable(const char *fname, const char *what, fl_value s, int64_t loc)
{
    fl_buf b;
    fl_buf_init(&b);
    fl_buf_write_value_capped(&b, s, 0, 80);
    fl_buf_put(&b, "", 1);
    fl_raise("value-error", loc, "`%s` cannot parse %s as %s", fname, b.data, what);
}

static fl_value parse_int(fl_value s, int64_t loc)
{
    const char *p;
    int64_t n;
    trimmed(s, &p, &n);
    int negative = n > 0 && p[0] == '-';
    int64_t i = (n > 0 && (p[0] == '-' || p[0] == '+')) ? 1 : 0;
    if (i == n)
        unparsable("to-int", "an int", s, loc);
    int64_t value = 0;   /* accumulated negatively so INT64_MIN parses */
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            unparsable("to-int", "an int", s, loc);
        if (__builtin_mul_overflow(value, 10, &value) || __builtin_sub_overflow(value, p[i] - '0', &value))
            overflow("to-int", loc);
    }
    if (!negative) {
        if (value == INT64_MIN)
            overflow("to-int", loc);
        value = -value;
    }
    return fl_make_int(value);
}

FL_BUILTIN(fl_bi_to_int)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    int64_t loc = FL_LOCOF(argc);
    fl_arity_check("to-int", argc, 1, 1);
    if (FL_IS_STRING(a0))
        return parse_int(a0, loc);
    number x = unpack(a0);
    if (x.kind == NUM_NONE)
        fl_type_fail("to-int", "a number or a string", a0, loc);
    if (x.kind == NUM_INT)
        return a0;
    return integral_float_to_int("to-int", trunc(x.d), loc);
}

/* Python's float() syntax: decimal or exponent notation, inf, infinity, nan;
 * strtod's hexadecimal and nan(...) forms are refused. */
static fl_value parse_float(fl_value s, int64_t loc)
{
    const char *p;
    int64_t n;
    trimmed(s, &p, &n);
    if (n == 0 || n > 400 || memchr(p, 'x', (size_t)n) || memchr(p, 'X', (size_t)n) ||
        memchr(p, '(', (size_t)n))
        unparsable("to-float", "a float", s, loc);
    char text[401];
    memcpy(text, p, (size_t)n);
    text[n] = 0;
    char *end;
    double d = strtod(text, &end);
    if (end != text + n)
        unparsable("to-float", "a float", s, loc);
    return fl_make_float(d);
}

FL_BUILTIN(fl_bi_to_float)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    int64_t loc = FL_LOCOF(argc);
    fl_arity_check("to-float", argc, 1, 1);
    if (FL_IS_STRING(a0))
        return parse_float(a0, loc);
    number x = unpack(a0);
    if (x.kind == NUM_NONE)
        fl_type_fail("to-float", "a number or a string", a0, loc);
    return x.kind == NUM_FLOAT ? a0 : fl_make_float((double)x.i);
}

/* ---- min and max: the chosen operand itself, unchanged ---- */

static fl_value choose(const char *fname, int want, int64_t argc, fl_value a0, fl_value a1,
                       fl_value a2, fl_value *rest)
{
    int64_t n = FL_NARGS(argc), loc = FL_LOCOF(argc);
    fl_arity_check(fname, argc, 1, -1);
    fl_value best = a0;
    number best_number = unpack_or_fail(fname, a0, loc);
    for (int64_t i = 1; i < n; i++) {
        fl_value v = FL_ARG(i);
        number x = unpack_or_fail(fname, v, loc);
        if (compare_numbers(x, best_number) == want) {
            best = v;
            best_number = x;
        }
    }
    return best;
}

FL_BUILTIN(fl_bi_min)
{
    (void)self;
    return choose("min", -1, argc, a0, a1, a2, rest);
}

FL_BUILTIN(fl_bi_max)
{
    (void)self;
    return choose("max", 1, argc, a0, a1, a2, rest);
}

/* ---- chained comparisons ---- */

/* Checks every operand's type first (all numbers, or all strings), then the chain. */
static fl_value compare_chain(const char *fname, int (*holds)(int), int64_t argc,
                              fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
{
    int64_t n = FL_NARGS(argc), loc = FL_LOCOF(argc);
    fl_arity_check(fname, argc, 2, -1);
    for (int64_t i = 1; i < n; i++)
        compare_values(fname, a0, FL_ARG(i), loc);
    for (int64_t i = 0; i + 1 < n; i++)
        if (!holds(compare_values(fname, FL_ARG(i), FL_ARG(i + 1), loc)))
            return FL_FALSE;
    return FL_TRUE;
}

static int holds_lt(int c) { return c == -1; }
static int holds_gt(int c) { return c == 1; }
static int holds_le(int c) { return c == -1 || c == 0; }
static int holds_ge(int c) { return c == 1 || c == 0; }

FL_BUILTIN(fl_bi_lt)
{
    (void)self;
    return compare_chain("<", holds_lt, argc, a0, a1, a2, rest);
}

FL_BUILTIN(fl_bi_gt)
{
    (void)self;
    return compare_chain(">", holds_gt, argc, a0, a1, a2, rest);
}

FL_BUILTIN(fl_bi_le)
{
    (void)self;
    return compare_chain("<=", holds_le, argc, a0, a1, a2, rest);
}

FL_BUILTIN(fl_bi_ge)
{
    (void)self;
    return compare_chain(">=", holds_ge, argc, a0, a1, a2, rest);
}

/* ---- equality and not ---- */

static int all_equal(int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
{
    int64_t n = FL_NARGS(argc);
    for (int64_t i = 0; i + 1 < n; i++)
        if (!fl_equal(FL_ARG(i), FL_ARG(i + 1)))
            return 0;
    return 1;
}

FL_BUILTIN(fl_bi_eq)
{
    (void)self;
    fl_arity_check("==", argc, 1, -1);
    return FL_BOOL(all_equal(argc, a0, a1, a2, rest));
}

FL_BUILTIN(fl_bi_eq_alias)
{
    (void)self;
    fl_arity_check("=", argc, 1, -1);
    return FL_BOOL(all_equal(argc, a0, a1, a2, rest));
}

FL_BUILTIN(fl_bi_ne)
{
    (void)self;
    fl_arity_check("!=", argc, 2, -1);
    return FL_BOOL(!all_equal(argc, a0, a1, a2, rest));
}

FL_BUILTIN(fl_bi_not_eq)
{
    (void)self;
    fl_arity_check("not=", argc, 2, -1);
    return FL_BOOL(!all_equal(argc, a0, a1, a2, rest));
}

FL_BUILTIN(fl_bi_not)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    fl_arity_check("not", argc, 1, 1);
    return FL_BOOL(!FL_TRUTHY(a0));
}

const fl_builtin_def fl_number_builtins[] = {
    {"+", fl_bi_add, 0, -1},
    {"-", fl_bi_sub, 1, -1},
    {"*", fl_bi_mul, 0, -1},
    {"/", fl_bi_div, 1, -1},
    {"mod", fl_bi_mod, 2, 2},
    {"quotient", fl_bi_quotient, 2, 2},
    {"remainder", fl_bi_remainder, 2, 2},
    {"abs", fl_bi_abs, 1, 1},
    {"min", fl_bi_min, 1, -1},
    {"max", fl_bi_max, 1, -1},
    {"floor", fl_bi_floor, 1, 1},
    {"ceil", fl_bi_ceil, 1, 1},
    {"round", fl_bi_round, 1, 1},
    {"sqrt", fl_bi_sqrt, 1, 1},
    {"expt", fl_bi_expt, 2, 2},
    {"to-int", fl_bi_to_int, 1, 1},
    {"to-float", fl_bi_to_float, 1, 1},
    {"<", fl_bi_lt, 2, -1},
    {">", fl_bi_gt, 2, -1},
    {"<=", fl_bi_le, 2, -1},
    {">=", fl_bi_ge, 2, -1},
    {"==", fl_bi_eq, 1, -1},
    {"=", fl_bi_eq_alias, 1, -1},
    {"!=", fl_bi_ne, 2, -1},
    {"not=", fl_bi_not_eq, 2, -1},
    {"not", fl_bi_not, 1, 1},
    {NULL, NULL, 0, 0},
};
