/* chan.c -- channels and select.
 *
 * In:  the chan, send!, recv!, receive!, close! builtins, the concurrent:*
 *      channel operations, and fl_select from generated code.
 * Out: channel values (kind FL_K_CHANNEL): unbuffered ones are rendezvous (a
 *      send completes only when a receiver takes the value), buffered ones a
 *      ring that blocks senders while full. Blocked tasks wait in FIFO queues
 *      on the channel and are woken in order.
 *
 * A waiter lives on the stack of its blocked task (which stays put while the
 * task is suspended); whoever completes it stores the outcome there, unlinks
 * it and wakes the task. A select queues one waiter per clause, all sharing a
 * group: completing one unlinks the others at once, so no later operation can
 * complete a second clause. Queues left behind by an earlier run (abandoned
 * tasks) are dropped the first time the channel is used again (epoch).
 */
#include <stdio.h>

#include "fluentai.h"

enum { OUTCOME_NONE = 0, OUTCOME_DONE = 1, OUTCOME_CLOSED = 2 };
enum { CLAUSE_RECV = 0, CLAUSE_RECEIVE = 1, CLAUSE_SEND = 2 };

typedef struct select_group select_group;

typedef struct waiter {
    struct waiter *prev, *next;   /* in the channel's queue of receivers or senders */
    fl_task *task;
    select_group *group;          /* NULL for a plain send!/recv! */
    fl_value channel;
    fl_value value;               /* a sender's value; what a receiver got */
    int32_t sending;
    int32_t outcome;
    int64_t clause;
} waiter;

struct select_group {
    int64_t fired;                /* the completed clause, -1 while none */
    int64_t count;
    waiter *waiters;
};

typedef struct waiter_queue { waiter *first, *last; } waiter_queue;

typedef struct fl_channel {
    fl_header hdr;
    int64_t capacity;             /* 0: rendezvous */
    int64_t count, head;          /* the buffered values: ring[head .. head+count) */
    int64_t ring_size;            /* slots allocated so far; grows up to capacity */
    fl_value *ring;
    int64_t closed;
    int64_t loc;
    int64_t epoch;
    waiter_queue receivers, senders;
} fl_channel;

#define CHANNEL(v) ((fl_channel *)FL_PTR(v))

/* Builtins are global: AOT code calls them by symbol. Effect defaults are only
 * reached through their operation ids. */
#define BUILTIN(cname) FL_BUILTIN(cname)   /* a resume point for error:catch (fluentai.h) */
#define OPERATION(cname) \
    static fl_value cname(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)

static fl_value key_value, key_ok;   /* .bss: rooted */

/* ---- queues ---- */

static void enqueue(waiter_queue *q, waiter *w)
{
    w->next = NULL;
    w->prev = q->last;
    if (q->last)
        q->last->next = w;
    else
        q->first = w;
    q->last = w;
}

static void unlink_waiter(waiter_queue *q, waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        q->first = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->last = w->prev;
    w->next = w->prev = NULL;
}

static waiter_queue *queue_of(waiter *w)
{
    fl_channel *c = CHANNEL(w->channel);
    return w->sending ? &c->senders : &c->receivers;
}

/* The other clauses of a select that just completed must not complete too. */
static void withdraw_group(select_group *g, const waiter *completed)
{
    g->fired = completed->clause;
    for (int64_t i = 0; i < g->count; i++)
        if (&g->waiters[i] != completed)
            unlink_waiter(queue_of(&g->waiters[i]), &g->waiters[i]);
}

static void complete(waiter *w, int32_t outcome, fl_value received)
{
    unlink_waiter(queue_of(w), w);
    if (w->group)
        withdraw_group(w->group, w);
    if (!w->sending)
        w->value = received;
    w->outcome = outcome;
    fl_task_wake(w->task);
}

/* ---- the buffer ---- */

static void ring_grow(fl_channel *c)
{
    int64_t size = c->ring_size ? c->ring_size * 2 : 8;
    if (size > c->capacity)
        size = c->capacity;
    fl_value *ring = fl_alloc(size * (int64_t)sizeof(fl_value));
    for (int64_t i = 0; i < c->count; i++)
        ring[i] = c->ring[(c->head + i) % c->ring_size];
    c->ring = ring;
    c->ring_size = size;
    c->head = 0;
}

