/* tasks_runtime_helpers.c -- test-only C programs for tests/test_tasks_runtime.py.
 *
 * Each helper_* entry is a "program" for fl_run, written against the task
 * API of fluentai.h (fl_spawn, fl_await, channels, select, sleep) with C
 * closures as task bodies, so the scheduler is tested without the compiler.
 * Compiled by the test into its own cffi extension whose fl_* references
 * resolve against the already loaded runtime (one runtime instance).
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fluentai.h"

#define CODE(name) \
    static fl_value name(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
#define FREE(i) (FL_CLOSURE(self)->free[i])

/* Location ids 1..6 of the test module, as the reports print them. */
static const char test_source[] =
    "(define ch (chan))\n"
    "(go (send! ch 1))\n"
    "(recv! ch)\n"
    "(await p)\n"
    "(define d (chan))\n"
    "(go (recv! d))\n";
static const fl_loc test_locs[] = {
    {0, 0, 0, 0},
    {1, 12, 1, 18},   /* 1: (chan) */
    {2, 1, 2, 18},    /* 2: (go ...) */
    {3, 1, 3, 11},    /* 3: (recv! ch) */
    {4, 1, 4, 10},    /* 4: (await p) */
    {5, 11, 5, 17},   /* 5: the second (chan) */
    {6, 1, 6, 15},    /* 6: the second (go ...) */
};
static const fl_module_info test_module = {"prog.fl", test_source, sizeof test_source - 1, test_locs, 7};

void helper_register_module(void)
{
    fl_module_register(&test_module);
}

static int64_t n_param, m_param;
void helper_set_n(int64_t n, int64_t m) { n_param = n; m_param = m; }

static double measured, measured2;
double helper_measured(void) { return measured; }
double helper_measured2(void) { return measured2; }

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static fl_value closure(fl_code code, fl_value f0, fl_value f1)
{
    fl_value c = fl_make_closure(code, 0, 0, FL_NIL, 2);
    FL_CLOSURE(c)->free[0] = f0;
    FL_CLOSURE(c)->free[1] = f1;
    return c;
}

static fl_value list2(fl_value a, fl_value b)
{
    fl_value items[2] = {a, b};
    return fl_list_from_array(2, items);
}

static fl_value error_type(fl_value error)
{
    return fl_map_get(error, fl_string_from_cstr("type"), FL_NIL);
}

/* Runs thunk() and returns the type of the error it raised (nil if none):
 * the C equivalent of a `handler` with an error clause around an await. */
static fl_value caught_type(fl_value (*body)(fl_value), fl_value arg)
{
    fl_catch frame;
    frame.is_run = 0;
    fl_catch_push(&frame);
    if (sigsetjmp(frame.jump, 1) == 0) {
        body(arg);
        fl_catch_pop(&frame);
        return FL_NIL;
    }
    fl_catch_top = frame.prev;
    return error_type(fl_catch_error((fl_catch *)(volatile fl_catch *)&frame));
}

static fl_value await_it(fl_value p) { return fl_await(p, 4); }

/* ---- ping-pong: the scheduler's cost per round trip ---- */

CODE(pong_body)
{
    for (int64_t k = 0; k < n_param; k++) {
        fl_value v = fl_chan_recv(FREE(0), 0);
        fl_chan_send(FREE(1), FL_FIXNUM(FL_FIXNUM_VAL(v) + 1), 0);
    }
    return FL_NIL;
}

fl_value helper_pingpong(void)
{
    fl_value a = fl_chan_new(0, 1), b = fl_chan_new(0, 1);
    fl_value done = fl_spawn(closure(pong_body, a, b), 2);
    int64_t sum = 0;
    double start = now_seconds();
    for (int64_t i = 0; i < n_param; i++) {
        fl_chan_send(a, FL_FIXNUM(i), 0);
        sum += FL_FIXNUM_VAL(fl_chan_recv(b, 0));
    }
    measured = (now_seconds() - start) * 1e9 / (double)(n_param ? n_param : 1);
    fl_await(done, 0);
    return fl_make_int(sum);
}

/* ---- spawn and await: the cost of a task's whole life ---- */

CODE(square_body) { return FL_FIXNUM(FL_FIXNUM_VAL(FREE(0)) * FL_FIXNUM_VAL(FREE(0))); }

