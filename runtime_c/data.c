/* data.c -- constructors of `data` types and the tests compiled pattern
 * matching uses (LANGUAGE.md section 6).
 *
 * A constructor is an ordinary closure (so it is first-class and checks its
 * arity like any function) whose code is the generic `construct` below; its
 * free slot 0 holds the tag string. Tags are compared by content, so a data
 * value and a `(tuple "Tag" ...)` with the same name and field count match
 * the same patterns.
 */
#include <string.h>

#include "fluentai.h"

static fl_value construct(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2,
                          fl_value *rest)
{
    fl_closure *c = FL_CLOSURE(self);
    int64_t n = FL_NARGS(argc);
    if (n != c->arity) {
        fl_string *tag = FL_STR(c->free[0]);
        fl_arity_fail_named(tag->bytes, argc, c->arity, c->arity);
    }
    fl_value fields[FL_REG_ARGS];
    fl_value *src = fields;
    if (n <= FL_REG_ARGS) {
        fields[0] = a0;
        fields[1] = a1;
        fields[2] = a2;
    } else {
        /* rest holds the arguments past the third: gather them all */
        src = fl_alloc(n * (int64_t)sizeof(fl_value));
        src[0] = a0;
        src[1] = a1;
        src[2] = a2;
        memcpy(src + FL_REG_ARGS, rest, (size_t)(n - FL_REG_ARGS) * sizeof(fl_value));
    }
    return fl_make_data(c->free[0], n, src);
}

fl_value fl_make_constructor(fl_value tag, int64_t nfields)
{
    fl_value clo = fl_make_closure(construct, (int32_t)nfields, 0, tag, 1);
    FL_CLOSURE(clo)->free[0] = tag;
    return clo;
}

static int same_tag(fl_value a, fl_value b)
{
    if (a == b)
        return 1;
    fl_string *x = FL_STR(a), *y = FL_STR(b);
    return x->nbytes == y->nbytes && memcmp(x->bytes, y->bytes, (size_t)x->nbytes) == 0;
}

int32_t fl_data_is(fl_value v, fl_value tag, int64_t nfields)
{
    if (!FL_IS_KIND(v, FL_K_DATA))
        return 0;
    fl_value *obj = FL_PTR(v);
    return ((fl_header *)obj)->aux == (uint32_t)nfields && same_tag(obj[1], tag);
}

fl_value fl_match_fail(fl_value v, int64_t loc)
{
    fl_buf b;
    fl_buf_init(&b);
    fl_buf_puts(&b, "no pattern matched the value ");
    fl_buf_write_value_capped(&b, v, 0, 80);
    return fl_fault_answer(fl_make_error(fl_string_from_cstr("match-error"), fl_buf_to_string(&b), FL_NIL), loc);
}
