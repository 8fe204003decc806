/* handler.c -- handler forms, dispatch of handled operations, errors as
 * effects, and the Python handlers layer (LANGUAGE.md section 7).
 *
 * In:  fl_with_handlers(clauses, thunk, loc) from generated code; handled
 *      operations from fl_perform (effect.c) when an operation's count is
 *      not 0; errors raised anywhere (fl_raise unwinds through catch frames).
 * Out: the body's value, a clause's value returned to the perform site, or
 *      an error clause's value as the value of the whole handler form.
 *
 * The search order for an operation: the frames of fl_handler_top innermost
 * first, then the Python handlers (the host layer), then the default. A
 * clause runs with fl_handler_top set to the frames outside its own form, so
 * it can forward the operation outward (tail-resumptive handlers: no
 * continuation is captured, DESIGN.md "Fibers, scheduler, effects").
 *
 * Errors. Every handler form pushes a catch frame (error.c), whether or not it
 * has an error clause: an error unwinding through it lands there, the form
 * gives back its handler counts, and then either handles the error (it has an
 * error clause and is not cut) or raises it again to the next catch frame
 * outward. While a clause of form F runs, F and the forms inside F are "cut"
 * (each frame counts the clause calls cutting it): an error raised in the
 * clause must not be caught by them, only by the forms outside F. The count
 * lives in the frame itself because at a landing everything deeper on the
 * stack, the raise site's handler stack included, is already dead memory.
 * A clause call that ends by an unwind never gives its cuts back, and needs
 * not: the frames it cut are inside it, so they are all abandoned too. The
 * catch frames are saved without the signal mask (no system call per handler
 * form); a landing after a stack overflow unblocks SIGSEGV/SIGBUS itself,
 * since it left the signal handler by a jump.
 *
 * error:catch (program-wide handlers by type) applies to errors raised with
 * error:raise, where the raise returns the handler's value, and to every
 * runtime fault, where the value resumes the runtime entry point that failed
 * (fl_fault and FL_RESUME_GUARD, error.c): the failing operation returns it.
 * A handler form visible at the raise takes precedence over a catch
 * handler (innermost first); a catch handler is not re-entered by a raise of
 * its own type while it runs.
 */
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include "fluentai.h"

typedef struct handler_clause {
    int64_t op;          /* the operation's id, or -1 for a whole-effect clause */
    int64_t group;       /* the effect's id */
    fl_value fn;
} handler_clause;

struct fl_handler_frame {
    fl_handler_frame *below;     /* the handler stack when this form was entered */
    int64_t nclauses;
    handler_clause *clauses;     /* error clauses excepted */
    fl_value error_fn;           /* the first error clause, or FL_NIL */
    int32_t defaults_only;       /* the marker a Python handler runs under */
    int32_t cut;                 /* clause calls of this frame or of a frame outside it, running */
};

fl_handler_frame *fl_handler_top;
static fl_handler_frame defaults_only_marker = {.error_fn = FL_NIL, .defaults_only = 1};
/* The Python handlers; in .bss, so Boehm sees the clause array. */
static fl_handler_frame host_layer;
static fl_value host_clause_list;
/* What a Python handler asked the perform site to do instead of returning. */
static fl_value host_error;
static int32_t host_failed, host_exit_requested, host_exit_code;

/* ---- clauses ---- */

static int string_is(fl_value s, const char *text)
{
    int64_t n = (int64_t)strlen(text);
    return FL_STR(s)->nbytes == n && memcmp(FL_STR(s)->bytes, text, (size_t)n) == 0;
}

static int64_t count_clauses(fl_value list, int64_t loc)
{
    int64_t n = fl_list_length(list);
    if (n < 0 || n % 2 != 0)
        fl_raise("type-error", loc, "malformed handler clause list");
    return n / 2;
}