static void ring_push(fl_channel *c, fl_value v)
{
    if (c->count == c->ring_size)
        ring_grow(c);
    c->ring[(c->head + c->count) % c->ring_size] = v;
    c->count++;
}

static fl_value ring_pop(fl_channel *c)
{
    fl_value v = c->ring[c->head];
    c->ring[c->head] = FL_NIL;
    c->head = (c->head + 1) % c->ring_size;
    c->count--;
    return v;
}

/* ---- the operations, without blocking ---- */

static fl_channel *channel_arg(const char *op, fl_value ch, int64_t loc)
{
    if (!FL_IS_KIND(ch, FL_K_CHANNEL))
        fl_type_fail(op, "a channel", ch, loc);
    fl_channel *c = CHANNEL(ch);
    if (c->epoch != fl_sched_epoch) {
        c->receivers = c->senders = (waiter_queue){NULL, NULL};
        c->epoch = fl_sched_epoch;
    }
    return c;
}

static __attribute__((noreturn)) void closed_error(const char *message, int64_t loc)
{
    fl_raise("channel-closed", loc, "%s", message);
    __builtin_unreachable();
}

/* 1 when the value went to a receiver or the buffer, 0 when it would block. */
static int try_send(fl_channel *c, fl_value v, int64_t loc)
{
    if (c->closed)
        closed_error("send on a closed channel", loc);
    if (c->receivers.first) {
        complete(c->receivers.first, OUTCOME_DONE, v);
        return 1;
    }
    if (c->count < c->capacity) {
        ring_push(c, v);
        return 1;
    }
    return 0;
}

/* 1 with *v and *ok set when a value (or the end of a closed channel) was
 * there; 0 when it would block. A buffered value taken makes room for the
 * first blocked sender. */
static int try_recv(fl_channel *c, fl_value *v, int *ok)
{
    waiter *sender = c->senders.first;
    if (c->count > 0) {
        *v = ring_pop(c);
        *ok = 1;
        if (sender) {
            ring_push(c, sender->value);
            complete(sender, OUTCOME_DONE, FL_NIL);
        }
        return 1;
    }
    if (sender) {
        *v = sender->value;
        *ok = 1;
        complete(sender, OUTCOME_DONE, FL_NIL);
        return 1;
    }
    if (c->closed) {
        *v = FL_NIL;
        *ok = 0;
        return 1;
    }
    return 0;
}

/* ---- the blocking operations ---- */

fl_value fl_chan_new(int64_t capacity, int64_t loc)
{
    fl_channel *c = fl_alloc(sizeof *c);
    c->hdr.kind = FL_K_CHANNEL;
    c->capacity = capacity;
    c->loc = loc;
    c->epoch = fl_sched_epoch;
    return FL_HEAP(c);
}

int64_t fl_chan_loc(fl_value ch)
{
    return CHANNEL(ch)->loc;
}

fl_value fl_chan_send(fl_value ch, fl_value v, int64_t loc)
{
    fl_channel *c = channel_arg("send!", ch, loc);
    if (try_send(c, v, loc))
        return FL_TRUE;
    fl_task_may_block();
    waiter me = {NULL, NULL, fl_task_self(), NULL, ch, v, 1, OUTCOME_NONE, 0};
    enqueue(&c->senders, &me);
    fl_task_block(FL_WAIT_SEND, ch);
    if (me.outcome == OUTCOME_CLOSED)
        closed_error("send on a closed channel", loc);
    return FL_TRUE;
}

static fl_value receive_map(fl_value v, int ok)
{
    if (!key_value) {
        key_value = fl_string_from_cstr("value");
        key_ok = fl_string_from_cstr("ok");
    }
    fl_value m = fl_map_set(fl_map_empty(), key_value, v);
    return fl_map_set(m, key_ok, FL_BOOL(ok));
}

static fl_value recv_named(const char *op, int32_t wait_kind, fl_value ch, int64_t loc, int *ok)
{
    fl_channel *c = channel_arg(op, ch, loc);
    fl_value v;
    if (try_recv(c, &v, ok))
        return v;
    fl_task_may_block();
    waiter me = {NULL, NULL, fl_task_self(), NULL, ch, FL_NIL, 0, OUTCOME_NONE, 0};
    enqueue(&c->receivers, &me);
    fl_task_block(wait_kind, ch);
    *ok = me.outcome == OUTCOME_DONE;
    return me.value;
}

