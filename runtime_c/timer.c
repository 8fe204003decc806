/* timer.c -- timers and the poller under the task scheduler.
 *
 * In:  sleeps (time:sleep, fl_task_sleep), async:delay, and tasks waiting for
 *      a file descriptor (fl_task_wait_fd, for the network effect).
 * Out: tasks made runnable and promises resolved when their time comes; and
 *      fl_idle_wait, where the scheduler sleeps in epoll_wait until the next
 *      deadline or ready descriptor when no task can run.
 *
 * The event loop: one epoll instance per run. A task waiting for a descriptor
 * registers it (EPOLLONESHOT, the waiter's address as the event's data) and
 * parks; when nothing can run, fl_idle_wait sleeps in epoll_wait with the next
 * timer's deadline as its timeout, so sleeps, async:delay and sockets share one
 * wait, and wakes the tasks whose descriptors are ready. The cost of a wait is
 * O(ready descriptors), not O(waiting ones). While a descriptor wait is pending
 * the program is not deadlocked (fl_idle_wait returns 1).
 *
 * Timers are a binary heap ordered by (deadline, sequence number), so equal
 * deadlines fire in the order they were set. A timer that wakes a task names
 * the wait it was set for (the task's wait serial): if something else woke
 * the task first, the timer is stale and does nothing.
 *
 * Ctrl-C: the idle wait opens SIGINT only inside epoll_pwait / ppoll
 * (interrupt.c), and a sleep or descriptor wait woken by it (sched.c) raises
 * `interrupted` at its call, then waits on to the same deadline if a handler
 * answers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fluentai.h"

typedef struct timer {
    int64_t deadline;           /* CLOCK_MONOTONIC nanoseconds */
    int64_t sequence;
    fl_task *task;              /* wake this task, or */
    int64_t wait_serial;
    fl_value promise;           /* resolve this promise with value */
    fl_value value;
} timer;

/* A task waiting for a descriptor; lives on that task's stack. */
typedef struct fd_waiter {
    struct fd_waiter *prev, *next;
    int fd;
    short events, revents;
    int linked;
    fl_task *task;
} fd_waiter;

static timer *heap;             /* GC memory reached from .bss: its values stay alive */
static int64_t heap_len, heap_cap, timer_sequence;
static fd_waiter *fd_waiters;
static int epoll_fd = -1;       /* made on the first descriptor wait of a run */

int64_t fl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* now + seconds, saturated: (sleep 1e300) waits "forever" without overflow. */
static int64_t deadline_after(double seconds)
{
    double ns = seconds * 1e9;
    int64_t now = fl_now_ns();
    if (ns >= (double)(INT64_MAX / 2))
        return INT64_MAX / 2;
    return now + (ns > 0 ? (int64_t)ns : 0);
}

/* ---- the heap ---- */

static int earlier(const timer *a, const timer *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->sequence < b->sequence);
}

static void heap_grow(void)
{
    int64_t cap = heap_cap ? heap_cap * 2 : 64;
    timer *bigger = fl_alloc(cap * (int64_t)sizeof(timer));
    for (int64_t i = 0; i < heap_len; i++)
        bigger[i] = heap[i];
    heap = bigger;
    heap_cap = cap;
}

