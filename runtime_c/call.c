/* call.c -- calling values from the runtime, rest-argument lists, and the
 * slow paths generated code jumps to when a call or a variable read fails.
 *
 * Every closure and builtin has the uniform signature fl_code; argc carries
 * the argument count in its low 32 bits and the caller's location id above,
 * so the callee can report errors at the call site.
 */
#include <stdio.h>

#include "fluentai.h"

static void write_name(fl_buf *b, fl_value name)
{
    if (FL_IS_KIND(name, FL_K_SYMBOL))
        name = ((fl_value *)FL_PTR(name))[1];
    fl_buf_write_value(b, name, 1);
}

fl_value fl_not_callable(fl_value f, int64_t argc)
{
    fl_buf b;
    fl_buf_init(&b);
    fl_buf_puts(&b, "cannot call a non-function value: ");
    fl_buf_write_value_capped(&b, f, 0, 80);
    return fl_fault_answer(fl_make_error(fl_string_from_cstr("type-error"), fl_buf_to_string(&b), FL_NIL),
                           FL_LOCOF(argc));
}

fl_value fl_arity_fail(fl_value self, int64_t argc)
{
    fl_closure *c = FL_CLOSURE(self);
    char counts[96];
    snprintf(counts, sizeof counts, " expects %s%d argument%s, got %lld",
             c->flags & FL_CLOSURE_HAS_REST ? "at least " : "", c->arity, c->arity == 1 ? "" : "s",
             (long long)FL_NARGS(argc));
    fl_buf b;
    fl_buf_init(&b);
    fl_buf_puts(&b, "arity: ");
    if (c->name == FL_NIL) {
        fl_buf_puts(&b, "anonymous function");
    } else {
        fl_buf_puts(&b, "`");
        write_name(&b, c->name);
        fl_buf_puts(&b, "`");
    }
    fl_buf_puts(&b, counts);
    return fl_fault_answer(fl_make_error(fl_string_from_cstr("arity-error"), fl_buf_to_string(&b), FL_NIL),
                           FL_LOCOF(argc));
}

static fl_value used_before_definition(fl_value name, int64_t loc)
{
    fl_buf b;
    fl_buf_init(&b);
    fl_buf_puts(&b, "variable `");
    write_name(&b, name);
    fl_buf_puts(&b, "` used before its definition ran");
    return fl_fault_answer(fl_make_error(fl_string_from_cstr("undefined-variable"), fl_buf_to_string(&b), FL_NIL),
                           loc);
}

fl_value fl_undefined_global(fl_value name, int64_t loc)
{
    return used_before_definition(name, loc);
}

fl_value fl_unbound_local(fl_value name, int64_t loc)
{
    return used_before_definition(name, loc);
}

/* Built front to back, mutating each new pair's tail before anyone sees it. */
fl_value fl_collect_rest(int64_t nfixed, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
{
    int64_t n = FL_NARGS(argc);
    fl_value head = FL_EMPTY;
    fl_pair *last = NULL;
    for (int64_t i = nfixed; i < n; i++) {
        fl_pair *p = fl_alloc(sizeof(fl_pair));
        p->hdr.kind = FL_K_PAIR;
        p->head = FL_ARG(i);
        p->tail = FL_EMPTY;
        if (last)
            last->tail = FL_HEAP(p);
        else
            head = FL_HEAP(p);
        last = p;
    }
    return head;
}

fl_value fl_call(fl_value f, int64_t argc, int64_t n, fl_value *args)
{
    int64_t encoded = FL_ARGC(n, FL_LOCOF(argc));
    if (!FL_IS_CLOSURE(f))
        return fl_not_callable(f, encoded);
    fl_value *rest = NULL;
    if (n > FL_REG_ARGS) {
        rest = fl_rest_array(n - FL_REG_ARGS);
        for (int64_t i = FL_REG_ARGS; i < n; i++)
            rest[i - FL_REG_ARGS] = args[i];
    }
    return FL_CLOSURE(f)->code(f, encoded, n > 0 ? args[0] : FL_NIL, n > 1 ? args[1] : FL_NIL,
                               n > 2 ? args[2] : FL_NIL, rest);
}

fl_value fl_call1(fl_value f, int64_t argc, fl_value a)
{
    int64_t encoded = FL_ARGC(1, FL_LOCOF(argc));
    if (!FL_IS_CLOSURE(f))
        return fl_not_callable(f, encoded);
    return FL_CLOSURE(f)->code(f, encoded, a, FL_NIL, FL_NIL, NULL);
}

fl_value fl_call2(fl_value f, int64_t argc, fl_value a, fl_value b)
{
    int64_t encoded = FL_ARGC(2, FL_LOCOF(argc));
    if (!FL_IS_CLOSURE(f))
        return fl_not_callable(f, encoded);
    return FL_CLOSURE(f)->code(f, encoded, a, b, FL_NIL, NULL);
}
