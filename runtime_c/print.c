/* print.c -- the written and display forms of every value (LANGUAGE.md
 * section 4), built into a growable byte buffer (fl_buf).
 *
 * Written form: strings quoted with escapes, everything readable back where
 * the language can read it. Display form: a top-level string raw, anything
 * else written. Lists are printed along their tails in a loop (no recursion
 * on length); only nesting recurses, with a stack headroom check.
 *
 * String escapes: \" \\ \n \t \r \0, other control characters (below 0x20,
 * and DEL) as \u{XX} in lowercase hex; every other character as itself.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fluentai.h"



/* ---- the buffer ---- */

void fl_buf_init(fl_buf *b)
{
    b->cap = 64;
    b->len = 0;
    b->data = fl_alloc_atomic(b->cap);
}

static void buf_reserve(fl_buf *b, int64_t extra)
{
    if (b->len + extra <= b->cap)
        return;
    int64_t cap = b->cap * 2;
    while (cap < b->len + extra)
        cap *= 2;
    char *data = fl_alloc_atomic(cap);
    memcpy(data, b->data, (size_t)b->len);
    b->data = data;
    b->cap = cap;
}

void fl_buf_put(fl_buf *b, const char *s, int64_t n)
{
    buf_reserve(b, n);
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
}

void fl_buf_puts(fl_buf *b, const char *s)
{
    fl_buf_put(b, s, (int64_t)strlen(s));
}

fl_value fl_buf_to_string(fl_buf *b)
{
    return fl_make_string(b->data, b->len);
}

/* ---- floats, as Python's repr ---- */

/* Digits "D.DDD" of a positive double in scientific form split into a digit
 * string and a decimal exponent. */
static int split_scientific(const char *sci, char *digits, int *exponent)
{
    int n = 0;
    const char *p = sci;
    for (; *p != 'e'; p++)
        if (*p != '.')
            digits[n++] = *p;
    *exponent = atoi(p + 1);
    return n;
}

/* Whether digits (d0.d1d2... x 10^exponent) read back as d. */
static int reads_back(const char *digits, int n, int exponent, double d)
{
    char text[48];
    int k = 0;
    text[k++] = digits[0];
    text[k++] = '.';
    for (int i = 1; i < n; i++)
        text[k++] = digits[i];
    snprintf(text + k, sizeof text - (size_t)k, "e%d", exponent);
    return strtod(text, NULL) == d;
}

/* The digit string one unit higher (step 1) or lower (step -1) in its last
 * place; 0 when that changes the number of leading digits. */
static int step_last_digit(char *digits, int n, int step)
{
    for (int i = n - 1; i >= 0; i--) {
        digits[i] += (char)step;
        if (digits[i] >= '0' && digits[i] <= '9')
            return digits[0] != '0';
        digits[i] = step > 0 ? '0' : '9';
    }
    return 0;
}

/* The shortest digits that read back as d (> 0), as Python's repr finds
 * them. glibc's printf rounds correctly, so the nearest p-digit decimal is
 * tried first; next to a power of two the interval of doubles reading back
 * as d is lopsided, and a neighbour of the nearest may read back when the
 * nearest does not. */
static int shortest_digits(double d, char *digits, int *exponent)
{
    char sci[40];
    for (int precision = 0; precision < 17; precision++) {
        snprintf(sci, sizeof sci, "%.*e", precision, d);
        int n = split_scientific(sci, digits, exponent);
        if (strtod(sci, NULL) == d)
            return n;
        for (int step = -1; step <= 1; step += 2) {
            char candidate[24];
            memcpy(candidate, digits, (size_t)n);
            if (step_last_digit(candidate, n, step) && reads_back(candidate, n, *exponent, d)) {
                memcpy(digits, candidate, (size_t)n);
                return n;
            }
        }
    }
    snprintf(sci, sizeof sci, "%.16e", d);
    return split_scientific(sci, digits, exponent);
}

/* Python's layout: scientific when the exponent is < -4 or >= 16, otherwise
 * positional with at least one digit after the point. */
static void format_float(double d, char *out)
{
    if (isnan(d)) {
        strcpy(out, "nan");
        return;
    }
    if (isinf(d)) {
        strcpy(out, d > 0 ? "inf" : "-inf");
        return;
    }
    char *o = out;
    if (signbit(d)) {
        *o++ = '-';
        d = -d;
    }
    if (d == 0) {
        strcpy(o, "0.0");
        return;
    }
    char digits[24];
    int exponent;
    int ndigits = shortest_digits(d, digits, &exponent);
    if (exponent < -4 || exponent >= 16) {
        *o++ = digits[0];
        if (ndigits > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)ndigits - 1);
            o += ndigits - 1;
        }
        sprintf(o, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
        return;
    }
    if (exponent < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = -1; i > exponent; i--)
            *o++ = '0';
        memcpy(o, digits, (size_t)ndigits);
        o += ndigits;
    } else {
        for (int i = 0; i <= exponent; i++)
            *o++ = i < ndigits ? digits[i] : '0';
        *o++ = '.';
        if (ndigits > exponent + 1) {
            memcpy(o, digits + exponent + 1, (size_t)(ndigits - exponent - 1));
            o += ndigits - exponent - 1;
        } else {
            *o++ = '0';
        }
    }
    *o = 0;
}

