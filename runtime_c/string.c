/* string.c -- immutable UTF-8 strings and the string builtins.
 *
 * In:  string values {hdr(aux = 1 if all ASCII), nbytes, ncodepoints, bytes
 *      NUL-terminated}, always valid UTF-8, or ropes (fl_rope: a long
 *      string-append not copied yet), which every reader sees flat via FL_STR.
 * Out: the builtins of LANGUAGE.md section 5 "Strings" (plus to-string, show
 *      and print-line) in fl_string_builtins[].
 *
 * Lengths and indices count code points. An ASCII string (aux = 1) indexes by
 * byte directly; others are scanned. Searching works on bytes: a valid UTF-8
 * needle can only match a valid UTF-8 haystack on character boundaries. Edge
 * cases follow Python's str methods. New strings are filled in place, so their
 * code-point count comes from the parts and nothing is decoded twice.
 */
#define _GNU_SOURCE   /* memmem */
#include "fluentai.h"

#include <string.h>

void *fl_alloc_atomic(int64_t nbytes);   /* module.c: GC memory Boehm does not scan */

#define BUILTIN(cname) FL_BUILTIN(cname)   /* a resume point for error:catch (fluentai.h) */

static int is_pair(fl_value v) { return FL_IS_KIND(v, FL_K_PAIR); }

static fl_string *string_arg(const char *fname, fl_value v, int64_t loc) {
    if (!FL_IS_STRING(v)) fl_type_fail(fname, "a string", v, loc);
    return FL_STR(v);
}

/* ---- making strings ------------------------------------------------------- */

/* Room for nbytes bytes; the caller fills them, then seals with the count. */
static fl_string *string_alloc(int64_t nbytes) {
    fl_string *s = fl_alloc_atomic((int64_t)sizeof(fl_string) + nbytes + 1);
    s->hdr.kind = FL_K_STRING;
    s->nbytes = nbytes;
    s->bytes[nbytes] = 0;
    return s;
}

/* A string is all ASCII exactly when each code point is one byte. */
static fl_value string_seal(fl_string *s, int64_t ncodepoints) {
    s->ncodepoints = ncodepoints;
    s->hdr.aux = ncodepoints == s->nbytes;
    return FL_HEAP(s);
}

static int64_t count_codepoints(const char *bytes, int64_t n) {
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) count += ((unsigned char)bytes[i] & 0xC0) != 0x80;
    return count;
}

static fl_value string_from(const char *bytes, int64_t nbytes, int64_t ncodepoints) {
    fl_string *s = string_alloc(nbytes);
    memcpy(s->bytes, bytes, (size_t)nbytes);
    return string_seal(s, ncodepoints);
}

/* One-character ASCII strings are shared: string->list and string-ref make many. */
static fl_value ascii_char(unsigned char c) {
    static fl_value *table;   /* runtime-owned uncollectable slots: the GC sees them */
    if (!table) table = fl_constants_new(128);
    if (table[c] == FL_NIL) table[c] = string_from((const char *)&c, 1, 1);
    return table[c];
}

/* The bytes [from, to) of s as a new string. */
static fl_value slice(const fl_string *s, int64_t from, int64_t to) {
    int64_t n = to - from;
    if (n == 1 && (unsigned char)s->bytes[from] < 0x80) return ascii_char((unsigned char)s->bytes[from]);
    return string_from(s->bytes + from, n, s->hdr.aux ? n : count_codepoints(s->bytes + from, n));
}

/* ---- UTF-8 ---------------------------------------------------------------- */

static int utf8_width(unsigned char lead) { return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4; }

static int32_t utf8_decode(const char *p) {
    const unsigned char *u = (const unsigned char *)p;
    switch (utf8_width(u[0])) {
    case 1: return u[0];
    case 2: return (u[0] & 0x1F) << 6 | (u[1] & 0x3F);
    case 3: return (u[0] & 0x0F) << 12 | (u[1] & 0x3F) << 6 | (u[2] & 0x3F);
    default: return (u[0] & 0x07) << 18 | (u[1] & 0x3F) << 12 | (u[2] & 0x3F) << 6 | (u[3] & 0x3F);
    }
}

