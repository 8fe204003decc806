/* promise.c -- promises, await, and the async effect.
 *
 * In:  fl_await from generated code; the `promise` and `spawn` builtins; the
 *      async:* and concurrent:spawn/join operations; settlements from tasks
 *      (sched.c) and timers (timer.c).
 * Out: promise values (kind FL_K_PROMISE) that settle once (the first settle
 *      wins), wake their awaiting tasks in FIFO order, and run the internal
 *      callbacks that adoption, async:all and async:race chain on them.
 *
 * A rejection is either an error map (a task failed: await re-raises that
 * same error, at its original location) or a reason given to `reject` (await
 * raises a promise-rejected error whose message is the reason's display form).
 * An awaiting task's waiter lives on its own stack, which stays put while the
 * task is suspended; waiters left by an earlier run are dropped (epoch).
 */
#include <stdio.h>

#include "fluentai.h"

enum promise_state { PENDING = 0, RESOLVED = 1, REJECTED = 2 };

typedef struct fl_promise fl_promise;
typedef struct waiter {
    struct waiter *next;
    fl_task *task;                                       /* an awaiting task, or */
    void (*settled)(struct waiter *w, fl_promise *from); /* a callback */
    fl_value target;                                     /* the callback's own promise */
    void *record;                                        /* the callback's shared state */
    int64_t index;
} waiter;

struct fl_promise {
    fl_header hdr;
    int32_t state;              /* enum promise_state */
    int32_t observed;           /* awaited or chained on: its failure is not reported */
    int32_t by_reason;          /* REJECTED by `reject`: value is the reason */
    int32_t adopting;           /* resolved with a pending promise: settles only through it */
    fl_value value;             /* the result, the error map or the reason */
    int64_t error_loc;
    int64_t created_loc;
    int64_t task_id;            /* the task whose result it is, or 0 */
    int64_t epoch;
    waiter *waiters, *last_waiter;
};

#define PROMISE(v) ((fl_promise *)FL_PTR(v))
#define IS_PROMISE(v) FL_IS_KIND(v, FL_K_PROMISE)

/* Builtins are global: AOT code calls them by symbol. Effect defaults are only
 * reached through their operation ids. */
#define BUILTIN(cname) FL_BUILTIN(cname)   /* a resume point for error:catch (fluentai.h) */
#define OPERATION(cname) \
    static fl_value cname(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)

static fl_value new_promise(int64_t loc, int64_t task_id)
{
    fl_promise *p = fl_alloc(sizeof *p);
    p->hdr.kind = FL_K_PROMISE;
    p->value = FL_NIL;
    p->created_loc = loc;
    p->task_id = task_id;
    p->epoch = fl_sched_epoch;
    return FL_HEAP(p);
}

fl_value fl_promise_new(int64_t loc)
{
    return new_promise(loc, 0);
}

fl_value fl_promise_for_task(int64_t task_id, int64_t spawn_loc)
{
    return new_promise(spawn_loc, task_id);
}

int fl_promise_observed(fl_value p)
{
    return PROMISE(p)->observed;
}

/* ---- settling ---- */

static void add_waiter(fl_promise *p, waiter *w)
{
    if (p->epoch != fl_sched_epoch) {   /* tasks of a finished run: gone */
        p->waiters = p->last_waiter = NULL;
        p->epoch = fl_sched_epoch;
    }
    w->next = NULL;
    if (p->last_waiter)
        p->last_waiter->next = w;
    else
        p->waiters = w;
    p->last_waiter = w;
}

static void settle(fl_promise *p, int32_t state, fl_value value, int64_t error_loc, int32_t by_reason)
{
    if (p->state != PENDING)
        return;
    p->state = state;
    p->value = value;
    p->error_loc = error_loc;
    p->by_reason = by_reason;
    waiter *w = p->epoch == fl_sched_epoch ? p->waiters : NULL;
    p->waiters = p->last_waiter = NULL;
    while (w) {
        waiter *next = w->next;   /* a woken task's waiter stays valid: the task has not run yet */
        if (w->task)
            fl_task_wake(w->task);
        else
            w->settled(w, p);
        w = next;
    }
}

static void settle_like(fl_promise *p, const fl_promise *from)
{
    settle(p, from->state, from->value, from->error_loc, from->by_reason);
}

static void adopted_settled(waiter *w, fl_promise *from)
{
    settle_like(PROMISE(w->target), from);
}