fl_value helper_spawn_await(void)
{
    fl_value *promises = fl_rest_array(n_param);
    double start = now_seconds();
    for (int64_t i = 0; i < n_param; i++)
        promises[i] = fl_spawn(closure(square_body, FL_FIXNUM(i), FL_NIL), 2);
    int64_t sum = 0;
    for (int64_t i = 0; i < n_param; i++)
        sum += FL_FIXNUM_VAL(fl_await(promises[i], 0));
    measured = (now_seconds() - start) * 1e9 / (double)(n_param ? n_param : 1);
    return fl_make_int(sum);
}

/* ---- GC: values live only on suspended fiber stacks ---- */

/* Builds m boxed floats, waits on the channel, then sums them. */
CODE(holder_body)
{
    int64_t m = m_param;
    fl_value list = FL_EMPTY;
    for (int64_t i = 0; i < m; i++)
        list = fl_cons(fl_make_float((double)i), list, 0);
    fl_value extra = fl_chan_recv(FREE(0), 0);
    double sum = 0;
    for (fl_value l = list; l != FL_EMPTY; l = FL_PAIR(l)->tail)
        sum += fl_float_value(FL_PAIR(l)->head);
    return fl_make_int((int64_t)sum + FL_FIXNUM_VAL(extra));
}

static void churn(int64_t cells)
{
    fl_value garbage = FL_EMPTY;
    for (int64_t i = 0; i < cells; i++) {
        garbage = fl_cons(fl_make_float((double)i), garbage, 0);
        if (i % 1000 == 0)
            garbage = FL_EMPTY;
    }
}

fl_value helper_gc_suspended(void)
{
    fl_value ch = fl_chan_new(0, 1);
    fl_value *promises = fl_rest_array(n_param);
    for (int64_t i = 0; i < n_param; i++)
        promises[i] = fl_spawn(closure(holder_body, ch, FL_NIL), 2);
    fl_task_yield();   /* every holder builds its list and blocks */
    int64_t before = fl_gc_count();
    for (int round = 0; round < 3; round++) {
        churn(200000);
        fl_gc_collect();
    }
    measured = (double)(fl_gc_count() - before);
    for (int64_t i = 0; i < n_param; i++)
        fl_chan_send(ch, FL_FIXNUM(1), 0);
    int64_t total = 0;
    for (int64_t i = 0; i < n_param; i++)
        total += fl_int_value(fl_await(promises[i], 0));
    return fl_make_int(total);
}

/* ---- errors and stack overflows stay in their task ---- */

static int64_t recurse(int64_t n)
{
    volatile char pad[64];
    pad[0] = (char)n;
    if (n < 0)   /* never: only there so the compiler does not call this infinite */
        return 0;
    return recurse(n + 1) + pad[0];
}

CODE(overflow_body) { return FL_FIXNUM(recurse(0)); }
CODE(fine_body) { return FL_FIXNUM(42); }
CODE(divide_body) { return fl_div(FL_FIXNUM(1), FL_FIXNUM(0), 3); }
CODE(raise_body)
{
    fl_value data = list2(FL_FIXNUM(7), fl_string_from_cstr("x"));
    fl_raise_value(fl_make_error(fl_string_from_cstr("config"), fl_string_from_cstr("bad port"), data), 3);
    return FL_NIL;
}

/* [42 "stack-overflow" "stack-overflow" 42]: two overflows in two tasks
 * (the second proves the fault signal was unblocked), a task that runs
 * after them, and a new task after everything. */
fl_value helper_overflow_in_tasks(void)
{
    fl_value p = fl_spawn(closure(overflow_body, FL_NIL, FL_NIL), 2);
    fl_value q = fl_spawn(closure(overflow_body, FL_NIL, FL_NIL), 2);
    fl_value r = fl_spawn(closure(fine_body, FL_NIL, FL_NIL), 2);
    fl_value items[4];
    items[0] = fl_await(r, 0);
    items[1] = caught_type(await_it, p);
    items[2] = caught_type(await_it, q);
    items[3] = fl_await(fl_spawn(closure(fine_body, FL_NIL, FL_NIL), 2), 0);
    return fl_list_from_array(4, items);
}

fl_value helper_await_raised(void)
{
    return fl_await(fl_spawn(closure(raise_body, FL_NIL, FL_NIL), 2), 4);
}