static void heap_push(timer t)
{
    if (heap_len == heap_cap)
        heap_grow();
    int64_t i = heap_len++;
    while (i > 0) {
        int64_t parent = (i - 1) / 2;
        if (!earlier(&t, &heap[parent]))
            break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = t;
}

static timer heap_pop(void)
{
    timer top = heap[0];
    timer last = heap[--heap_len];
    int64_t i = 0;
    for (;;) {
        int64_t child = 2 * i + 1;
        if (child >= heap_len)
            break;
        if (child + 1 < heap_len && earlier(&heap[child + 1], &heap[child]))
            child++;
        if (!earlier(&heap[child], &last))
            break;
        heap[i] = heap[child];
        i = child;
    }
    if (heap_len > 0)
        heap[i] = last;
    heap[heap_len] = (timer){0, 0, NULL, 0, FL_NIL, FL_NIL};   /* let the GC have its values */
    return top;
}

void fl_timer_wake_task(fl_task *t, int64_t deadline_ns)
{
    heap_push((timer){deadline_ns, timer_sequence++, t, fl_task_block_serial(t), FL_NIL, FL_NIL});
}

void fl_timer_resolve(fl_value p, fl_value v, int64_t deadline_ns)
{
    heap_push((timer){deadline_ns, timer_sequence++, NULL, 0, p, v});
}

void fl_timers_fire_due(void)
{
    if (heap_len == 0)
        return;
    int64_t now = fl_now_ns();
    while (heap_len > 0 && heap[0].deadline <= now) {
        timer t = heap_pop();
        if (!t.task)
            fl_promise_resolve(t.promise, t.value);
        else if (fl_task_block_serial(t.task) == t.wait_serial)
            fl_task_wake(t.task);
    }
}

/* ---- the poller ---- */

static void unlink_fd_waiter(fd_waiter *w)
{
    if (!w->linked)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        fd_waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->linked = 0;
}

static uint32_t epoll_events_of(short events)
{
    return (events & POLLIN ? EPOLLIN : 0) | (events & POLLOUT ? EPOLLOUT : 0) | EPOLLONESHOT;
}

static short poll_events_of(uint32_t events)
{
    return (short)((events & EPOLLIN ? POLLIN : 0) | (events & EPOLLOUT ? POLLOUT : 0) |
                   (events & EPOLLERR ? POLLERR : 0) | (events & EPOLLHUP ? POLLHUP : 0));
}

static void wake_ready_fds(struct epoll_event *ready, int n)
{
    for (int i = 0; i < n; i++) {
        fd_waiter *w = ready[i].data.ptr;
        if (!w->linked)
            continue;
        w->revents = poll_events_of(ready[i].events);
        unlink_fd_waiter(w);
        fl_task_wake(w->task);
    }
}

/* Timers that would wake a task whose wait already ended (a fetch's timeout
 * after its response came) are dropped from the top of the heap: they must not
 * keep an otherwise deadlocked program waiting for them. */
static void drop_stale_timers(void)
{
    while (heap_len > 0 && heap[0].task && fl_task_block_serial(heap[0].task) != heap[0].wait_serial)
        heap_pop();
}

int fl_idle_wait(void)
{
    drop_stale_timers();
    if (heap_len == 0 && !fd_waiters)
        return 0;
    /* Output written before a long sleep should be seen before it. */
    fl_flush();
    struct timespec timeout, *until = NULL;
    if (heap_len > 0) {
        int64_t wait = heap[0].deadline - fl_now_ns();
        if (wait < 0)
            wait = 0;
        timeout.tv_sec = wait / 1000000000;
        timeout.tv_nsec = wait % 1000000000;
        until = &timeout;
    }
    int timeout_ms = -1;
    if (until)   /* rounded up: waking early would only spin */
        timeout_ms = (int)(until->tv_sec * 1000 + (until->tv_nsec + 999999) / 1000000);
    /* SIGINT is blocked until the wait itself opens it: a Ctrl-C that comes
     * after the scheduler looked at the flag still ends the wait (interrupt.c). */
    sigset_t wait_mask;
    if (fl_interrupt_hold(&wait_mask)) {
        fl_interrupt_release(&wait_mask);
        return 1;
    }
    if (epoll_fd < 0) {
        ppoll(NULL, 0, until, &wait_mask);   /* until is set: a timer is pending */
    } else {
        struct epoll_event ready[64];
        int n = epoll_pwait(epoll_fd, ready, 64, timeout_ms, &wait_mask);
        if (n > 0)
            wake_ready_fds(ready, n);
    }
    fl_interrupt_release(&wait_mask);
    return 1;   /* EINTR too: the caller looks again */
}

/* One wait of fl_task_wait_fd: the ready events, 0 when the deadline (< 0: none) woke it. */
static short wait_fd_once(int32_t fd, int32_t events, int64_t deadline)
{
    fd_waiter w = {NULL, fd_waiters, fd, (short)events, 0, 1, fl_task_self()};
    struct epoll_event ev = {.events = epoll_events_of(w.events), .data.ptr = &w};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0 &&
        (errno != EEXIST || epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &ev) != 0))
        fl_raise("io-error", 0, "cannot wait for descriptor %d: %s", fd, strerror(errno));
    if (fd_waiters)
        fd_waiters->prev = &w;
    fd_waiters = &w;
    if (deadline >= 0)
        fl_timer_wake_task(w.task, deadline);
    fl_task_block(FL_WAIT_FD, FL_NIL);
    unlink_fd_waiter(&w);   /* still linked when the timeout or a Ctrl-C woke us */
    /* The waiter's memory ends with this call: the descriptor must not keep it. */
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    return w.revents;
}

int32_t fl_task_wait_fd(int32_t fd, int32_t events, double timeout_seconds)
{
    fl_task_may_block();
    if (epoll_fd < 0) {
        epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (epoll_fd < 0)
            fl_raise("io-error", 0, "cannot create the event loop: %s", strerror(errno));
    }
    int64_t deadline = timeout_seconds >= 0 ? deadline_after(timeout_seconds) : -1;
    for (;;) {
        short revents = wait_fd_once(fd, events, deadline);
        if (revents || !fl_interrupt_pending)
            return revents;
        /* Woken by Ctrl-C (sched.c): raise it here; if an error:catch
         * handler answers, the wait goes on until the same deadline. */
        fl_interrupt_check(0);
        if (deadline >= 0 && fl_now_ns() >= deadline)
            return 0;
    }
}

void fl_timers_reset(void)
{
    heap = NULL;
    heap_len = heap_cap = 0;
    fd_waiters = NULL;
    fl_resolve_reset();   /* lookups of abandoned tasks: their threads finish alone */
    if (epoll_fd >= 0) {   /* descriptors of abandoned tasks go with it */
        close(epoll_fd);
        epoll_fd = -1;
    }
}

/* ---- sleeping ---- */

void fl_task_sleep(double seconds, int64_t loc)
{
    if (!(seconds > 0)) {   /* 0, negative, nan: just let the others run */
        fl_task_yield();
        return;
    }
    fl_task_may_block();
    int64_t deadline = deadline_after(seconds);
    do {
        fl_timer_wake_task(fl_task_self(), deadline);
        fl_task_block(FL_WAIT_SLEEP, FL_NIL);
        /* Woken early by Ctrl-C (sched.c): raise it here; if an error:catch
         * handler answers, the sleep goes on. */
        fl_interrupt_check(loc);
    } while (fl_now_ns() < deadline);
}

/* The time:sleep default: suspends the running task only. */
static fl_value time_sleep(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    fl_arity_check("time:sleep", argc, 1, 1);
    double seconds = 0;
    if (FL_IS_INT(a0))
        seconds = (double)fl_int_value(a0);
    else if (FL_IS_FLOAT(a0))
        seconds = fl_float_value(a0);
    else
        fl_type_fail("time:sleep", "a number of seconds", a0, FL_LOCOF(argc));
    fl_task_sleep(seconds, FL_LOCOF(argc));
    return FL_NIL;
}

void fl_timer_effects_init(void)
{
    fl_effect_set_default("time:sleep", time_sleep);
}