static void add_callback(fl_promise *p, void (*settled)(waiter *, fl_promise *), fl_value target,
                         void *record, int64_t index)
{
    waiter *w = fl_alloc(sizeof *w);
    w->settled = settled;
    w->target = target;
    w->record = record;
    w->index = index;
    add_waiter(p, w);
}

/* Calls `settled` now when `source` is already settled, else when it settles. */
static void chain(fl_value source, void (*settled)(waiter *, fl_promise *), fl_value target,
                  void *record, int64_t index)
{
    fl_promise *s = PROMISE(source);
    s->observed = 1;
    if (s->state == PENDING) {
        add_callback(s, settled, target, record, index);
        return;
    }
    waiter now = {NULL, NULL, settled, target, record, index};
    settled(&now, s);
}

static void reject_with(fl_promise *p, const char *type, const char *message)
{
    fl_value error = fl_make_error(fl_string_from_cstr(type), fl_string_from_cstr(message), FL_NIL);
    settle(p, REJECTED, error, 0, 0);
}

void fl_promise_resolve(fl_value pv, fl_value v)
{
    fl_promise *p = PROMISE(pv);
    if (p->state != PENDING || p->adopting)
        return;
    if (!IS_PROMISE(v)) {
        settle(p, RESOLVED, v, 0, 0);
        return;
    }
    if (v == pv) {
        reject_with(p, "type-error", "a promise cannot be resolved with itself");
        return;
    }
    p->adopting = 1;
    chain(v, adopted_settled, pv, NULL, 0);
}

void fl_promise_reject(fl_value pv, fl_value reason)
{
    fl_promise *p = PROMISE(pv);
    if (!p->adopting)
        settle(p, REJECTED, reason, 0, 1);
}

void fl_promise_fail(fl_value pv, fl_value error, int64_t loc)
{
    fl_promise *p = PROMISE(pv);
    if (!p->adopting)
        settle(p, REJECTED, error, loc, 0);
}

/* ---- await ---- */

static __attribute__((noreturn)) void raise_rejection(const fl_promise *p, int64_t loc)
{
    if (p->by_reason)
        fl_raise_value(fl_make_error(fl_string_from_cstr("promise-rejected"), fl_to_display(p->value), FL_NIL),
                       loc);
    else
        fl_raise_value(p->value, p->error_loc ? p->error_loc : loc);
    __builtin_unreachable();
}

static void not_a_promise(const char *what, fl_value v, int64_t loc)
{
    fl_buf b;
    fl_buf_init(&b);
    fl_buf_puts(&b, "`");
    fl_buf_puts(&b, what);
    fl_buf_puts(&b, "` expects a promise, got ");
    fl_buf_write_value_capped(&b, v, 0, 80);
    fl_raise_value(fl_make_error(fl_string_from_cstr("type-error"), fl_buf_to_string(&b), FL_NIL), loc);
}

static fl_value await_named(const char *what, fl_value pv, int64_t loc)
{
    if (!IS_PROMISE(pv))
        not_a_promise(what, pv, loc);
    fl_promise *p = PROMISE(pv);
    p->observed = 1;
    if (p->state == PENDING) {
        fl_task_may_block();
        waiter me = {NULL, fl_task_self(), NULL, FL_NIL, NULL, 0};
        add_waiter(p, &me);
        fl_task_block(FL_WAIT_AWAIT, pv);
    }
    if (p->state == RESOLVED)
        return p->value;
    raise_rejection(p, loc);
}

fl_value fl_await(fl_value p, int64_t loc)
{
    return await_named("await", p, loc);
}

/* ---- describing and printing ---- */

void fl_promise_describe(fl_buf *b, fl_value pv)
{
    const fl_promise *p = PROMISE(pv);
    if (p->task_id) {
        char id[40];
        snprintf(id, sizeof id, "promise of task %lld (spawned at ", (long long)p->task_id);
        fl_buf_puts(b, id);
        fl_write_loc(b, p->created_loc);
        fl_buf_puts(b, ")");
        return;
    }
    fl_buf_puts(b, "promise created at ");
    fl_write_loc(b, p->created_loc);
}