/* The same failure awaited twice: both awaits raise it. */
fl_value helper_await_failure_twice(void)
{
    fl_value p = fl_spawn(closure(divide_body, FL_NIL, FL_NIL), 2);
    return list2(caught_type(await_it, p), caught_type(await_it, p));
}

fl_value helper_unawaited_failure(void)
{
    fl_spawn(closure(divide_body, FL_NIL, FL_NIL), 2);
    fl_spawn(closure(fine_body, FL_NIL, FL_NIL), 6);
    fl_spawn(closure(raise_body, FL_NIL, FL_NIL), 6);
    fl_task_yield();
    return FL_FIXNUM(7);
}

fl_value helper_main_fails_too(void)
{
    fl_spawn(closure(divide_body, FL_NIL, FL_NIL), 2);
    fl_task_yield();
    return fl_div(FL_FIXNUM(1), FL_FIXNUM(0), 4);
}

CODE(exit_body) { fl_exit_program(3); return FL_NIL; }

fl_value helper_exit_in_task(void)
{
    fl_await(fl_spawn(closure(exit_body, FL_NIL, FL_NIL), 2), 0);
    return FL_FIXNUM(1);
}

/* ---- deadlocks ---- */

fl_value helper_deadlock_recv(void)
{
    return fl_chan_recv(fl_chan_new(0, 1), 3);
}

CODE(send_body) { return fl_chan_send(FREE(0), FREE(1), 0); }
CODE(recv_body) { return fl_chan_recv(FREE(0), 0); }
CODE(receive_body) { return fl_chan_receive(FREE(0), 0); }

fl_value helper_deadlock_send(void)
{
    fl_value ch = fl_chan_new(0, 1);
    return fl_await(fl_spawn(closure(send_body, ch, FL_FIXNUM(1)), 2), 4);
}

fl_value helper_deadlock_await(void)
{
    return fl_await(fl_promise_new(4), 4);
}

/* Two workers, each waiting for the other first. */
CODE(crossed_body)
{
    fl_value got = fl_chan_recv(FREE(0), 0);
    fl_chan_send(FREE(1), got, 0);
    return got;
}

fl_value helper_deadlock_crossed(void)
{
    fl_value a = fl_chan_new(0, 1), b = fl_chan_new(0, 5);
    fl_value p = fl_spawn(closure(crossed_body, a, b), 2);
    fl_spawn(closure(crossed_body, b, a), 6);
    return fl_await(p, 4);
}

fl_value helper_deadlock_select(void)
{
    fl_value a = fl_chan_new(0, 1), b = fl_chan_new(3, 5);
    fl_value clause_a[4] = {FL_FIXNUM(0), a, FL_NIL, fl_builtin_value("list")};
    fl_value clause_b[4] = {FL_FIXNUM(1), b, FL_NIL, fl_builtin_value("list")};
    fl_value clauses = list2(fl_list_from_array(4, clause_a), fl_list_from_array(4, clause_b));
    return fl_select(clauses, FL_NIL, 3);
}

/* Main sleeps while the only other task is blocked: not a deadlock until
 * the timer has fired and main blocks for good. */
fl_value helper_deadlock_after_sleep(void)
{
    fl_value ch = fl_chan_new(0, 1);
    fl_spawn(closure(recv_body, ch, FL_NIL), 2);
    fl_task_sleep(0.01, 0);
    return fl_chan_recv(fl_chan_new(0, 5), 3);
}

/* ---- when main ends, blocked and unstarted tasks are abandoned ---- */

fl_value helper_abandon(void)
{
    fl_value ch = fl_chan_new(0, 1);
    for (int i = 0; i < 10; i++)
        fl_spawn(closure(recv_body, ch, FL_NIL), 2);
    fl_task_yield();
    for (int i = 0; i < 10; i++)
        fl_spawn(closure(send_body, fl_chan_new(0, 5), FL_NIL), 6);
    return FL_FIXNUM(fl_task_live_count());
}

/* ---- channels ---- */

/* A buffered channel of capacity 2: the third send blocks until a receive;
 * the log shows the order things happened in. */
static fl_value order_log;
static void note(fl_value v) { order_log = fl_cons(v, order_log, 0); }

CODE(buffered_sender_body)
{
    for (int64_t i = 1; i <= 3; i++) {
        fl_chan_send(FREE(0), FL_FIXNUM(i), 0);
        note(fl_string_from_cstr("sent"));
    }
    return FL_NIL;
}