static void not_a_function(fl_value name, fl_value fn, int64_t loc)
{
    fl_buf b;
    fl_buf_init(&b);
    fl_buf_puts(&b, "handler clause for `");
    fl_buf_write_value(&b, name, 1);
    fl_buf_puts(&b, "` is not a function: ");
    fl_buf_write_value_capped(&b, fn, 0, 80);
    fl_raise_value(fl_make_error(fl_string_from_cstr("type-error"), fl_buf_to_string(&b), FL_NIL), loc);
}

/* What a clause name means, resolved once per name string: a handler form in
 * a loop must not search the operation table by name at every entry. The
 * cache holds the names it maps (it is in .bss, which Boehm scans), so a
 * cached address is never reused by another string. */
typedef struct clause_name {
    fl_value name;
    int64_t op;          /* -1: a whole effect */
    int64_t group;
    int32_t is_error;    /* "error" or "error:raise" */
} clause_name;
#define NAME_CACHE_SIZE 256
static clause_name name_cache[NAME_CACHE_SIZE];

static const clause_name *resolve_name(fl_value name)
{
    clause_name *e = &name_cache[(name >> 4) & (NAME_CACHE_SIZE - 1)];
    if (e->name == name)
        return e;
    const char *text = FL_STR(name)->bytes;
    e->is_error = string_is(name, "error") || string_is(name, "error:raise");
    if (memchr(text, ':', (size_t)FL_STR(name)->nbytes)) {
        e->op = fl_effect_op(text);
        e->group = fl_effect_group_of(e->op);
    } else {
        e->op = -1;
        e->group = fl_effect_group(text, FL_STR(name)->nbytes);
    }
    e->name = name;
    return e;
}

static void parse_clause(fl_handler_frame *frame, fl_value name, fl_value fn, int64_t loc)
{
    if (!FL_IS_STRING(name))
        fl_raise("type-error", loc, "malformed handler clause list");
    if (!FL_IS_CLOSURE(fn))
        not_a_function(name, fn, loc);
    const clause_name *meaning = resolve_name(name);
    if (meaning->is_error) {
        if (frame->error_fn == FL_NIL)
            frame->error_fn = fn;
        return;
    }
    handler_clause *c = &frame->clauses[frame->nclauses++];
    c->fn = fn;
    c->op = meaning->op;
    c->group = meaning->group;
}

/* Fills `frame` from the clause list; raises before anything is installed. */
static void parse_clauses(fl_handler_frame *frame, fl_value list, handler_clause *storage, int64_t loc)
{
    frame->below = NULL;
    frame->nclauses = 0;
    frame->clauses = storage;
    frame->error_fn = FL_NIL;
    frame->defaults_only = 0;
    frame->cut = 0;
    for (fl_value p = list; p != FL_EMPTY; p = FL_PAIR(FL_PAIR(p)->tail)->tail)
        parse_clause(frame, FL_PAIR(p)->head, FL_PAIR(FL_PAIR(p)->tail)->head, loc);
}

static void count_frame(const fl_handler_frame *frame, int32_t delta)
{
    for (int64_t i = 0; i < frame->nclauses; i++) {
        const handler_clause *c = &frame->clauses[i];
        if (c->op >= 0)
            fl_effect_count_op(c->op, delta);
        else
            fl_effect_count_group(c->group, delta);
    }
}

/* ---- dispatch ---- */

static const handler_clause *find_clause(const fl_handler_frame *frame, int64_t op, int64_t group)
{
    for (int64_t i = 0; i < frame->nclauses; i++) {
        const handler_clause *c = &frame->clauses[i];
        if (c->op == op || (c->op < 0 && c->group == group))
            return c;
    }
    return NULL;
}