static void print_rejection(fl_buf *b, const fl_promise *p)
{
    if (p->by_reason || !FL_IS_KIND(p->value, FL_K_MAP)) {
        fl_buf_write_value(b, p->value, 0);
        return;
    }
    fl_value type = fl_map_get(p->value, fl_string_from_cstr("type"), FL_NIL);
    fl_value message = fl_map_get(p->value, fl_string_from_cstr("message"), FL_NIL);
    fl_buf_puts(b, "error[");
    fl_buf_write_value(b, type, 1);
    fl_buf_puts(b, "]: ");
    fl_buf_write_value(b, message, 1);
}

static void print_promise(fl_buf *b, fl_value v)
{
    const fl_promise *p = PROMISE(v);
    switch (p->state) {
    case PENDING: fl_buf_puts(b, "#<promise pending>"); return;
    case RESOLVED: fl_buf_puts(b, "#<promise resolved "); fl_buf_write_value(b, p->value, 0); break;
    default: fl_buf_puts(b, "#<promise rejected "); print_rejection(b, p); break;
    }
    fl_buf_puts(b, ">");
}

/* ---- the promise and spawn builtins ---- */

static fl_value settle_entry(fl_value self, int64_t argc, fl_value a0, int rejecting)
{
    fl_arity_check(rejecting ? "reject" : "resolve", argc, 1, 1);
    fl_value p = FL_CLOSURE(self)->free[0];
    if (rejecting)
        fl_promise_reject(p, a0);
    else
        fl_promise_resolve(p, a0);
    return FL_NIL;
}

OPERATION(resolve_entry) { (void)a1; (void)a2; (void)rest; return settle_entry(self, argc, a0, 0); }
OPERATION(reject_entry) { (void)a1; (void)a2; (void)rest; return settle_entry(self, argc, a0, 1); }

static fl_value settler(fl_code code, const char *name, fl_value p)
{
    fl_value c = fl_make_closure(code, 1, 0, fl_string_from_cstr(name), 1);
    FL_CLOSURE(c)->free[0] = p;
    return c;
}

/* (promise (lambda (resolve reject) ...)): the executor runs at once. An
 * error it raises is not turned into a rejection: it propagates from
 * `promise` like any other error, so it cannot go unnoticed. */
BUILTIN(fl_bi_promise)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    FL_CHECK_ARITY("promise", argc, 1, 1);
    fl_value p = fl_promise_new(FL_LOCOF(argc));
    fl_call2(a0, argc, settler(resolve_entry, "resolve", p), settler(reject_entry, "reject", p));
    return p;
}

BUILTIN(fl_bi_spawn)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    FL_CHECK_ARITY("spawn", argc, 1, 1);
    return fl_spawn(a0, FL_LOCOF(argc));
}

const fl_builtin_def fl_promise_builtins[] = {
    {"spawn", fl_bi_spawn, 1, 1},
    {"promise", fl_bi_promise, 1, 1},
    {NULL, NULL, 0, 0},
};

/* ---- the async effect ---- */

/* async:all: one shared record per call; each input fills its slot. */
typedef struct all_state {
    fl_value *values;
    int64_t count, remaining;
} all_state;

static void all_part_settled(waiter *w, fl_promise *from)
{
    fl_promise *result = PROMISE(w->target);
    if (result->state != PENDING)
        return;
    if (from->state == REJECTED) {
        settle_like(result, from);
        return;
    }
    all_state *s = w->record;
    s->values[w->index] = from->value;
    if (--s->remaining == 0)
        settle(result, RESOLVED, fl_list_from_array(s->count, s->values), 0, 0);
}

static void check_list(const char *op, fl_value v, int64_t loc)
{
    if (!FL_IS_LIST(v))
        fl_type_fail(op, "a list of promises", v, loc);
}

OPERATION(async_all)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    fl_arity_check("async:all", argc, 1, 1);
    int64_t loc = FL_LOCOF(argc);
    check_list("async:all", a0, loc);
    fl_value result = fl_promise_new(loc);
    all_state *s = fl_alloc(sizeof *s);
    s->count = s->remaining = fl_list_length(a0);
    s->values = fl_alloc((s->count ? s->count : 1) * (int64_t)sizeof(fl_value));
    if (s->count == 0)
        settle(PROMISE(result), RESOLVED, FL_EMPTY, 0, 0);
    int64_t i = 0;
    for (fl_value items = a0; items != FL_EMPTY; items = FL_PAIR(items)->tail, i++) {
        fl_value item = FL_PAIR(items)->head;
        if (IS_PROMISE(item)) {
            chain(item, all_part_settled, result, s, i);
        } else {
            waiter now = {NULL, NULL, all_part_settled, result, s, i};
            fl_promise resolved = {.state = RESOLVED, .value = item};
            all_part_settled(&now, &resolved);
        }
    }
    return result;
}