fl_value helper_buffered_order(void)
{
    order_log = FL_EMPTY;
    fl_value ch = fl_chan_new(2, 1);
    fl_value p = fl_spawn(closure(buffered_sender_body, ch, FL_NIL), 2);
    fl_task_yield();
    note(fl_show(ch));
    note(fl_chan_recv(ch, 0));
    fl_task_yield();
    note(fl_chan_recv(ch, 0));
    note(fl_chan_recv(ch, 0));
    fl_await(p, 0);
    fl_value log = FL_EMPTY;
    for (fl_value l = order_log; l != FL_EMPTY; l = FL_PAIR(l)->tail)
        log = fl_cons(FL_PAIR(l)->head, log, 0);
    order_log = FL_EMPTY;
    return log;
}

/* close! wakes every blocked receiver with nil / ok false, and a blocked
 * sender gets channel-closed; values buffered before the close still come out. */
fl_value helper_close_semantics(void)
{
    fl_value ch = fl_chan_new(0, 1);
    fl_value r1 = fl_spawn(closure(recv_body, ch, FL_NIL), 2);
    fl_value r2 = fl_spawn(closure(receive_body, ch, FL_NIL), 2);
    fl_task_yield();
    fl_chan_close(ch, 0);
    fl_value unbuffered_sender_ch = fl_chan_new(0, 1);
    fl_value s = fl_spawn(closure(send_body, unbuffered_sender_ch, FL_FIXNUM(5)), 2);
    fl_task_yield();
    fl_chan_close(unbuffered_sender_ch, 0);
    fl_value buffered = fl_chan_new(3, 1);
    fl_chan_send(buffered, FL_FIXNUM(10), 0);
    fl_chan_close(buffered, 0);
    fl_value items[6] = {
        fl_await(r1, 0), fl_await(r2, 0), caught_type(await_it, s),
        fl_chan_receive(buffered, 0), fl_chan_receive(buffered, 0), fl_chan_recv(buffered, 0),
    };
    return fl_list_from_array(6, items);
}

static fl_value close_it(fl_value ch) { return fl_chan_close(ch, 0); }
static fl_value send_it(fl_value ch) { return fl_chan_send(ch, FL_FIXNUM(1), 0); }

fl_value helper_close_errors(void)
{
    fl_value ch = fl_chan_new(0, 1);
    fl_chan_close(ch, 0);
    return list2(caught_type(close_it, ch), caught_type(send_it, ch));
}

/* ---- select ---- */

static fl_value clause(int kind, fl_value ch, fl_value v, fl_value fn)
{
    fl_value items[4] = {FL_FIXNUM(kind), ch, v, fn};
    return fl_list_from_array(4, items);
}

/* The function of a clause: [tag value] for receives, [tag] for sends. */
CODE(tagger)
{
    if (FL_NARGS(argc) == 0)
        return fl_list_from_array(1, &FREE(0));
    return list2(FREE(0), a0);
}

static fl_value tag_fn(const char *tag)
{
    return closure(tagger, fl_string_from_cstr(tag), FL_NIL);
}

CODE(default_body) { return fl_string_from_cstr("default"); }

/* Ready clauses win in source order; default when none is ready. */
fl_value helper_select_ready(void)
{
    fl_value a = fl_chan_new(1, 1), b = fl_chan_new(1, 1), full = fl_chan_new(1, 1);
    fl_chan_send(b, FL_FIXNUM(20), 0);
    fl_chan_send(full, FL_FIXNUM(0), 0);
    fl_value dflt = closure(default_body, FL_NIL, FL_NIL);
    fl_value c1[3] = {clause(0, a, FL_NIL, tag_fn("a")), clause(0, b, FL_NIL, tag_fn("b")),
                      clause(2, full, FL_FIXNUM(1), tag_fn("full"))};
    fl_value first = fl_select(fl_list_from_array(3, c1), dflt, 3);          /* ["b" 20] */
    fl_value c2[2] = {clause(0, a, FL_NIL, tag_fn("a")), clause(2, full, FL_FIXNUM(1), tag_fn("full"))};
    fl_value second = fl_select(fl_list_from_array(2, c2), dflt, 3);         /* "default" */
    fl_value c3[2] = {clause(2, a, FL_FIXNUM(5), tag_fn("send-a")), clause(0, b, FL_NIL, tag_fn("b"))};
    fl_value third = fl_select(fl_list_from_array(2, c3), dflt, 3);          /* ["send-a"] */
    fl_chan_close(b, 0);
    fl_value c4[2] = {clause(1, b, FL_NIL, tag_fn("closed-b")), clause(0, a, FL_NIL, tag_fn("a"))};
    fl_value fourth = fl_select(fl_list_from_array(2, c4), FL_NIL, 3);       /* ["closed-b" {..}] */
    fl_value items[5] = {first, second, third, fourth, fl_chan_recv(a, 0)};
    return fl_list_from_array(5, items);
}