/* A whole-effect clause gets the operation's short name before the arguments. */
static fl_value call_clause(const handler_clause *c, int64_t op, int64_t argc, fl_value a0, fl_value a1,
                            fl_value a2, fl_value *rest)
{
    fl_value fn = c->fn;
    if (c->op >= 0)
        return FL_CLOSURE(fn)->code(fn, argc, a0, a1, a2, rest);
    int64_t n = FL_NARGS(argc);
    int64_t shifted = FL_ARGC(n + 1, FL_LOCOF(argc));
    fl_value name = fl_effect_short_name(op);
    if (n + 1 <= FL_REG_ARGS)
        return FL_CLOSURE(fn)->code(fn, shifted, name, a0, a1, NULL);
    fl_value *more = fl_rest_array(n + 1 - FL_REG_ARGS);
    more[0] = a2;
    for (int64_t i = FL_REG_ARGS; i < n; i++)
        more[i - FL_REG_ARGS + 1] = rest[i - FL_REG_ARGS];
    return FL_CLOSURE(fn)->code(fn, shifted, name, a0, a1, more);
}

/* A Python handler cannot unwind through Python frames: it leaves its error
 * (or exit) here and returns; the perform site raises it. */
static void raise_host_outcome(int64_t loc)
{
    if (host_exit_requested) {
        host_exit_requested = 0;
        fl_exit_program(host_exit_code);
    }
    if (host_failed) {
        fl_value error = host_error;
        host_failed = 0;
        host_error = FL_NIL;
        fl_raise_value(error, loc);
    }
}

/* Python functions passed into a program (runner.py) are closures whose code
 * is this trampoline: free[0] is the Python-side index, free[1] the address of
 * the cffi callback. The callback cannot unwind through Python frames, so it
 * records a failure or an exit, and the trampoline acts on it once back here. */
static fl_value host_function_entry(fl_value self, int64_t argc, fl_value a0, fl_value a1,
                                    fl_value a2, fl_value *rest)
{
    fl_code python = (fl_code)(uintptr_t)FL_CLOSURE(self)->free[1];
    fl_check_stack(FL_LOCOF(argc));
    host_failed = host_exit_requested = 0;
    fl_value v = python(self, argc, a0, a1, a2, rest);
    raise_host_outcome(FL_LOCOF(argc));
    return v;
}

fl_value fl_make_host_function(void *callback, int64_t index)
{
    fl_value clo = fl_make_closure(host_function_entry, 0, FL_CLOSURE_HAS_REST, FL_NIL, 2);
    FL_CLOSURE(clo)->free[0] = FL_FIXNUM(index);
    FL_CLOSURE(clo)->free[1] = (fl_value)(uintptr_t)callback;
    return clo;
}

static fl_value call_host_clause(const handler_clause *c, int64_t op, int64_t argc, fl_value a0,
                                 fl_value a1, fl_value a2, fl_value *rest)
{
    fl_check_stack(FL_LOCOF(argc));
    fl_handler_frame *saved = fl_handler_top;
    fl_handler_top = &defaults_only_marker;
    host_failed = host_exit_requested = 0;
    fl_value v = call_clause(c, op, argc, a0, a1, a2, rest);
    fl_handler_top = saved;
    raise_host_outcome(FL_LOCOF(argc));
    return v;
}

static void cut_down_to(fl_handler_frame *owner, int32_t delta)
{
    for (fl_handler_frame *f = fl_handler_top;; f = f->below) {
        f->cut += delta;
        if (f == owner)
            return;
    }
}

