/* runtime.c -- start-up (GC, builtins, effects), the GC stress mode, the
 * command line, and the table joining every subsystem's builtins.
 *
 * Each builtin gets one first-class closure at start-up (flag
 * FL_CLOSURE_BUILTIN, so it prints as #<builtin name>), kept in
 * uncollectable memory; fl_builtin_value hands it to generated code.
 */
#include <gc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fluentai.h"

extern int fl_gc_stress_on;

static int initialized;
static const fl_builtin_def **builtin_defs;   /* joined tables, malloc'd */
static fl_value *builtin_closures;            /* uncollectable, parallel to builtin_defs */
static int64_t builtin_total;

static const fl_builtin_def *const *builtin_tables(void)
{
    static const fl_builtin_def *const tables[] = {
        fl_number_builtins, fl_predicate_builtins, fl_list_builtins, fl_string_builtins,
        fl_map_builtins, fl_program_builtins, fl_chan_builtins, fl_promise_builtins, NULL,
    };
    return tables;
}

static void join_builtin_tables(void)
{
    int64_t n = 0;
    for (const fl_builtin_def *const *t = builtin_tables(); *t; t++)
        for (const fl_builtin_def *d = *t; d->name; d++)
            n++;
    builtin_defs = fl_malloc_or_die((size_t)n * sizeof *builtin_defs);
    builtin_closures = GC_MALLOC_UNCOLLECTABLE((size_t)(n ? n : 1) * sizeof(fl_value));
    if (!builtin_closures)
        fl_out_of_memory((n ? n : 1) * (int64_t)sizeof(fl_value), 0);
    n = 0;
    for (const fl_builtin_def *const *t = builtin_tables(); *t; t++)
        for (const fl_builtin_def *d = *t; d->name; d++)
            builtin_defs[n++] = d;
    builtin_total = n;
    for (int64_t i = 0; i < n; i++) {
        const fl_builtin_def *d = builtin_defs[i];
        int32_t flags = FL_CLOSURE_BUILTIN | (d->max_args != d->min_args ? FL_CLOSURE_HAS_REST : 0);
        builtin_closures[i] = fl_make_closure(d->code, d->min_args, flags, fl_string_from_cstr(d->name), 0);
    }
}

#define INITIAL_HEAP_BYTES (32u << 20)
#define FREE_SPACE_DIVISOR 2

void fl_init(void)
{
    if (initialized)
        return;
    initialized = 1;
    GC_INIT();
    fl_limits_init();
    /* Start with a heap big enough that allocation-heavy programs do not
     * collect every few hundred kilobytes (Boehm's default start is tiny);
     * untouched pages cost no resident memory. */
    GC_expand_hp(INITIAL_HEAP_BYTES < fl_max_heap() / 2 ? INITIAL_HEAP_BYTES : (size_t)fl_max_heap() / 2);
    /* Collect when about half the heap has been allocated since the last
     * collection rather than a third: large live structures (a 10^5-entry
     * map) are marked half as often, for at most twice the free space. */
    GC_set_free_space_divisor(FREE_SPACE_DIVISOR);
    const char *stress = getenv("FLUENTAI_GC_STRESS");
    if (stress && *stress && strcmp(stress, "0") != 0)
        fl_set_gc_stress(1);
    join_builtin_tables();
    fl_effect_init();
    fl_tasks_init();   /* after fl_effect_init: its time:sleep default is replaced */
}

void fl_set_gc_stress(int on)
{
    fl_gc_stress_on = on;
    if (on)   /* every allocation must now go through fl_alloc's stress tick */
        fl_drop_small_lists();
    GC_set_free_space_divisor(on ? 64 : FREE_SPACE_DIVISOR);
}

int64_t fl_gc_count(void)
{
    return (int64_t)GC_get_gc_no();
}

void fl_gc_collect(void)
{
    GC_gcollect();
}

void fl_flush(void)
{
    fflush(stdout);
}

int64_t fl_builtin_count(void)
{
    fl_init();
    return builtin_total;
}

const fl_builtin_def *fl_builtin_at(int64_t i)
{
    fl_init();
    return i >= 0 && i < builtin_total ? builtin_defs[i] : NULL;
}

fl_value fl_builtin_value(const char *name)
{
    fl_init();
    for (int64_t i = 0; i < builtin_total; i++)
        if (strcmp(builtin_defs[i]->name, name) == 0)
            return builtin_closures[i];
    return 0;
}

/* ---- the command line and exit ---- */

static char **command_line;   /* malloc'd copies: the caller's argv may go away */
static int64_t command_line_count;

void fl_set_command_line(int64_t argc, const char **argv)
{
    for (int64_t i = 0; i < command_line_count; i++)
        free(command_line[i]);
    free(command_line);
    command_line = fl_malloc_or_die((size_t)(argc > 0 ? argc : 1) * sizeof *command_line);
    for (int64_t i = 0; i < argc; i++)
        command_line[i] = fl_copy_bytes(argv[i], strlen(argv[i]) + 1);
    command_line_count = argc;
}

fl_value fl_bi_command_line_args(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2,
                                 fl_value *rest)
{
    (void)self; (void)a0; (void)a1; (void)a2; (void)rest;
    fl_arity_check("command-line-args", argc, 0, 0);
    fl_value list = FL_EMPTY;
    for (int64_t i = command_line_count - 1; i >= 0; i--)
        list = fl_cons(fl_string_from_cstr(command_line[i]), list, FL_LOCOF(argc));
    return list;
}

/* (exit) is (exit 0); the code must be an int, and the process sees its low byte. */
FL_BUILTIN(fl_bi_exit)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    fl_arity_check("exit", argc, 0, 1);
    int64_t code = 0;
    if (FL_NARGS(argc) == 1) {
        if (!FL_IS_INT(a0))
            fl_type_fail("exit", "an int", a0, FL_LOCOF(argc));
        code = fl_int_value(a0);
    }
    fl_exit_program((int32_t)(code & 0xFF));
    return FL_NIL;
}

const fl_builtin_def fl_program_builtins[] = {
    {"command-line-args", fl_bi_command_line_args, 0, 0},
    {"exit", fl_bi_exit, 0, 1},
    {NULL, NULL, 0, 0},
};