static int utf8_encoded_width(int32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

static int utf8_encode(int32_t cp, char *out) {
    int n = utf8_encoded_width(cp);
    static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
    for (int i = n - 1; i > 0; i--, cp >>= 6) out[i] = (char)(0x80 | (cp & 0x3F));
    out[0] = (char)(n == 1 ? cp : lead[n] | cp);
    return n;
}

/* The byte offset `count` code points after byte offset `from`. */
static int64_t skip_codepoints(const fl_string *s, int64_t from, int64_t count) {
    if (s->hdr.aux) return from + count;
    for (; count > 0; count--) from += utf8_width((unsigned char)s->bytes[from]);
    return from;
}

static int64_t codepoint_index(const fl_string *s, int64_t byte_offset) {
    return s->hdr.aux ? byte_offset : count_codepoints(s->bytes, byte_offset);
}

/* ---- concatenation -------------------------------------------------------- */

/* Results at least this long are ropes: below it one copy is cheaper than a
 * node and a later flattening, and the string stays flat for its readers. */
#define ROPE_MIN 256

/* a ++ b as a rope node: O(1), nothing is copied until a reader needs bytes. */
static fl_value rope(fl_value a, fl_value b) {
    fl_string *x = FL_STR_HEAD(a), *y = FL_STR_HEAD(b);
    if (x->nbytes == 0) return b;
    if (y->nbytes == 0) return a;
    fl_rope *r = fl_alloc((int64_t)sizeof(fl_rope));
    r->hdr.kind = FL_K_STRING;
    r->hdr.aux = FL_STRING_ROPE;
    r->nbytes = x->nbytes + y->nbytes;
    r->ncodepoints = x->ncodepoints + y->ncodepoints;
    r->left = a;
    r->right = b;
    return FL_HEAP(r);
}

/* The one place a rope's bytes are made: copied right to left into a new flat
 * string (an explicit stack, as a string grown in a loop is a rope as deep as
 * the loop ran), which the rope then keeps instead of its parts. */
fl_string *fl_string_flat(fl_value v) {
    fl_rope *r = FL_PTR(v);
    if (!(r->hdr.aux & FL_STRING_ROPE)) return (fl_string *)r;
    if (r->right == 0) return FL_STR_HEAD(r->left);
    fl_string *out = string_alloc(r->nbytes);
    fl_value inline_stack[64], *stack = inline_stack;
    int64_t capacity = 64, top = 0, at = r->nbytes;
    stack[top++] = v;
    while (top > 0) {
        fl_rope *node = FL_PTR(stack[--top]);
        if ((node->hdr.aux & FL_STRING_ROPE) && node->right != 0) {
            if (top + 2 > capacity) {
                /* pointer-free for the GC: every entry is also reachable from v */
                fl_value *bigger = fl_alloc_atomic(2 * capacity * (int64_t)sizeof(fl_value));
                memcpy(bigger, stack, (size_t)top * sizeof(fl_value));
                stack = bigger;
                capacity *= 2;
            }
            stack[top++] = node->left;
            stack[top++] = node->right;   /* popped first: the bytes go in from the end */
        } else {
            fl_string *s = node->hdr.aux & FL_STRING_ROPE ? FL_STR_HEAD(node->left) : (fl_string *)node;
            at -= s->nbytes;
            memcpy(out->bytes + at, s->bytes, (size_t)s->nbytes);
        }
    }
    string_seal(out, r->ncodepoints);
    r->left = FL_HEAP(out);
    r->right = 0;
    return out;
}

static fl_value concat_args(const char *fname, int64_t argc, fl_value a0, fl_value a1, fl_value a2,
                            fl_value *rest) {
    int64_t n = FL_NARGS(argc), loc = FL_LOCOF(argc), nbytes = 0, ncodepoints = 0;
    for (int64_t i = 0; i < n; i++) {
        fl_value v = FL_ARG(i);
        if (!FL_IS_STRING(v)) fl_type_fail(fname, "a string", v, loc);
        nbytes += FL_STR_HEAD(v)->nbytes;
        ncodepoints += FL_STR_HEAD(v)->ncodepoints;
    }
    if (n == 1) return a0;
    if (nbytes >= ROPE_MIN) {
        fl_value acc = a0;
        for (int64_t i = 1; i < n; i++) acc = rope(acc, FL_ARG(i));
        return acc;
    }
    fl_string *out = string_alloc(nbytes);
    for (int64_t i = 0, at = 0; i < n; i++) {
        fl_string *s = FL_STR(FL_ARG(i));
        memcpy(out->bytes + at, s->bytes, (size_t)s->nbytes);
        at += s->nbytes;
    }
    return string_seal(out, ncodepoints);
}

BUILTIN(fl_bi_string_append) { return concat_args("string-append", argc, a0, a1, a2, rest); }
BUILTIN(fl_bi_concat) { return concat_args("concat", argc, a0, a1, a2, rest); }
BUILTIN(fl_bi_string_concat) { return concat_args("string-concat", argc, a0, a1, a2, rest); }

/* The strings of a list joined by sep (NULL: nothing between them). */
static fl_value join_list(const char *fname, fl_value xs, const fl_string *sep, int64_t loc) {
    if (xs != FL_EMPTY && !is_pair(xs)) fl_type_fail(fname, "a list of strings", xs, loc);
    int64_t count = 0, nbytes = 0, ncodepoints = 0;
    for (fl_value p = xs; is_pair(p); p = FL_PAIR(p)->tail, count++) {
        fl_value item = FL_PAIR(p)->head;
        if (!FL_IS_STRING(item)) fl_type_fail(fname, "a list of strings", item, loc);
        fl_string *s = FL_STR_HEAD(item);   /* lengths only: a rope is flattened by the copy below */
        nbytes += s->nbytes;
        ncodepoints += s->ncodepoints;
    }
    if (sep && count > 1) {
        nbytes += (count - 1) * sep->nbytes;
        ncodepoints += (count - 1) * sep->ncodepoints;
    }
    fl_string *out = string_alloc(nbytes);
    int64_t at = 0;
    for (fl_value p = xs; is_pair(p); p = FL_PAIR(p)->tail) {
        fl_string *s = FL_STR(FL_PAIR(p)->head);
        if (sep && p != xs) memcpy(out->bytes + at, sep->bytes, (size_t)sep->nbytes), at += sep->nbytes;
        memcpy(out->bytes + at, s->bytes, (size_t)s->nbytes);
        at += s->nbytes;
    }
    return string_seal(out, ncodepoints);
}

BUILTIN(fl_bi_string_join) {
    FL_CHECK_ARITY("string-join", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    fl_string *sep = string_arg("string-join", a1, loc);
    return join_list("string-join", a0, sep, loc);
}

BUILTIN(fl_bi_list_to_string) {
    FL_CHECK_ARITY("list->string", argc, 1, 1);
    return join_list("list->string", a0, NULL, FL_LOCOF(argc));
}

/* ---- case mapping --------------------------------------------------------- */

/* A run of code points [first, last], every `stride`-th of which maps to
 * itself + delta. The tables hold the simple one-to-one case mappings of
 * Unicode 14 outside ASCII; they were generated with Python 3.11 by taking
 * str.upper()/str.lower() where that is one character (else str.title() for
 * upper-casing, else the character itself, so ß stays ß; İ lowers to i).
 * tests/test_runtime_lib.py checks every code point against the same rule. */
typedef struct case_run { int32_t first, last, delta, stride; } case_run;

static const case_run upper_runs[] = {
    {0x00B5, 0x00B5, 743, 1}, {0x00E0, 0x00F6, -32, 1}, {0x00F8, 0x00FE, -32, 1},
    {0x00FF, 0x00FF, 121, 1}, {0x0101, 0x012F, -1, 2}, {0x0131, 0x0131, -232, 1},
    {0x0133, 0x0137, -1, 2}, {0x013A, 0x0148, -1, 2}, {0x014B, 0x0177, -1, 2},
    {0x017A, 0x017E, -1, 2}, {0x017F, 0x017F, -300, 1}, {0x0180, 0x0180, 195, 1},
    {0x0183, 0x0185, -1, 2}, {0x0188, 0x0188, -1, 1}, {0x018C, 0x018C, -1, 1},
    {0x0192, 0x0192, -1, 1}, {0x0195, 0x0195, 97, 1}, {0x0199, 0x0199, -1, 1},
    {0x019A, 0x019A, 163, 1}, {0x019E, 0x019E, 130, 1}, {0x01A1, 0x01A5, -1, 2},
    {0x01A8, 0x01A8, -1, 1}, {0x01AD, 0x01AD, -1, 1}, {0x01B0, 0x01B0, -1, 1},
    {0x01B4, 0x01B6, -1, 2}, {0x01B9, 0x01B9, -1, 1}, {0x01BD, 0x01BD, -1, 1},
    {0x01BF, 0x01BF, 56, 1}, {0x01C5, 0x01C5, -1, 1}, {0x01C6, 0x01C6, -2, 1},
    {0x01C8, 0x01C8, -1, 1}, {0x01C9, 0x01C9, -2, 1}, {0x01CB, 0x01CB, -1, 1},
    {0x01CC, 0x01CC, -2, 1}, {0x01CE, 0x01DC, -1, 2}, {0x01DD, 0x01DD, -79, 1},
    {0x01DF, 0x01EF, -1, 2}, {0x01F2, 0x01F2, -1, 1}, {0x01F3, 0x01F3, -2, 1},
    {0x01F5, 0x01F5, -1, 1}, {0x01F9, 0x021F, -1, 2}, {0x0223, 0x0233, -1, 2},
    {0x023C, 0x023C, -1, 1}, {0x023F, 0x0240, 10815, 1}, {0x0242, 0x0242, -1, 1},
    {0x0247, 0x024F, -1, 2}, {0x0250, 0x0250, 10783, 1}, {0x0251, 0x0251, 10780, 1},
    {0x0252, 0x0252, 10782, 1}, {0x0253, 0x0253, -210, 1}, {0x0254, 0x0254, -206, 1},
    {0x0256, 0x0257, -205, 1}, {0x0259, 0x0259, -202, 1}, {0x025B, 0x025B, -203, 1},
    {0x025C, 0x025C, 42319, 1}, {0x0260, 0x0260, -205, 1}, {0x0261, 0x0261, 42315, 1},
    {0x0263, 0x0263, -207, 1}, {0x0265, 0x0265, 42280, 1}, {0x0266, 0x0266, 42308, 1},
    {0x0268, 0x0268, -209, 1}, {0x0269, 0x0269, -211, 1}, {0x026A, 0x026A, 42308, 1},
    {0x026B, 0x026B, 10743, 1}, {0x026C, 0x026C, 42305, 1}, {0x026F, 0x026F, -211, 1},
    {0x0271, 0x0271, 10749, 1}, {0x0272, 0x0272, -213, 1}, {0x0275, 0x0275, -214, 1},
    {0x027D, 0x027D, 10727, 1}, {0x0280, 0x0280, -218, 1}, {0x0282, 0x0282, 42307, 1},
    {0x0283, 0x0283, -218, 1}, {0x0287, 0x0287, 42282, 1}, {0x0288, 0x0288, -218, 1},
    {0x0289, 0x0289, -69, 1}, {0x028A, 0x028B, -217, 1}, {0x028C, 0x028C, -71, 1},
    {0x0292, 0x0292, -219, 1}, {0x029D, 0x029D, 42261, 1}, {0x029E, 0x029E, 42258, 1},
    {0x0345, 0x0345, 84, 1}, {0x0371, 0x0373, -1, 2}, {0x0377, 0x0377, -1, 1},
    {0x037B, 0x037D, 130, 1}, {0x03AC, 0x03AC, -38, 1}, {0x03AD, 0x03AF, -37, 1},
    {0x03B1, 0x03C1, -32, 1}, {0x03C2, 0x03C2, -31, 1}, {0x03C3, 0x03CB, -32, 1},
    {0x03CC, 0x03CC, -64, 1}, {0x03CD, 0x03CE, -63, 1}, {0x03D0, 0x03D0, -62, 1},
    {0x03D1, 0x03D1, -57, 1}, {0x03D5, 0x03D5, -47, 1}, {0x03D6, 0x03D6, -54, 1},
    {0x03D7, 0x03D7, -8, 1}, {0x03D9, 0x03EF, -1, 2}, {0x03F0, 0x03F0, -86, 1},
    {0x03F1, 0x03F1, -80, 1}, {0x03F2, 0x03F2, 7, 1}, {0x03F3, 0x03F3, -116, 1},
    {0x03F5, 0x03F5, -96, 1}, {0x03F8, 0x03F8, -1, 1}, {0x03FB, 0x03FB, -1, 1},
    {0x0430, 0x044F, -32, 1}, {0x0450, 0x045F, -80, 1}, {0x0461, 0x0481, -1, 2},
    {0x048B, 0x04BF, -1, 2}, {0x04C2, 0x04CE, -1, 2}, {0x04CF, 0x04CF, -15, 1},
    {0x04D1, 0x052F, -1, 2}, {0x0561, 0x0586, -48, 1}, {0x10D0, 0x10FA, 3008, 1},
    {0x10FD, 0x10FF, 3008, 1}, {0x13F8, 0x13FD, -8, 1}, {0x1C80, 0x1C80, -6254, 1},
    {0x1C81, 0x1C81, -6253, 1}, {0x1C82, 0x1C82, -6244, 1}, {0x1C83, 0x1C84, -6242, 1},
    {0x1C85, 0x1C85, -6243, 1}, {0x1C86, 0x1C86, -6236, 1}, {0x1C87, 0x1C87, -6181, 1},
    {0x1C88, 0x1C88, 35266, 1}, {0x1D79, 0x1D79, 35332, 1}, {0x1D7D, 0x1D7D, 3814, 1},
    {0x1D8E, 0x1D8E, 35384, 1}, {0x1E01, 0x1E95, -1, 2}, {0x1E9B, 0x1E9B, -59, 1},
    {0x1EA1, 0x1EFF, -1, 2}, {0x1F00, 0x1F07, 8, 1}, {0x1F10, 0x1F15, 8, 1}, {0x1F20, 0x1F27, 8, 1},
    {0x1F30, 0x1F37, 8, 1}, {0x1F40, 0x1F45, 8, 1}, {0x1F51, 0x1F57, 8, 2}, {0x1F60, 0x1F67, 8, 1},
    {0x1F70, 0x1F71, 74, 1}, {0x1F72, 0x1F75, 86, 1}, {0x1F76, 0x1F77, 100, 1},
    {0x1F78, 0x1F79, 128, 1}, {0x1F7A, 0x1F7B, 112, 1}, {0x1F7C, 0x1F7D, 126, 1},
    {0x1F80, 0x1F87, 8, 1}, {0x1F90, 0x1F97, 8, 1}, {0x1FA0, 0x1FA7, 8, 1}, {0x1FB0, 0x1FB1, 8, 1},
    {0x1FB3, 0x1FB3, 9, 1}, {0x1FBE, 0x1FBE, -7205, 1}, {0x1FC3, 0x1FC3, 9, 1},
    {0x1FD0, 0x1FD1, 8, 1}, {0x1FE0, 0x1FE1, 8, 1}, {0x1FE5, 0x1FE5, 7, 1}, {0x1FF3, 0x1FF3, 9, 1},
    {0x214E, 0x214E, -28, 1}, {0x2170, 0x217F, -16, 1}, {0x2184, 0x2184, -1, 1},
    {0x24D0, 0x24E9, -26, 1}, {0x2C30, 0x2C5F, -48, 1}, {0x2C61, 0x2C61, -1, 1},
    {0x2C65, 0x2C65, -10795, 1}, {0x2C66, 0x2C66, -10792, 1}, {0x2C68, 0x2C6C, -1, 2},
    {0x2C73, 0x2C73, -1, 1}, {0x2C76, 0x2C76, -1, 1}, {0x2C81, 0x2CE3, -1, 2},
    {0x2CEC, 0x2CEE, -1, 2}, {0x2CF3, 0x2CF3, -1, 1}, {0x2D00, 0x2D25, -7264, 1},
    {0x2D27, 0x2D27, -7264, 1}, {0x2D2D, 0x2D2D, -7264, 1}, {0xA641, 0xA66D, -1, 2},
    {0xA681, 0xA69B, -1, 2}, {0xA723, 0xA72F, -1, 2}, {0xA733, 0xA76F, -1, 2},
    {0xA77A, 0xA77C, -1, 2}, {0xA77F, 0xA787, -1, 2}, {0xA78C, 0xA78C, -1, 1},
    {0xA791, 0xA793, -1, 2}, {0xA794, 0xA794, 48, 1}, {0xA797, 0xA7A9, -1, 2},
    {0xA7B5, 0xA7C3, -1, 2}, {0xA7C8, 0xA7CA, -1, 2}, {0xA7D1, 0xA7D1, -1, 1},
    {0xA7D7, 0xA7D9, -1, 2}, {0xA7F6, 0xA7F6, -1, 1}, {0xAB53, 0xAB53, -928, 1},
    {0xAB70, 0xABBF, -38864, 1}, {0xFF41, 0xFF5A, -32, 1}, {0x10428, 0x1044F, -40, 1},
    {0x104D8, 0x104FB, -40, 1}, {0x10597, 0x105A1, -39, 1}, {0x105A3, 0x105B1, -39, 1},
    {0x105B3, 0x105B9, -39, 1}, {0x105BB, 0x105BC, -39, 1}, {0x10CC0, 0x10CF2, -64, 1},
    {0x118C0, 0x118DF, -32, 1}, {0x16E60, 0x16E7F, -32, 1}, {0x1E922, 0x1E943, -34, 1},
};
static const case_run lower_runs[] = {
    {0x00C0, 0x00D6, 32, 1}, {0x00D8, 0x00DE, 32, 1}, {0x0100, 0x012E, 1, 2},
    {0x0130, 0x0130, -199, 1}, {0x0132, 0x0136, 1, 2}, {0x0139, 0x0147, 1, 2},
    {0x014A, 0x0176, 1, 2}, {0x0178, 0x0178, -121, 1}, {0x0179, 0x017D, 1, 2},
    {0x0181, 0x0181, 210, 1}, {0x0182, 0x0184, 1, 2}, {0x0186, 0x0186, 206, 1},
    {0x0187, 0x0187, 1, 1}, {0x0189, 0x018A, 205, 1}, {0x018B, 0x018B, 1, 1},
    {0x018E, 0x018E, 79, 1}, {0x018F, 0x018F, 202, 1}, {0x0190, 0x0190, 203, 1},
    {0x0191, 0x0191, 1, 1}, {0x0193, 0x0193, 205, 1}, {0x0194, 0x0194, 207, 1},
    {0x0196, 0x0196, 211, 1}, {0x0197, 0x0197, 209, 1}, {0x0198, 0x0198, 1, 1},
    {0x019C, 0x019C, 211, 1}, {0x019D, 0x019D, 213, 1}, {0x019F, 0x019F, 214, 1},
    {0x01A0, 0x01A4, 1, 2}, {0x01A6, 0x01A6, 218, 1}, {0x01A7, 0x01A7, 1, 1},
    {0x01A9, 0x01A9, 218, 1}, {0x01AC, 0x01AC, 1, 1}, {0x01AE, 0x01AE, 218, 1},
    {0x01AF, 0x01AF, 1, 1}, {0x01B1, 0x01B2, 217, 1}, {0x01B3, 0x01B5, 1, 2},
    {0x01B7, 0x01B7, 219, 1}, {0x01B8, 0x01B8, 1, 1}, {0x01BC, 0x01BC, 1, 1},
    {0x01C4, 0x01C4, 2, 1}, {0x01C5, 0x01C5, 1, 1}, {0x01C7, 0x01C7, 2, 1}, {0x01C8, 0x01C8, 1, 1},
    {0x01CA, 0x01CA, 2, 1}, {0x01CB, 0x01DB, 1, 2}, {0x01DE, 0x01EE, 1, 2}, {0x01F1, 0x01F1, 2, 1},
    {0x01F2, 0x01F4, 1, 2}, {0x01F6, 0x01F6, -97, 1}, {0x01F7, 0x01F7, -56, 1},
    {0x01F8, 0x021E, 1, 2}, {0x0220, 0x0220, -130, 1}, {0x0222, 0x0232, 1, 2},
    {0x023A, 0x023A, 10795, 1}, {0x023B, 0x023B, 1, 1}, {0x023D, 0x023D, -163, 1},
    {0x023E, 0x023E, 10792, 1}, {0x0241, 0x0241, 1, 1}, {0x0243, 0x0243, -195, 1},
    {0x0244, 0x0244, 69, 1}, {0x0245, 0x0245, 71, 1}, {0x0246, 0x024E, 1, 2},
    {0x0370, 0x0372, 1, 2}, {0x0376, 0x0376, 1, 1}, {0x037F, 0x037F, 116, 1},
    {0x0386, 0x0386, 38, 1}, {0x0388, 0x038A, 37, 1}, {0x038C, 0x038C, 64, 1},
    {0x038E, 0x038F, 63, 1}, {0x0391, 0x03A1, 32, 1}, {0x03A3, 0x03AB, 32, 1},
    {0x03CF, 0x03CF, 8, 1}, {0x03D8, 0x03EE, 1, 2}, {0x03F4, 0x03F4, -60, 1},
    {0x03F7, 0x03F7, 1, 1}, {0x03F9, 0x03F9, -7, 1}, {0x03FA, 0x03FA, 1, 1},
    {0x03FD, 0x03FF, -130, 1}, {0x0400, 0x040F, 80, 1}, {0x0410, 0x042F, 32, 1},
    {0x0460, 0x0480, 1, 2}, {0x048A, 0x04BE, 1, 2}, {0x04C0, 0x04C0, 15, 1}, {0x04C1, 0x04CD, 1, 2},
    {0x04D0, 0x052E, 1, 2}, {0x0531, 0x0556, 48, 1}, {0x10A0, 0x10C5, 7264, 1},
    {0x10C7, 0x10C7, 7264, 1}, {0x10CD, 0x10CD, 7264, 1}, {0x13A0, 0x13EF, 38864, 1},
    {0x13F0, 0x13F5, 8, 1}, {0x1C90, 0x1CBA, -3008, 1}, {0x1CBD, 0x1CBF, -3008, 1},
    {0x1E00, 0x1E94, 1, 2}, {0x1E9E, 0x1E9E, -7615, 1}, {0x1EA0, 0x1EFE, 1, 2},
    {0x1F08, 0x1F0F, -8, 1}, {0x1F18, 0x1F1D, -8, 1}, {0x1F28, 0x1F2F, -8, 1},
    {0x1F38, 0x1F3F, -8, 1}, {0x1F48, 0x1F4D, -8, 1}, {0x1F59, 0x1F5F, -8, 2},
    {0x1F68, 0x1F6F, -8, 1}, {0x1F88, 0x1F8F, -8, 1}, {0x1F98, 0x1F9F, -8, 1},
    {0x1FA8, 0x1FAF, -8, 1}, {0x1FB8, 0x1FB9, -8, 1}, {0x1FBA, 0x1FBB, -74, 1},
    {0x1FBC, 0x1FBC, -9, 1}, {0x1FC8, 0x1FCB, -86, 1}, {0x1FCC, 0x1FCC, -9, 1},
    {0x1FD8, 0x1FD9, -8, 1}, {0x1FDA, 0x1FDB, -100, 1}, {0x1FE8, 0x1FE9, -8, 1},
    {0x1FEA, 0x1FEB, -112, 1}, {0x1FEC, 0x1FEC, -7, 1}, {0x1FF8, 0x1FF9, -128, 1},
    {0x1FFA, 0x1FFB, -126, 1}, {0x1FFC, 0x1FFC, -9, 1}, {0x2126, 0x2126, -7517, 1},
    {0x212A, 0x212A, -8383, 1}, {0x212B, 0x212B, -8262, 1}, {0x2132, 0x2132, 28, 1},
    {0x2160, 0x216F, 16, 1}, {0x2183, 0x2183, 1, 1}, {0x24B6, 0x24CF, 26, 1},
    {0x2C00, 0x2C2F, 48, 1}, {0x2C60, 0x2C60, 1, 1}, {0x2C62, 0x2C62, -10743, 1},
    {0x2C63, 0x2C63, -3814, 1}, {0x2C64, 0x2C64, -10727, 1}, {0x2C67, 0x2C6B, 1, 2},
    {0x2C6D, 0x2C6D, -10780, 1}, {0x2C6E, 0x2C6E, -10749, 1}, {0x2C6F, 0x2C6F, -10783, 1},
    {0x2C70, 0x2C70, -10782, 1}, {0x2C72, 0x2C72, 1, 1}, {0x2C75, 0x2C75, 1, 1},
    {0x2C7E, 0x2C7F, -10815, 1}, {0x2C80, 0x2CE2, 1, 2}, {0x2CEB, 0x2CED, 1, 2},
    {0x2CF2, 0x2CF2, 1, 1}, {0xA640, 0xA66C, 1, 2}, {0xA680, 0xA69A, 1, 2}, {0xA722, 0xA72E, 1, 2},
    {0xA732, 0xA76E, 1, 2}, {0xA779, 0xA77B, 1, 2}, {0xA77D, 0xA77D, -35332, 1},
    {0xA77E, 0xA786, 1, 2}, {0xA78B, 0xA78B, 1, 1}, {0xA78D, 0xA78D, -42280, 1},
    {0xA790, 0xA792, 1, 2}, {0xA796, 0xA7A8, 1, 2}, {0xA7AA, 0xA7AA, -42308, 1},
    {0xA7AB, 0xA7AB, -42319, 1}, {0xA7AC, 0xA7AC, -42315, 1}, {0xA7AD, 0xA7AD, -42305, 1},
    {0xA7AE, 0xA7AE, -42308, 1}, {0xA7B0, 0xA7B0, -42258, 1}, {0xA7B1, 0xA7B1, -42282, 1},
    {0xA7B2, 0xA7B2, -42261, 1}, {0xA7B3, 0xA7B3, 928, 1}, {0xA7B4, 0xA7C2, 1, 2},
    {0xA7C4, 0xA7C4, -48, 1}, {0xA7C5, 0xA7C5, -42307, 1}, {0xA7C6, 0xA7C6, -35384, 1},
    {0xA7C7, 0xA7C9, 1, 2}, {0xA7D0, 0xA7D0, 1, 1}, {0xA7D6, 0xA7D8, 1, 2}, {0xA7F5, 0xA7F5, 1, 1},
    {0xFF21, 0xFF3A, 32, 1}, {0x10400, 0x10427, 40, 1}, {0x104B0, 0x104D3, 40, 1},
    {0x10570, 0x1057A, 39, 1}, {0x1057C, 0x1058A, 39, 1}, {0x1058C, 0x10592, 39, 1},
    {0x10594, 0x10595, 39, 1}, {0x10C80, 0x10CB2, 64, 1}, {0x118A0, 0x118BF, 32, 1},
    {0x16E40, 0x16E5F, 32, 1}, {0x1E900, 0x1E921, 34, 1},
};

static int32_t map_case(int32_t cp, const case_run *runs, int64_t nruns) {
    int64_t lo = 0, hi = nruns;   /* the last run starting at or before cp */
    while (hi - lo > 1) {
        int64_t mid = (lo + hi) / 2;
        if (runs[mid].first <= cp) lo = mid;
        else hi = mid;
    }
    const case_run *r = &runs[lo];
    if (cp < r->first || cp > r->last || (cp - r->first) % r->stride != 0) return cp;
    return cp + r->delta;
}

static int32_t to_upper(int32_t cp) {
    if (cp < 0x80) return cp >= 'a' && cp <= 'z' ? cp - 32 : cp;
    return map_case(cp, upper_runs, sizeof upper_runs / sizeof *upper_runs);
}

static int32_t to_lower(int32_t cp) {
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    return map_case(cp, lower_runs, sizeof lower_runs / sizeof *lower_runs);
}

/* Two passes over the text: a mapped character may need more or fewer bytes
 * (ı -> I shrinks, ɐ -> Ɐ grows), but never more or fewer code points. */
static fl_value change_case(const char *fname, int64_t argc, fl_value v, int32_t (*map)(int32_t)) {
    FL_CHECK_ARITY(fname, argc, 1, 1);
    fl_string *s = string_arg(fname, v, FL_LOCOF(argc));
    if (s->hdr.aux) {   /* ASCII maps to ASCII, byte for byte */
        fl_string *out = string_alloc(s->nbytes);
        for (int64_t i = 0; i < s->nbytes; i++) out->bytes[i] = (char)map((unsigned char)s->bytes[i]);
        return string_seal(out, s->ncodepoints);
    }
    int64_t nbytes = 0;
    for (int64_t i = 0; i < s->nbytes; i += utf8_width((unsigned char)s->bytes[i]))
        nbytes += utf8_encoded_width(map(utf8_decode(s->bytes + i)));
    fl_string *out = string_alloc(nbytes);
    for (int64_t i = 0, at = 0; i < s->nbytes; i += utf8_width((unsigned char)s->bytes[i]))
        at += utf8_encode(map(utf8_decode(s->bytes + i)), out->bytes + at);
    return string_seal(out, s->ncodepoints);
}

BUILTIN(fl_bi_string_upcase) { return change_case("string-upcase", argc, a0, to_upper); }
BUILTIN(fl_bi_string_downcase) { return change_case("string-downcase", argc, a0, to_lower); }

/* ---- indexing ------------------------------------------------------------- */

static void fail_index(int64_t index, const fl_string *s, int64_t loc) {
    fl_raise("index-error", loc, "index %lld out of bounds for a string of length %lld", (long long)index,
             (long long)s->ncodepoints);
}

BUILTIN(fl_bi_string_length) {
    FL_CHECK_ARITY("string-length", argc, 1, 1);
    if (!FL_IS_STRING(a0)) fl_type_fail("string-length", "a string", a0, FL_LOCOF(argc));
    return FL_FIXNUM(FL_STR_HEAD(a0)->ncodepoints);
}

/* substring s start end: 0 <= start <= end <= length, no clamping. */
BUILTIN(fl_bi_substring) {
    FL_CHECK_ARITY("substring", argc, 3, 3);
    int64_t loc = FL_LOCOF(argc);
    fl_string *s = string_arg("substring", a0, loc);
    int64_t start = fl_int_arg("substring", a1, loc);
    int64_t end = fl_int_arg("substring", a2, loc);
    if (start < 0 || start > s->ncodepoints) fail_index(start, s, loc);
    if (end < 0 || end > s->ncodepoints) fail_index(end, s, loc);
    if (end < start)
        fl_raise("index-error", loc, "`substring` start %lld is after its end %lld", (long long)start,
                 (long long)end);
    int64_t from = skip_codepoints(s, 0, start);
    return slice(s, from, skip_codepoints(s, from, end - start));
}

BUILTIN(fl_bi_string_ref) {
    FL_CHECK_ARITY("string-ref", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    fl_string *s = string_arg("string-ref", a0, loc);
    int64_t index = fl_int_arg("string-ref", a1, loc);
    if (index < 0 || index >= s->ncodepoints) fail_index(index, s, loc);
    int64_t from = skip_codepoints(s, 0, index);
    return slice(s, from, from + utf8_width((unsigned char)s->bytes[from]));
}

BUILTIN(fl_bi_string_to_list) {
    FL_CHECK_ARITY("string->list", argc, 1, 1);
    fl_string *s = string_arg("string->list", a0, FL_LOCOF(argc));
    fl_list_builder b;
    fl_list_builder_init(&b);
    for (int64_t i = 0; i < s->nbytes;) {
        int width = utf8_width((unsigned char)s->bytes[i]);
        fl_list_builder_push(&b, slice(s, i, i + width));
        i += width;
    }
    return b.head;
}

/* ---- searching -------------------------------------------------------------- */

/* Byte offset of the first `needle` in s at or after `from`, or -1. */
static int64_t find_bytes(const fl_string *s, int64_t from, const fl_string *needle) {
    const char *hit = memmem(s->bytes + from, (size_t)(s->nbytes - from), needle->bytes, (size_t)needle->nbytes);
    return hit ? hit - s->bytes : -1;
}

BUILTIN(fl_bi_string_contains_p) {
    FL_CHECK_ARITY("string-contains?", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    fl_string *s = string_arg("string-contains?", a0, loc);
    fl_string *sub = string_arg("string-contains?", a1, loc);
    return FL_BOOL(find_bytes(s, 0, sub) >= 0);
}

BUILTIN(fl_bi_string_index_of) {
    FL_CHECK_ARITY("string-index-of", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    fl_string *s = string_arg("string-index-of", a0, loc);
    fl_string *sub = string_arg("string-index-of", a1, loc);
    int64_t at = find_bytes(s, 0, sub);
    return at < 0 ? FL_NIL : FL_FIXNUM(codepoint_index(s, at));
}

BUILTIN(fl_bi_string_starts_with_p) {
    FL_CHECK_ARITY("string-starts-with?", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    fl_string *s = string_arg("string-starts-with?", a0, loc);
    fl_string *prefix = string_arg("string-starts-with?", a1, loc);
    return FL_BOOL(prefix->nbytes <= s->nbytes && memcmp(s->bytes, prefix->bytes, (size_t)prefix->nbytes) == 0);
}

BUILTIN(fl_bi_string_ends_with_p) {
    FL_CHECK_ARITY("string-ends-with?", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    fl_string *s = string_arg("string-ends-with?", a0, loc);
    fl_string *suffix = string_arg("string-ends-with?", a1, loc);
    int64_t from = s->nbytes - suffix->nbytes;
    return FL_BOOL(from >= 0 && memcmp(s->bytes + from, suffix->bytes, (size_t)suffix->nbytes) == 0);
}

/* Like Python's str.split(sep): "" gives [""], adjacent separators give "". */
BUILTIN(fl_bi_string_split) {
    FL_CHECK_ARITY("string-split", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    fl_string *s = string_arg("string-split", a0, loc);
    fl_string *sep = string_arg("string-split", a1, loc);
    if (sep->nbytes == 0) fl_raise("value-error", loc, "`string-split` separator must not be empty");
    fl_list_builder b;
    fl_list_builder_init(&b);
    int64_t from = 0;
    for (int64_t at; (at = find_bytes(s, from, sep)) >= 0; from = at + sep->nbytes)
        fl_list_builder_push(&b, slice(s, from, at));
    fl_list_builder_push(&b, slice(s, from, s->nbytes));
    return b.head;
}

/* Every non-overlapping occurrence, left to right, as Python's str.replace. */
BUILTIN(fl_bi_string_replace) {
    FL_CHECK_ARITY("string-replace", argc, 3, 3);
    int64_t loc = FL_LOCOF(argc);
    fl_string *s = string_arg("string-replace", a0, loc);
    fl_string *old = string_arg("string-replace", a1, loc);
    fl_string *replacement = string_arg("string-replace", a2, loc);
    if (old->nbytes == 0) fl_raise("value-error", loc, "`string-replace` text to replace must not be empty");
    int64_t count = 0;
    for (int64_t at = 0; (at = find_bytes(s, at, old)) >= 0; at += old->nbytes) count++;
    if (count == 0) return a0;
    fl_string *out = string_alloc(s->nbytes + count * (replacement->nbytes - old->nbytes));
    int64_t from = 0, to = 0;
    for (int64_t at; (at = find_bytes(s, from, old)) >= 0; from = at + old->nbytes) {
        memcpy(out->bytes + to, s->bytes + from, (size_t)(at - from));
        to += at - from;
        memcpy(out->bytes + to, replacement->bytes, (size_t)replacement->nbytes);
        to += replacement->nbytes;
    }
    memcpy(out->bytes + to, s->bytes + from, (size_t)(s->nbytes - from));
    return string_seal(out, s->ncodepoints + count * (replacement->ncodepoints - old->ncodepoints));
}

/* Python's str.isspace(): ASCII and Unicode white space. */
static int is_space(int32_t cp) {
    if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

BUILTIN(fl_bi_string_trim) {
    FL_CHECK_ARITY("string-trim", argc, 1, 1);
    fl_string *s = string_arg("string-trim", a0, FL_LOCOF(argc));
    int64_t from = 0, to = s->nbytes;
    while (from < to && is_space(utf8_decode(s->bytes + from))) from += utf8_width((unsigned char)s->bytes[from]);
    while (to > from) {
        int64_t last = to - 1;
        while (((unsigned char)s->bytes[last] & 0xC0) == 0x80) last--;
        if (!is_space(utf8_decode(s->bytes + last))) break;
        to = last;
    }
    if (from == 0 && to == s->nbytes) return a0;
    return slice(s, from, to);
}

/* ---- conversion and printing ------------------------------------------------ */

/* An integer's decimal digits straight into a new string: the general path
 * (fl_show) fills a growable buffer and then copies it into a second object,
 * and to-string of ints is the inner loop of string-building code. */
static fl_value int_to_string(int64_t n) {
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    char text[24];
    char *end = text + sizeof text, *p = end;
    uint64_t u = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;   /* INT64_MIN included */
    while (u >= 100) {   /* two digits per division */
        unsigned d = (unsigned)(u % 100);
        u /= 100;
        p -= 2;
        memcpy(p, pairs + 2 * d, 2);
    }
    if (u >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * u, 2);
    } else {
        *--p = (char)('0' + u);
    }
    if (n < 0) *--p = '-';
    return string_from(p, end - p, end - p);
}

BUILTIN(fl_bi_to_string) {
    FL_CHECK_ARITY("to-string", argc, 1, 1);
    if (FL_IS_FIXNUM(a0)) return int_to_string(FL_FIXNUM_VAL(a0));
    if (FL_IS_KIND(a0, FL_K_INT)) return int_to_string(((fl_boxint *)FL_PTR(a0))->value);
    return fl_to_display(a0);
}

BUILTIN(fl_bi_show) {
    FL_CHECK_ARITY("show", argc, 1, 1);
    return fl_show(a0);
}

/* Performs io:print, so a user's handler for it sees print-line too. */
BUILTIN(fl_bi_print_line) {
    static int64_t io_print = -1;
    FL_CHECK_ARITY("print-line", argc, 1, 1);
    if (io_print < 0) io_print = fl_effect_op("io:print");
    return fl_perform(io_print, FL_ARGC(1, FL_LOCOF(argc)), a0, FL_NIL, FL_NIL, NULL);
}

const fl_builtin_def fl_string_builtins[] = {
    {"string-length", fl_bi_string_length, 1, 1},
    {"string-append", fl_bi_string_append, 0, -1},
    {"concat", fl_bi_concat, 0, -1},
    {"string-concat", fl_bi_string_concat, 0, -1},
    {"string-upcase", fl_bi_string_upcase, 1, 1},
    {"string-downcase", fl_bi_string_downcase, 1, 1},
    {"substring", fl_bi_substring, 3, 3},
    {"string-ref", fl_bi_string_ref, 2, 2},
    {"string-split", fl_bi_string_split, 2, 2},
    {"string-join", fl_bi_string_join, 2, 2},
    {"string-contains?", fl_bi_string_contains_p, 2, 2},
    {"string-starts-with?", fl_bi_string_starts_with_p, 2, 2},
    {"string-ends-with?", fl_bi_string_ends_with_p, 2, 2},
    {"string-replace", fl_bi_string_replace, 3, 3},
    {"string-trim", fl_bi_string_trim, 1, 1},
    {"string->list", fl_bi_string_to_list, 1, 1},
    {"list->string", fl_bi_list_to_string, 1, 1},
    {"string-index-of", fl_bi_string_index_of, 2, 2},
    {"to-string", fl_bi_to_string, 1, 1},
    {"show", fl_bi_show, 1, 1},
    {"print-line", fl_bi_print_line, 1, 1},
    {NULL, NULL, 0, 0},
};