/* A clause of `owner` runs with the frames outside owner's form only. */
static fl_value call_cutting(fl_handler_frame *owner, const handler_clause *c, int64_t op, int64_t argc,
                             fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
{
    cut_down_to(owner, +1);
    fl_handler_frame *saved = fl_handler_top;
    fl_handler_top = owner->below;
    fl_value v = call_clause(c, op, argc, a0, a1, a2, rest);
    fl_handler_top = saved;
    cut_down_to(owner, -1);
    return v;
}

fl_value fl_handler_dispatch(int64_t op, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
{
    int64_t group = fl_effect_group_of(op);
    fl_handler_frame *frame = fl_handler_top;
    for (; frame && !frame->defaults_only; frame = frame->below) {
        const handler_clause *c = find_clause(frame, op, group);
        if (c)
            return call_cutting(frame, c, op, argc, a0, a1, a2, rest);
    }
    if (!frame && host_layer.nclauses) {
        const handler_clause *c = find_clause(&host_layer, op, group);
        if (c)
            return call_host_clause(c, op, argc, a0, a1, a2, rest);
    }
    return fl_perform_default(op, argc, a0, a1, a2, rest);
}

/* ---- handler forms ---- */

/* Walks the raise site's handler stack, which holds no cut frame. */
static int error_clause_visible(void)
{
    for (const fl_handler_frame *f = fl_handler_top; f; f = f->below)
        if (f->error_fn != FL_NIL)
            return 1;
    return 0;
}

static void unblock_fault_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSEGV);
    sigaddset(&set, SIGBUS);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/* After a jump to `c` (already the innermost catch frame): pop it and give
 * back the error value, now that there is room to build it. */
static fl_value take_landing(fl_catch *c)
{
    if (c->reason == FL_CATCH_STACK_OVERFLOW)
        unblock_fault_signals();
    fl_catch_pop(c);
    return fl_catch_error(c);
}

static fl_value land(fl_handler_frame *frame, fl_catch *c, int64_t loc)
{
    count_frame(frame, -1);
    fl_value error = take_landing(c);
    if (frame->error_fn == FL_NIL || frame->cut > 0)
        fl_raise_value(error, c->loc);
    fl_handler_top = frame->below;
    return fl_call1(frame->error_fn, FL_ARGC(1, loc), error);
}

static fl_value run_body(fl_handler_frame *frame, fl_value thunk, int64_t loc)
{
    fl_catch c;
    c.is_run = 0;
    frame->below = fl_handler_top;
    count_frame(frame, +1);
    fl_catch_push(&c);
    if (sigsetjmp(c.jump, 0) != 0)
        return land(frame, &c, loc);
    fl_handler_top = frame;
    fl_value v = FL_CLOSURE(thunk)->code(thunk, FL_ARGC(0, loc), FL_NIL, FL_NIL, FL_NIL, NULL);
    fl_handler_top = frame->below;
    fl_catch_pop(&c);
    count_frame(frame, -1);
    return v;
}

fl_value fl_with_handlers(fl_value clauses, fl_value thunk, int64_t loc)
{
    /* The landing builds error values here: keep the allocator's headroom. */
    fl_check_stack(loc);
    if (!FL_IS_CLOSURE(thunk))
        fl_raise("type-error", loc, "handler body is not a function");
    int64_t n = count_clauses(clauses, loc);
    handler_clause storage[n > 0 ? n : 1];
    fl_handler_frame frame;
    parse_clauses(&frame, clauses, storage, loc);
    return run_body(&frame, thunk, loc);
}

/* ---- the handler stack seen from outside ---- */

static void count_host_layer(int32_t delta)
{
    count_frame(&host_layer, delta);
}

void fl_handlers_reset(void)
{
    fl_handler_top = NULL;
    fl_effect_counts_clear();
    count_host_layer(+1);
}

void *fl_handlers_save(void)
{
    return fl_handler_top;
}

void fl_handlers_restore(void *saved)
{
    fl_handler_top = saved;
}

void fl_set_host_handlers(fl_value clauses)
{
    fl_init();
    count_host_layer(-1);
    host_layer.nclauses = 0;
    host_layer.clauses = NULL;
    host_clause_list = FL_EMPTY;
    if (clauses == FL_EMPTY || clauses == FL_NIL)
        return;
    int64_t n = count_clauses(clauses, 0);
    fl_handler_frame parsed;
    handler_clause *storage = fl_alloc((n > 0 ? n : 1) * (int64_t)sizeof(handler_clause));
    parse_clauses(&parsed, clauses, storage, 0);
    host_layer = parsed;
    host_clause_list = clauses;
    count_host_layer(+1);
}

void fl_host_fail(fl_value error)
{
    host_error = error;
    host_failed = 1;
}

void fl_host_exit(int32_t code)
{
    host_exit_code = code;
    host_exit_requested = 1;
}

/* ---- the error effect's defaults ---- */

static fl_value catch_table;       /* type (string) -> function; .bss: rooted */
static fl_value catch_running;     /* list of the types whose catch handler is running */

void fl_error_catch_reset(void)
{
    catch_table = fl_map_empty();
    catch_running = FL_EMPTY;
    fl_resume_armed = 0;
    fl_state_sites_invalidate();
}

/* The type as given: a string as is, a keyword by its name, anything else displayed. */
static fl_value error_type_text(fl_value type)
{
    if (FL_IS_KIND(type, FL_K_KEYWORD))
        return ((fl_value *)FL_PTR(type))[1];
    return fl_to_display(type);
}

static int list_contains(fl_value list, fl_value v)
{
    for (; list != FL_EMPTY; list = FL_PAIR(list)->tail)
        if (fl_equal(FL_PAIR(list)->head, v))
            return 1;
    return 0;
}

/* (fn error) with the type marked as running, unmarked on every exit path. */
static fl_value call_catch_handler(fl_value fn, fl_value type, fl_value error, int64_t loc)
{
    fl_value outer_running = catch_running;
    catch_running = fl_cons(type, outer_running, loc);
    fl_catch c;
    c.is_run = 0;
    fl_catch_push(&c);
    if (sigsetjmp(c.jump, 0) != 0) {
        fl_value inner_error = take_landing(&c);
        catch_running = outer_running;
        fl_raise_value(inner_error, c.loc);
    }
    fl_value v = fl_call1(fn, FL_ARGC(1, loc), error);
    fl_catch_pop(&c);
    catch_running = outer_running;
    return v;
}

/* The value of an error:catch handler for `error`, or FL_UNBOUND when none applies
 * (not 0: that is the fixnum 0, a handler's answer like any other). */
fl_value fl_catch_handler_value(fl_value error, int64_t loc)
{
    if (!catch_table || fl_map_size(catch_table) == 0 || error_clause_visible())
        return FL_UNBOUND;
    fl_value type = fl_map_get(error, fl_string_from_cstr("type"), FL_NIL);
    fl_value fn = fl_map_get(catch_table, type, FL_NIL);
    if (fn == FL_NIL || list_contains(catch_running, type))
        return FL_UNBOUND;
    return call_catch_handler(fn, type, error, loc);
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
    fl_value caught = fl_catch_handler_value(error, FL_LOCOF(argc));
    if (caught != FL_UNBOUND)
        return caught;
    fl_raise_value(error, FL_LOCOF(argc));
    return FL_NIL;
}

/* (error:catch type fn): later raises of `type` return (fn error). */
static fl_value error_catch(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
{
    (void)self; (void)a2; (void)rest;
    fl_arity_check("error:catch", argc, 2, 2);
    if (!FL_IS_STRING(a0) && !FL_IS_KIND(a0, FL_K_KEYWORD))
        fl_type_fail("error:catch", "an error type (a string or a keyword)", a0, FL_LOCOF(argc));
    if (!FL_IS_CLOSURE(a1))
        fl_type_fail("error:catch", "a function", a1, FL_LOCOF(argc));
    if (!catch_table)
        catch_table = fl_map_empty();
    catch_table = fl_map_set(catch_table, error_type_text(a0), a1);
    fl_resume_armed = 1;   /* from now on every guarded runtime entry point is a resume point */
    fl_state_sites_invalidate();
    return FL_NIL;
}

void fl_error_effect_init(void)
{
    fl_error_catch_reset();
    fl_effect_set_default("error:raise", error_raise);
    fl_effect_set_default("error:catch", error_catch);
}
