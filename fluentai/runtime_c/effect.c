/* effect.c -- effect operations: interning "effect:op" names to small ids,
 * and performing an operation.
 *
 * Each id has a default implementation (the built-in effects' handlers at the
 * bottom of every handler stack) and a count of installed user handlers.
 * While the count is 0, fl_perform is one table load and an indirect call,
 * as cheap as calling the default directly. The effects work (handler forms)
 * raises the counts and routes those operations through fl_effect_dispatch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fluentai.h"

typedef struct effect_op {
    char *name;          /* "io:print"; malloc'd, never freed */
    fl_code fallback;    /* the default implementation, or NULL: unhandled */
} effect_op;

static effect_op *ops;
static int64_t op_count, op_capacity;
int32_t *fl_effect_handler_counts;
fl_value (*fl_effect_dispatch)(int64_t op, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest);

static void grow_ops(void)
{
    int64_t capacity = op_capacity ? op_capacity * 2 : 64;
    effect_op *new_ops = realloc(ops, (size_t)capacity * sizeof *ops);
    int32_t *new_counts = realloc(fl_effect_handler_counts, (size_t)capacity * sizeof *new_counts);
    if (!new_ops || !new_counts) {
        fputs("fluentai: out of memory\n", stderr);
        abort();
    }
    memset(new_counts + op_capacity, 0, (size_t)(capacity - op_capacity) * sizeof *new_counts);
    ops = new_ops;
    fl_effect_handler_counts = new_counts;
    op_capacity = capacity;
}

/* Few operations exist (tens), and interning happens at module start-up:
 * a linear search is enough. */
int64_t fl_effect_op(const char *qualified_name)
{
    for (int64_t i = 0; i < op_count; i++)
        if (strcmp(ops[i].name, qualified_name) == 0)
            return i;
    if (op_count == op_capacity)
        grow_ops();
    ops[op_count].name = strdup(qualified_name);
    ops[op_count].fallback = NULL;
    return op_count++;
}

const char *fl_effect_name(int64_t op)
{
    return op >= 0 && op < op_count ? ops[op].name : "?";
}

void fl_effect_set_default(const char *qualified_name, fl_code fn)
{
    int64_t op = fl_effect_op(qualified_name);   /* may move `ops` */
    ops[op].fallback = fn;
}

static fl_value unhandled(int64_t op, int64_t argc)
{
    fl_raise("unhandled-effect", FL_LOCOF(argc), "unhandled effect `%s`", fl_effect_name(op));
    return FL_NIL;
}

fl_value fl_perform(int64_t op, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
{
    if (__builtin_expect(op < 0 || op >= op_count, 0))
        return unhandled(op, argc);
    if (__builtin_expect(fl_effect_handler_counts[op] != 0, 0) && fl_effect_dispatch)
        return fl_effect_dispatch(op, argc, a0, a1, a2, rest);
    fl_code fallback = ops[op].fallback;
    if (!fallback)
        return unhandled(op, argc);
    return fallback(FL_NIL, argc, a0, a1, a2, rest);
}

/* ---- defaults of the io and error effects ---- */

/* Display forms joined by one space; then a newline if asked. */
static void print_values(int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest, int newline)
{
    int64_t n = FL_NARGS(argc);
    fl_buf b;
    fl_buf_init(&b);
    for (int64_t i = 0; i < n; i++) {
        if (i)
            fl_buf_put(&b, " ", 1);
        fl_buf_write_value(&b, FL_ARG(i), 1);
    }
    if (newline)
        fl_buf_put(&b, "\n", 1);
    fwrite(b.data, 1, (size_t)b.len, stdout);
}

static fl_value io_print(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
{
    (void)self;
    print_values(argc, a0, a1, a2, rest, 1);
    return FL_NIL;
}

static fl_value io_write(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
{
    (void)self;
    fl_arity_check("io:write", argc, 1, 1);
    print_values(argc, a0, a1, a2, rest, 0);
    return FL_NIL;
}

/* The type as given: a string as is, a keyword by its name, anything else displayed. */
static fl_value error_type_text(fl_value type)
{
    if (FL_IS_KIND(type, FL_K_KEYWORD))
        return ((fl_value *)FL_PTR(type))[1];
    return fl_to_display(type);
}

/* (error:raise x) or (error:raise type message [data]). */
static fl_value error_raise(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
{
    (void)self; (void)rest;
    fl_arity_check("error:raise", argc, 1, 3);
    int64_t n = FL_NARGS(argc);
    fl_value error;
    if (n == 1)
        error = fl_make_error(fl_string_from_cstr("error"), fl_to_display(a0), FL_NIL);
    else
        error = fl_make_error(error_type_text(a0), fl_to_display(a1), n == 3 ? a2 : FL_NIL);
    fl_raise_value(error, FL_LOCOF(argc));
    return FL_NIL;
}

void fl_effect_init(void)
{
    fl_effect_set_default("io:print", io_print);
    fl_effect_set_default("io:println", io_print);
    fl_effect_set_default("io:write", io_write);
    fl_effect_set_default("error:raise", error_raise);
}