/* ---- printers for kinds owned by other subsystems ---- */

typedef void (*kind_printer)(fl_buf *b, fl_value v);
static kind_printer printers[32];

void fl_set_printer(int32_t kind, void (*print)(fl_buf *b, fl_value v))
{
    if (kind >= 0 && kind < 32)
        printers[kind] = print;
}

/* ---- values ---- */

typedef struct printer {
    fl_buf *b;
    int64_t limit;   /* stop once the buffer is this long (-1: no limit) */
} printer;

static int full(const printer *pr)
{
    return pr->limit >= 0 && pr->b->len >= pr->limit;
}

static void write_string_escaped(fl_buf *b, fl_value v)
{
    fl_string *s = FL_STR(v);
    fl_buf_put(b, "\"", 1);
    int64_t plain = 0;   /* start of the run of bytes copied as they are */
    for (int64_t i = 0; i < s->nbytes; i++) {
        unsigned char c = (unsigned char)s->bytes[i];
        const char *escape = NULL;
        char code[12];
        switch (c) {
        case '"': escape = "\\\""; break;
        case '\\': escape = "\\\\"; break;
        case '\n': escape = "\\n"; break;
        case '\t': escape = "\\t"; break;
        case '\r': escape = "\\r"; break;
        case 0: escape = "\\0"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(code, sizeof code, "\\u{%x}", c);
                escape = code;
            }
        }
        if (escape) {
            fl_buf_put(b, s->bytes + plain, i - plain);
            fl_buf_puts(b, escape);
            plain = i + 1;
        }
    }
    fl_buf_put(b, s->bytes + plain, s->nbytes - plain);
    fl_buf_put(b, "\"", 1);
}

static void write_value(printer *pr, fl_value v);

/* Digits by hand: to-string of ints is hot in string-building code, and
 * snprintf's format parsing costs more than the conversion. */
static void write_int(fl_buf *b, int64_t n)
{
    char text[24];
    char *end = text + sizeof text, *p = end;
    uint64_t u = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;   /* INT64_MIN included */
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (n < 0)
        *--p = '-';
    fl_buf_put(b, p, end - p);
}

static void write_list(printer *pr, fl_value v)
{
    fl_buf_put(pr->b, "[", 1);
    for (int first = 1; v != FL_EMPTY && !full(pr); first = 0, v = FL_PAIR(v)->tail) {
        if (!first)
            fl_buf_put(pr->b, " ", 1);
        write_value(pr, FL_PAIR(v)->head);
    }
    fl_buf_put(pr->b, v == FL_EMPTY ? "]" : " ...]", v == FL_EMPTY ? 1 : 5);
}

static void write_map(printer *pr, fl_value v)
{
    int64_t n = fl_map_size(v);
    fl_buf_put(pr->b, "{", 1);
    int64_t i = 0;
    for (; i < n && !full(pr); i++) {
        if (i)
            fl_buf_put(pr->b, " ", 1);
        write_value(pr, fl_map_key_at(v, i));
        fl_buf_put(pr->b, " ", 1);
        write_value(pr, fl_map_value_at(v, i));
    }
    fl_buf_put(pr->b, i == n ? "}" : " ...}", i == n ? 1 : 5);
}

static void write_data(printer *pr, fl_value v)
{
    fl_value *obj = FL_PTR(v);
    uint32_t n = ((fl_header *)obj)->aux;
    fl_buf_put(pr->b, "(", 1);
    if (FL_IS_STRING(obj[1]))
        fl_buf_put(pr->b, FL_STR(obj[1])->bytes, FL_STR(obj[1])->nbytes);
    else
        write_value(pr, obj[1]);
    for (uint32_t i = 0; i < n && !full(pr); i++) {
        fl_buf_put(pr->b, " ", 1);
        write_value(pr, obj[2 + i]);
    }
    fl_buf_put(pr->b, ")", 1);
}