CODE(later_send_body)
{
    fl_task_sleep(0.005, 0);
    return fl_chan_send(FREE(0), FREE(1), 0);
}

/* A blocked select takes the clause that becomes ready; its other waiters
 * are withdrawn, so a later send on the other channel reaches a plain
 * receiver instead of the finished select. */
fl_value helper_select_blocking(void)
{
    fl_value a = fl_chan_new(0, 1), b = fl_chan_new(0, 5);
    fl_spawn(closure(later_send_body, b, fl_string_from_cstr("from-b")), 2);
    fl_value cs[2] = {clause(0, a, FL_NIL, tag_fn("a")), clause(0, b, FL_NIL, tag_fn("b"))};
    fl_value chosen = fl_select(fl_list_from_array(2, cs), FL_NIL, 3);
    fl_value p = fl_spawn(closure(send_body, a, fl_string_from_cstr("later-a")), 6);
    fl_value later = fl_chan_recv(a, 0);
    fl_await(p, 0);
    fl_value sender_cs[1] = {clause(2, b, fl_string_from_cstr("sel-sent"), tag_fn("sent"))};
    fl_value r = fl_spawn(closure(recv_body, b, FL_NIL), 6);
    fl_value sent = fl_select(fl_list_from_array(1, sender_cs), FL_NIL, 3);
    fl_value items[4] = {chosen, later, sent, fl_await(r, 0)};
    return fl_list_from_array(4, items);
}

static fl_value select_not_channel(fl_value unused)
{
    (void)unused;
    fl_value cs[1] = {clause(0, FL_FIXNUM(42), FL_NIL, tag_fn("x"))};
    return fl_select(fl_list_from_array(1, cs), FL_NIL, 3);
}

fl_value helper_select_errors(void)
{
    return caught_type(select_not_channel, FL_NIL);
}

/* ---- timers and the poller ---- */

CODE(sleeper_body)
{
    fl_task_sleep((double)FL_FIXNUM_VAL(FREE(1)) / 1000.0, 0);
    fl_chan_send(FREE(0), FREE(1), 0);
    return FL_NIL;
}

/* Three sleepers finish in deadline order, and the whole takes about the
 * longest sleep, not the sum. */
fl_value helper_sleep_order(void)
{
    fl_value ch = fl_chan_new(10, 1);
    double start = now_seconds();
    fl_spawn(closure(sleeper_body, ch, FL_FIXNUM(30)), 2);
    fl_spawn(closure(sleeper_body, ch, FL_FIXNUM(10)), 2);
    fl_spawn(closure(sleeper_body, ch, FL_FIXNUM(20)), 2);
    fl_value items[3];
    for (int i = 0; i < 3; i++)
        items[i] = fl_chan_recv(ch, 0);
    measured = now_seconds() - start;
    return fl_list_from_array(3, items);
}

/* (sleep 0) yields: a task that loops on it does not starve a sleeper. */
static int64_t spins;
CODE(yielder_body)
{
    while (FL_CLOSURE(FREE(0))->free[0] == FL_NIL) {
        fl_task_sleep(0, 0);
        spins++;
    }
    return FL_FIXNUM(spins);
}

CODE(setter_body)
{
    fl_task_sleep(0.01, 0);
    FL_CLOSURE(FREE(0))->free[0] = FL_TRUE;
    return FL_NIL;
}

fl_value helper_yield_does_not_starve(void)
{
    spins = 0;
    fl_value flag = closure(fine_body, FL_NIL, FL_NIL);   /* free[0] serves as a mutable cell */
    fl_value p = fl_spawn(closure(yielder_body, flag, FL_NIL), 2);
    fl_spawn(closure(setter_body, flag, FL_NIL), 2);
    return fl_await(p, 0);
}

static int pipe_fds[2];