fl_value fl_chan_recv(fl_value ch, int64_t loc)
{
    int ok;
    return recv_named("recv!", FL_WAIT_RECV, ch, loc, &ok);
}

fl_value fl_chan_receive(fl_value ch, int64_t loc)
{
    int ok;
    fl_value v = recv_named("receive!", FL_WAIT_RECEIVE, ch, loc, &ok);
    return receive_map(v, ok);
}

static fl_value close_named(const char *op, fl_value ch, int64_t loc)
{
    fl_channel *c = channel_arg(op, ch, loc);
    if (c->closed)
        closed_error("close of a closed channel", loc);
    c->closed = 1;
    while (c->receivers.first)
        complete(c->receivers.first, OUTCOME_CLOSED, FL_NIL);
    while (c->senders.first)
        complete(c->senders.first, OUTCOME_CLOSED, FL_NIL);
    return FL_NIL;
}

fl_value fl_chan_close(fl_value ch, int64_t loc)
{
    return close_named("close!", ch, loc);
}

/* ---- select ---- */

/* A clause [kind ch v fn] as the compiler builds it. */
typedef struct clause {
    int64_t kind;
    fl_value channel, value, fn;
} clause;

static clause parse_clause(fl_value c, int64_t loc)
{
    fl_value items[4] = {FL_NIL, FL_NIL, FL_NIL, FL_NIL};
    int64_t n = 0;
    for (fl_value rest = c; FL_IS_KIND(rest, FL_K_PAIR) && n < 4; rest = FL_PAIR(rest)->tail)
        items[n++] = FL_PAIR(rest)->head;
    if (!FL_IS_LIST(c) || n != 4 || fl_list_length(c) != 4 || !FL_IS_FIXNUM(items[0]) ||
        FL_FIXNUM_VAL(items[0]) < CLAUSE_RECV || FL_FIXNUM_VAL(items[0]) > CLAUSE_SEND)
        fl_type_fail("select", "a clause [kind channel value function]", c, loc);
    if (!FL_IS_KIND(items[1], FL_K_CHANNEL))
        fl_type_fail("select", "a channel", items[1], loc);
    return (clause){FL_FIXNUM_VAL(items[0]), items[1], items[2], items[3]};
}

static fl_value run_clause(const clause *c, fl_value received, int ok, int64_t loc)
{
    switch (c->kind) {
    case CLAUSE_RECV: return fl_call1(c->fn, FL_ARGC(1, loc), received);
    case CLAUSE_RECEIVE: return fl_call1(c->fn, FL_ARGC(1, loc), receive_map(received, ok));
    default: return fl_call(c->fn, FL_ARGC(0, loc), 0, NULL);
    }
}

/* 1 when clause c completed at once (*v, *ok set for receives). */
static int try_clause(const clause *c, fl_value *v, int *ok, int64_t loc)
{
    fl_channel *ch = channel_arg("select", c->channel, loc);
    if (c->kind == CLAUSE_SEND)
        return try_send(ch, c->value, loc);
    return try_recv(ch, v, ok);
}

static fl_value select_blocking(clause *cs, int64_t n, fl_value clauses, int64_t loc)
{
    fl_task_may_block();
    waiter small[8];
    waiter *ws = n <= 8 ? small : fl_alloc(n * (int64_t)sizeof(waiter));
    select_group group = {-1, n, ws};
    for (int64_t i = 0; i < n; i++) {
        int sending = cs[i].kind == CLAUSE_SEND;
        ws[i] = (waiter){NULL, NULL, fl_task_self(), &group, cs[i].channel,
                         sending ? cs[i].value : FL_NIL, sending, OUTCOME_NONE, i};
        enqueue(queue_of(&ws[i]), &ws[i]);
    }
    fl_task_block(FL_WAIT_SELECT, clauses);
    const waiter *done = &ws[group.fired];
    if (done->sending && done->outcome == OUTCOME_CLOSED)
        closed_error("send on a closed channel", loc);
    return run_clause(&cs[group.fired], done->value, done->outcome == OUTCOME_DONE, loc);
}

