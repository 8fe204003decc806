/* effect.c -- effect operations: interning "effect:op" names to small ids,
 * the per-operation handler counts, and performing an operation.
 *
 * Each id has a default implementation (the built-in effects' handlers at the
 * bottom of every handler stack, registered by io.c, state.c, timeeff.c,
 * random.c, dom.c, net.c and handler.c) and a count of installed user handlers that could
 * match it (handler forms and Python handlers). While the count is 0,
 * fl_perform is one table load and an indirect call, as cheap as calling the
 * default directly; otherwise handler.c searches the handler stack.
 *
 * Operations are grouped by effect ("io" for "io:print") so that a clause for
 * a whole effect can raise the count of every operation of that effect at
 * once; an operation interned later starts with its effect's count, so it
 * sees the clauses already installed.
 */
#include <gc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fluentai.h"

typedef struct effect_op {
    char *name;          /* "io:print"; malloc'd, never freed */
    int64_t group;       /* index into groups: the effect ("io") */
    fl_code fallback;    /* the default implementation, or NULL: unhandled */
} effect_op;

typedef struct effect_group {
    char *name;          /* "io"; malloc'd, never freed */
    int32_t handler_count;   /* installed clauses for the whole effect */
} effect_group;

static effect_op *ops;
static int64_t op_count, op_capacity;
static effect_group *groups;
static int64_t group_count, group_capacity;
/* The short names ("print") as string values, made on first use; the array
 * is uncollectable so Boehm sees the strings. */
static fl_value *short_names;
int32_t *fl_effect_handler_counts;

static void grow_ops(void)
{
    int64_t capacity = op_capacity ? op_capacity * 2 : 64;
    effect_op *new_ops = fl_realloc_or_die(ops, (size_t)capacity * sizeof *ops);
    ops = new_ops;
    int32_t *new_counts = fl_realloc_or_die(fl_effect_handler_counts, (size_t)capacity * sizeof *new_counts);
    fl_effect_handler_counts = new_counts;
    fl_value *new_names = GC_MALLOC_UNCOLLECTABLE((size_t)capacity * sizeof *new_names);
    if (!new_names)
        fl_out_of_memory((int64_t)(capacity * (int64_t)sizeof *new_names), 0);
    memset(new_counts + op_capacity, 0, (size_t)(capacity - op_capacity) * sizeof *new_counts);
    for (int64_t i = 0; i < capacity; i++)
        new_names[i] = i < op_count ? short_names[i] : 0;
    if (short_names)
        GC_FREE(short_names);
    short_names = new_names;
    op_capacity = capacity;
}

/* Few effects and operations exist (tens), and interning happens at module
 * start-up or when a handler form is entered: linear searches are enough. */
int64_t fl_effect_group(const char *name, int64_t len)
{
    for (int64_t i = 0; i < group_count; i++)
        if ((int64_t)strlen(groups[i].name) == len && memcmp(groups[i].name, name, (size_t)len) == 0)
            return i;
    if (group_count == group_capacity) {
        int64_t capacity = group_capacity ? group_capacity * 2 : 16;
        groups = fl_realloc_or_die(groups, (size_t)capacity * sizeof *groups);
        group_capacity = capacity;
    }
    char *copy = fl_malloc_or_die((size_t)len + 1);
    memcpy(copy, name, (size_t)len);
    copy[len] = 0;
    groups[group_count].name = copy;
    groups[group_count].handler_count = 0;
    return group_count++;
}

int64_t fl_effect_op(const char *qualified_name)
{
    for (int64_t i = 0; i < op_count; i++)
        if (strcmp(ops[i].name, qualified_name) == 0)
            return i;
    const char *colon = strchr(qualified_name, ':');
    int64_t group_len = colon ? colon - qualified_name : (int64_t)strlen(qualified_name);
    int64_t group = fl_effect_group(qualified_name, group_len);
    if (op_count == op_capacity)
        grow_ops();
    ops[op_count].name = fl_copy_bytes(qualified_name, strlen(qualified_name) + 1);
    ops[op_count].group = group;
    ops[op_count].fallback = NULL;
    fl_effect_handler_counts[op_count] = groups[group].handler_count;
    fl_state_sites_invalidate();
    return op_count++;
}

const char *fl_effect_name(int64_t op)
{
    return op >= 0 && op < op_count ? ops[op].name : "?";
}

int64_t fl_effect_group_of(int64_t op)
{
    return ops[op].group;
}

fl_value fl_effect_short_name(int64_t op)
{
    if (!short_names[op]) {
        const char *colon = strchr(ops[op].name, ':');
        short_names[op] = fl_string_from_cstr(colon ? colon + 1 : "");
    }
    return short_names[op];
}

void fl_effect_set_default(const char *qualified_name, fl_code fn)
{
    int64_t op = fl_effect_op(qualified_name);   /* may move `ops` */
    ops[op].fallback = fn;
}

void fl_effect_count_op(int64_t op, int32_t delta)
{
    fl_effect_handler_counts[op] += delta;
    fl_state_sites_invalidate();
}

void fl_effect_count_group(int64_t group, int32_t delta)
{
    groups[group].handler_count += delta;
    for (int64_t i = 0; i < op_count; i++)
        if (ops[i].group == group)
            fl_effect_handler_counts[i] += delta;
    fl_state_sites_invalidate();
}

void fl_effect_counts_clear(void)
{
    for (int64_t i = 0; i < group_count; i++)
        groups[i].handler_count = 0;
    if (op_count)
        memset(fl_effect_handler_counts, 0, (size_t)op_count * sizeof *fl_effect_handler_counts);
    fl_state_sites_invalidate();
}

static fl_value unhandled(int64_t op, int64_t argc)
{
    fl_raise("unhandled-effect", FL_LOCOF(argc), "unhandled effect `%s`", fl_effect_name(op));
    return FL_NIL;
}

fl_value fl_perform_default(int64_t op, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
{
    fl_code fallback = ops[op].fallback;
    if (!fallback)
        return unhandled(op, argc);
    return fallback(FL_NIL, argc, a0, a1, a2, rest);
}

static fl_value perform(int64_t op, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
{
    if (__builtin_expect(op < 0 || op >= op_count, 0))
        return unhandled(op, argc);
    if (__builtin_expect(fl_effect_handler_counts[op] != 0, 0))
        return fl_handler_dispatch(op, argc, a0, a1, a2, rest);
    fl_code fallback = ops[op].fallback;
    if (!fallback)
        return unhandled(op, argc);
    return fallback(FL_NIL, argc, a0, a1, a2, rest);
}

void fl_effect_init(void)
{
    fl_io_effect_init();
    fl_error_effect_init();
    fl_state_effect_init();
    fl_time_effect_init();
    fl_random_effect_init();
    fl_dom_effect_init();
    fl_network_effect_init();
}

/* Everything a program run may have changed in the effects' world goes back
 * to how a fresh program finds it. */
void fl_effects_program_start(void)
{
    fl_handlers_reset();
    fl_state_reset();
    fl_error_catch_reset();
    fl_time_reset();
    fl_random_reseed();
    fl_dom_reset();
}

/* A resume point (fluentai.h): a fault inside a default handler, or an unhandled
 * effect, returns an error:catch handler's answer as the operation's value. */
FL_RESUME_ENTRY(fl_value, fl_perform,
                (int64_t op, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest),
                (op, argc, a0, a1, a2, rest), perform, FL_RESUME_AS_VALUE)