CODE(fd_reader_body)
{
    int32_t ready = fl_task_wait_fd(pipe_fds[0], POLLIN, 5.0);
    char c = 0;
    if (ready & POLLIN)
        (void)read(pipe_fds[0], &c, 1);
    return list2(FL_FIXNUM(ready & POLLIN ? 1 : 0), FL_FIXNUM(c));
}

CODE(fd_writer_body)
{
    fl_task_sleep(0.01, 0);
    (void)write(pipe_fds[1], "x", 1);
    return FL_NIL;
}

/* A task waiting for a descriptor lets the others run; a timeout returns 0. */
fl_value helper_wait_fd(void)
{
    if (pipe(pipe_fds) != 0)
        return FL_NIL;
    fl_value p = fl_spawn(closure(fd_reader_body, FL_NIL, FL_NIL), 2);
    fl_spawn(closure(fd_writer_body, FL_NIL, FL_NIL), 2);
    fl_value got = fl_await(p, 0);
    double start = now_seconds();
    int32_t timed_out = fl_task_wait_fd(pipe_fds[0], POLLIN, 0.02);
    measured = now_seconds() - start;
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return list2(got, FL_FIXNUM(timed_out));
}

/* ---- many live tasks ---- */

/* VmPTE of /proc/self/status: the page tables, which RSS does not count. */
static int64_t page_table_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmPTE: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return (int64_t)kb * 1024;
}

static int64_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

/* n tasks all blocked at once on one channel; measured = resident bytes per
 * blocked task, measured2 = page-table bytes per blocked task. Closing the
 * channel releases them all. */
fl_value helper_many_blocked(void)
{
    fl_value ch = fl_chan_new(0, 1);
    int64_t before = resident_bytes(), tables_before = page_table_bytes();
    for (int64_t i = 0; i < n_param; i++)
        fl_spawn(closure(recv_body, ch, FL_NIL), 2);
    fl_task_yield();
    int64_t live = fl_task_live_count();
    double n = (double)(n_param ? n_param : 1);
    measured = (double)(resident_bytes() - before) / n;
    measured2 = (double)(page_table_bytes() - tables_before) / n;
    fl_chan_close(ch, 0);
    while (fl_task_live_count() > 1)
        fl_task_yield();
    return list2(FL_FIXNUM(live), FL_FIXNUM(fl_task_live_count()));
}

/* 10^4 tasks in a chain, each passing a counter on to the next. */
CODE(relay_body)
{
    fl_value v = fl_chan_recv(FREE(0), 0);
    fl_chan_send(FREE(1), FL_FIXNUM(FL_FIXNUM_VAL(v) + 1), 0);
    return FL_NIL;
}

fl_value helper_relay_chain(void)
{
    fl_value first = fl_chan_new(0, 1), in = first;
    for (int64_t i = 0; i < n_param; i++) {
        fl_value out = fl_chan_new(i % 2, 1);
        fl_spawn(closure(relay_body, in, out), 2);
        in = out;
    }
    fl_chan_send(first, FL_FIXNUM(0), 0);
    return fl_chan_recv(in, 0);
}

/* ---- promises ---- */

CODE(resolve_later_body)
{
    fl_task_sleep(0.002, 0);
    fl_promise_resolve(FREE(0), FREE(1));
    fl_promise_resolve(FREE(0), FL_FIXNUM(-1));   /* ignored: the first settle wins */
    return FL_NIL;
}

fl_value helper_promise_adoption(void)
{
    fl_value inner = fl_promise_new(4), outer = fl_promise_new(4);
    fl_promise_resolve(outer, inner);   /* outer follows inner from now on */
    fl_promise_reject(outer, FL_FIXNUM(0));
    fl_spawn(closure(resolve_later_body, inner, FL_FIXNUM(5)), 2);
    fl_value printed_pending = fl_show(outer);
    fl_value value = fl_await(outer, 4);
    fl_value items[4] = {printed_pending, value, fl_await(outer, 4), fl_show(outer)};
    return fl_list_from_array(4, items);
}

static fl_value await_rejected(fl_value reason)
{
    fl_value p = fl_promise_new(4);
    fl_promise_reject(p, reason);
    return fl_await(p, 4);
}

fl_value helper_promise_rejected(void)
{
    return caught_type(await_rejected, fl_string_from_cstr("boom"));
}

fl_value helper_await_non_promise(void)
{
    return fl_await(FL_FIXNUM(42), 4);
}