static void write_closure(fl_buf *b, fl_value v)
{
    fl_closure *c = FL_CLOSURE(v);
    fl_buf_puts(b, c->flags & FL_CLOSURE_BUILTIN ? "#<builtin" : "#<function");
    if (FL_IS_STRING(c->name)) {
        fl_buf_put(b, " ", 1);
        fl_buf_put(b, FL_STR(c->name)->bytes, FL_STR(c->name)->nbytes);
    } else if (FL_IS_KIND(c->name, FL_K_SYMBOL)) {
        fl_value name = ((fl_value *)FL_PTR(c->name))[1];
        fl_buf_put(b, " ", 1);
        fl_buf_put(b, FL_STR(name)->bytes, FL_STR(name)->nbytes);
    }
    fl_buf_put(b, ">", 1);
}

static void write_immediate(fl_buf *b, fl_value v)
{
    switch (v) {
    case FL_TRUE: fl_buf_puts(b, "true"); return;
    case FL_FALSE: fl_buf_puts(b, "false"); return;
    case FL_NIL: fl_buf_puts(b, "nil"); return;
    case FL_EMPTY: fl_buf_puts(b, "[]"); return;
    case FL_UNBOUND: fl_buf_puts(b, "#<unbound>"); return;
    }
    fl_buf_puts(b, "#<unknown>");
}

static void write_heap(printer *pr, fl_value v)
{
    fl_buf *b = pr->b;
    uint32_t kind = FL_KIND(v);
    if (kind < 32 && printers[kind]) {
        printers[kind](b, v);
        return;
    }
    char text[40];
    switch (kind) {
    case FL_K_INT: write_int(b, fl_int_value(v)); return;
    case FL_K_FLOAT:
        format_float(fl_float_value(v), text);
        fl_buf_puts(b, text);
        return;
    case FL_K_STRING: write_string_escaped(b, v); return;
    case FL_K_PAIR: write_list(pr, v); return;
    case FL_K_CLOSURE: write_closure(b, v); return;
    case FL_K_KEYWORD:
        fl_buf_put(b, ":", 1);
        /* fallthrough */   /* the name follows, as for a symbol */
    case FL_K_SYMBOL: {
        fl_value name = ((fl_value *)FL_PTR(v))[1];
        fl_buf_put(b, FL_STR(name)->bytes, FL_STR(name)->nbytes);
        return;
    }
    case FL_K_MAP: write_map(pr, v); return;
    case FL_K_DATA: write_data(pr, v); return;
    case FL_K_CELL:
        fl_buf_puts(b, "#<cell ");
        write_value(pr, ((fl_cell *)FL_PTR(v))->value);
        fl_buf_puts(b, ">");
        return;
    case FL_K_PROMISE: fl_buf_puts(b, "#<promise>"); return;
    case FL_K_CHANNEL: fl_buf_puts(b, "#<channel>"); return;
    }
    fl_buf_puts(b, "#<unknown>");
}

static void write_value(printer *pr, fl_value v)
{
    fl_check_stack(0);
    if (FL_IS_FIXNUM(v))
        write_int(pr->b, FL_FIXNUM_VAL(v));
    else if (FL_IS_HEAP(v))
        write_heap(pr, v);
    else
        write_immediate(pr->b, v);
}

void fl_buf_write_value(fl_buf *b, fl_value v, int display)
{
    if (display && FL_IS_STRING(v)) {
        fl_buf_put(b, FL_STR(v)->bytes, FL_STR(v)->nbytes);
        return;
    }
    printer pr = {b, -1};
    write_value(&pr, v);
}

/* Cut on a code-point boundary so the result stays valid UTF-8. */
void fl_buf_write_value_capped(fl_buf *b, fl_value v, int display, int64_t max_bytes)
{
    int64_t start = b->len;
    if (display && FL_IS_STRING(v)) {
        fl_buf_put(b, FL_STR(v)->bytes, FL_STR(v)->nbytes);
    } else {
        printer pr = {b, start + max_bytes};
        write_value(&pr, v);
    }
    if (b->len - start <= max_bytes + 5)
        return;
    int64_t cut = start + max_bytes;
    while (cut > start && (b->data[cut] & 0xC0) == 0x80)
        cut--;
    b->len = cut;
    fl_buf_puts(b, "...");
}

fl_value fl_show(fl_value v)
{
    fl_buf b;
    fl_buf_init(&b);
    fl_buf_write_value(&b, v, 0);
    return fl_buf_to_string(&b);
}

fl_value fl_to_display(fl_value v)
{
    if (FL_IS_STRING(v))
        return v;
    return fl_show(v);
}

void fl_write_display(fl_value v)
{
    if (FL_IS_STRING(v)) {
        fwrite(FL_STR(v)->bytes, 1, (size_t)FL_STR(v)->nbytes, stdout);
        return;
    }
    fl_buf b;
    fl_buf_init(&b);
    fl_buf_write_value(&b, v, 1);
    fwrite(b.data, 1, (size_t)b.len, stdout);
}