static void race_part_settled(waiter *w, fl_promise *from)
{
    settle_like(PROMISE(w->target), from);
}

OPERATION(async_race)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    fl_arity_check("async:race", argc, 1, 1);
    int64_t loc = FL_LOCOF(argc);
    check_list("async:race", a0, loc);
    fl_value result = fl_promise_new(loc);
    for (fl_value items = a0; items != FL_EMPTY; items = FL_PAIR(items)->tail) {
        fl_value item = FL_PAIR(items)->head;
        if (IS_PROMISE(item))
            chain(item, race_part_settled, result, NULL, 0);
        else
            fl_promise_resolve(result, item);
    }
    return result;
}

OPERATION(async_delay)
{
    (void)self; (void)a2; (void)rest;
    fl_arity_check("async:delay", argc, 1, 2);
    double ms;
    if (FL_IS_INT(a0))
        ms = (double)fl_int_value(a0);
    else if (FL_IS_FLOAT(a0))
        ms = fl_float_value(a0);
    else {
        fl_type_fail("async:delay", "a number of milliseconds", a0, FL_LOCOF(argc));
        return FL_NIL;
    }
    fl_value p = fl_promise_new(FL_LOCOF(argc));
    int64_t now = fl_now_ns();
    double ns = ms > 0 ? ms * 1e6 : 0;   /* also nan */
    int64_t deadline = ns >= (double)(INT64_MAX / 2) ? INT64_MAX / 2 : now + (int64_t)ns;
    fl_timer_resolve(p, FL_NARGS(argc) == 2 ? a1 : FL_NIL, deadline);
    return p;
}

/* The body of the task async:then starts: (f (await p)). */
OPERATION(then_entry)
{
    (void)a0; (void)a1; (void)a2; (void)rest;
    fl_closure *c = FL_CLOSURE(self);
    fl_value v = await_named("async:then", c->free[0], FL_LOCOF(argc));
    return fl_call1(c->free[1], argc, v);
}

OPERATION(async_then)
{
    (void)self; (void)a2; (void)rest;
    fl_arity_check("async:then", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    if (!IS_PROMISE(a0))
        not_a_promise("async:then", a0, loc);
    if (!FL_IS_CLOSURE(a1))
        fl_type_fail("async:then", "a function", a1, loc);
    PROMISE(a0)->observed = 1;
    fl_value body = fl_make_closure(then_entry, 0, 0, FL_NIL, 2);
    FL_CLOSURE(body)->free[0] = a0;
    FL_CLOSURE(body)->free[1] = a1;
    return fl_spawn(body, loc);
}

OPERATION(async_resolve)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    fl_arity_check("async:resolve", argc, 1, 1);
    if (IS_PROMISE(a0))
        return a0;
    fl_value p = fl_promise_new(FL_LOCOF(argc));
    fl_promise_resolve(p, a0);
    return p;
}

OPERATION(async_reject)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    fl_arity_check("async:reject", argc, 1, 1);
    fl_value p = fl_promise_new(FL_LOCOF(argc));
    fl_promise_reject(p, a0);
    return p;
}

OPERATION(concurrent_spawn)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    fl_arity_check("concurrent:spawn", argc, 1, 1);
    return fl_spawn(a0, FL_LOCOF(argc));
}

OPERATION(concurrent_join)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    fl_arity_check("concurrent:join", argc, 1, 1);
    return await_named("concurrent:join", a0, FL_LOCOF(argc));
}

void fl_promise_init(void)
{
    fl_set_printer(FL_K_PROMISE, print_promise);
    fl_effect_set_default("async:all", async_all);
    fl_effect_set_default("async:race", async_race);
    fl_effect_set_default("async:delay", async_delay);
    fl_effect_set_default("async:then", async_then);
    fl_effect_set_default("async:resolve", async_resolve);
    fl_effect_set_default("async:reject", async_reject);
    fl_effect_set_default("concurrent:spawn", concurrent_spawn);
    fl_effect_set_default("concurrent:join", concurrent_join);
}