fl_value fl_select(fl_value clauses, fl_value default_thunk, int64_t loc)
{
    if (!FL_IS_LIST(clauses))
        fl_type_fail("select", "a list of clauses", clauses, loc);
    int64_t n = fl_list_length(clauses);
    clause small[8];
    clause *cs = n <= 8 ? small : fl_alloc(n * (int64_t)sizeof(clause));
    int64_t i = 0;
    for (fl_value c = clauses; c != FL_EMPTY; c = FL_PAIR(c)->tail)
        cs[i++] = parse_clause(FL_PAIR(c)->head, loc);
    for (i = 0; i < n; i++) {
        fl_value v = FL_NIL;
        int ok = 1;
        if (try_clause(&cs[i], &v, &ok, loc))
            return run_clause(&cs[i], v, ok, loc);
    }
    if (default_thunk != FL_NIL)
        return fl_call(default_thunk, FL_ARGC(0, loc), 0, NULL);
    return select_blocking(cs, n, clauses, loc);
}

/* ---- printing, builtins, the concurrent effect ---- */

static void print_channel(fl_buf *b, fl_value v)
{
    char text[64];
    snprintf(text, sizeof text, "#<channel %lld/%lld>", (long long)CHANNEL(v)->count,
             (long long)CHANNEL(v)->capacity);
    fl_buf_puts(b, text);
}

static fl_value make_channel(const char *op, int64_t argc, fl_value a0)
{
    int64_t loc = FL_LOCOF(argc);
    if (FL_NARGS(argc) == 0 || a0 == FL_NIL)
        return fl_chan_new(0, loc);
    if (!FL_IS_INT(a0))
        fl_type_fail(op, "an int capacity", a0, loc);
    int64_t capacity = fl_int_value(a0);
    if (capacity < 0)
        fl_raise("value-error", loc, "`%s` capacity must not be negative, got %lld", op, (long long)capacity);
    return fl_chan_new(capacity, loc);
}

BUILTIN(fl_bi_chan)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    FL_CHECK_ARITY("chan", argc, 0, 1);
    return make_channel("chan", argc, a0);
}

BUILTIN(fl_bi_send)
{
    (void)self; (void)a2; (void)rest;
    FL_CHECK_ARITY("send!", argc, 2, 2);
    return fl_chan_send(a0, a1, FL_LOCOF(argc));
}

BUILTIN(fl_bi_recv)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    FL_CHECK_ARITY("recv!", argc, 1, 1);
    return fl_chan_recv(a0, FL_LOCOF(argc));
}

BUILTIN(fl_bi_receive)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    FL_CHECK_ARITY("receive!", argc, 1, 1);
    return fl_chan_receive(a0, FL_LOCOF(argc));
}

BUILTIN(fl_bi_close)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    FL_CHECK_ARITY("close!", argc, 1, 1);
    return fl_chan_close(a0, FL_LOCOF(argc));
}

const fl_builtin_def fl_chan_builtins[] = {
    {"chan", fl_bi_chan, 0, 1},
    {"send!", fl_bi_send, 2, 2},
    {"recv!", fl_bi_recv, 1, 1},
    {"receive!", fl_bi_receive, 1, 1},
    {"close!", fl_bi_close, 1, 1},
    {NULL, NULL, 0, 0},
};

OPERATION(concurrent_channel)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    fl_arity_check("concurrent:channel", argc, 0, 1);
    return make_channel("concurrent:channel", argc, a0);
}

OPERATION(concurrent_send)
{
    (void)self; (void)a2; (void)rest;
    fl_arity_check("concurrent:send", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    channel_arg("concurrent:send", a0, loc);
    return fl_chan_send(a0, a1, loc);
}

/* concurrent:receive is recv!: the value, nil once closed and drained. */
OPERATION(concurrent_receive)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    fl_arity_check("concurrent:receive", argc, 1, 1);
    int ok;
    return recv_named("concurrent:receive", FL_WAIT_RECV, a0, FL_LOCOF(argc), &ok);
}

OPERATION(concurrent_close)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    fl_arity_check("concurrent:close", argc, 1, 1);
    return close_named("concurrent:close", a0, FL_LOCOF(argc));
}

void fl_chan_init(void)
{
    fl_set_printer(FL_K_CHANNEL, print_channel);
    fl_effect_set_default("concurrent:channel", concurrent_channel);
    fl_effect_set_default("concurrent:send", concurrent_send);
    fl_effect_set_default("concurrent:receive", concurrent_receive);
    fl_effect_set_default("concurrent:close", concurrent_close);
}
