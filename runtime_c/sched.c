/* sched.c -- green tasks: an M:1 FIFO scheduler on fiber stacks.
 *
 * In:  fl_spawn from generated code; the blocking operations of promise.c,
 *      chan.c and timer.c, which park the running task with fl_task_block and
 *      make others runnable with fl_task_wake; fl_run's hooks (error.c).
 * Out: tasks that run until they finish or block, in FIFO order; a deadlock
 *      report when every task is blocked and nothing can wake one; the
 *      reports of failed tasks nobody awaited.
 *
 * The main program is task 1 on fl_run's program stack; every other task gets
 * a fiber stack (fiber.c) when it first runs and gives it back when it ends.
 * A switch saves the running task's dynamic state (catch frames, handler
 * frames, stack limit) and tells Boehm where the new stack is; a GC callback
 * pushes every suspended task's stack (DESIGN.md "Fibers, scheduler, effects").
 * A task's entry pushes a catch frame, so an error or a stack overflow in the
 * task rejects its promise and ends only that task. Its frame chain continues
 * into fl_run's frame, so `exit` still ends the whole program, and so does an
 * uncaught `interrupted` (Ctrl-C), which a task's entry passes on to fl_run's
 * frame. A Ctrl-C while no task can run wakes the task that blocked last if
 * its wait can be abandoned, else ends the program (interrupt_idle_program).
 */
#include <gc.h>
#include <gc/gc_mark.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "fluentai.h"

/* Runtime entry points that allocate or recurse stop this far above a fiber's
 * guard (fl_check_stack): Boehm's collector and printf need far less. */
#define FIBER_HEADROOM_BYTES (64 * 1024)

struct fl_task {
    void *sp;                   /* saved by fl_ctx_switch while suspended */
    char *stack_top;            /* NULL until the task first runs */
    fl_stack *stack;            /* NULL for the main task (the program stack) */
    fl_task *next_ready;        /* the run queue */
    fl_task *prev, *next;       /* every live task, in creation order */
    int64_t id;                 /* 1: the main task */
    int64_t spawn_loc;
    int64_t wait_serial;        /* bumped by every wake: timers of older waits are stale */
    fl_value thunk;
    fl_value promise;
    int32_t waiting;            /* enum fl_wait_kind; FL_WAIT_NONE when runnable */
    fl_value waits_on;          /* the channel, promise or select clauses, for reports */
    /* The dynamic state of the running task, kept here while it is suspended. */
    fl_catch *catch_top;
    fl_handler_frame *handler_top;
    char *stack_limit;
};

/* One failed task, reported at exit when nobody awaited its promise. */
typedef struct failure {
    struct failure *next;
    fl_value promise, error;
    int64_t loc, task_id, spawn_loc;
    fl_chain *chain;
} failure;

/* All in .bss, which Boehm scans: the task structs hang off main_task. */
static fl_task main_task;
static fl_task *current;
static fl_task *last_task;
static fl_task *ready_head, *ready_tail;
static int64_t last_task_id;
static int64_t live_tasks;            /* the tasks on the list, the main task included */
static fl_catch *run_frame;           /* the outermost fl_run's frame */
static int nested_runs;
static void *gc_thread;
static fl_stack *dead_stack;          /* freed by whoever runs after its finished task */
static failure *failures, *last_failure;
static int deadlocked;
static fl_value deadlock_report, final_report, final_error;
static fl_handler_frame *outer_handler_top;
static GC_push_other_roots_proc previous_push_roots;
int64_t fl_sched_epoch;

/* ---- the run queue and the list of tasks ---- */

static void ready_push(fl_task *t)
{
    t->next_ready = NULL;
    if (ready_tail)
        ready_tail->next_ready = t;
    else
        ready_head = t;
    ready_tail = t;
}

static fl_task *ready_pop(void)
{
    fl_task *t = ready_head;
    if (t) {
        ready_head = t->next_ready;
        if (!ready_head)
            ready_tail = NULL;
    }
    return t;
}

static void link_task(fl_task *t)
{
    t->prev = last_task;
    last_task->next = t;
    last_task = t;
    live_tasks++;
}

static void unlink_task(fl_task *t)
{
    t->prev->next = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        last_task = t->prev;
    t->next = t->prev = NULL;
    live_tasks--;
}

fl_task *fl_task_self(void)
{
    return current;
}

int64_t fl_task_block_serial(fl_task *t)
{
    return t->wait_serial;
}

int64_t fl_task_live_count(void)
{
    return current ? live_tasks : 0;
}

/* ---- Boehm ---- */

/* The running task's stack is Boehm's "thread stack"; the others are here.
 * The exact saved sp bounds each one, so dead frames below it are skipped. */
static void GC_CALLBACK push_task_stacks(void)
{
    if (previous_push_roots)
        previous_push_roots();
    for (fl_task *t = current ? &main_task : NULL; t; t = t->next)
        if (t != current && t->sp)
            GC_push_all_eager(t->sp, t->stack_top);
}

static void install_root_pusher(void)
{
    static int installed;
    if (installed)
        return;
    installed = 1;
    previous_push_roots = GC_get_push_other_roots();
    GC_set_push_other_roots(push_task_stacks);
}

/* ---- switching ---- */

static void release_dead_stack(void)
{
    if (dead_stack) {
        fl_stack_release(dead_stack);
        dead_stack = NULL;
    }
}

/* Nothing may allocate between telling Boehm about the new stack and being
 * on it: a collection in between would scan the wrong range. */
static void switch_to(fl_task *next)
{
    fl_task *self = current;
    self->catch_top = fl_catch_top;
    self->handler_top = fl_handler_top;
    self->stack_limit = fl_stack_limit;
    current = next;
    fl_catch_top = next->catch_top;
    fl_handler_top = next->handler_top;
    fl_stack_limit = next->stack_limit;
    struct GC_stack_base bottom = {.mem_base = next->stack_top};
    GC_set_stackbottom(gc_thread, &bottom);
    char *lo = next->stack ? next->stack->lo : NULL, *top = next->stack_top;
    if (!next->stack)   /* the main task, on the program stack */
        fl_program_stack_bounds(next->stack_top - 1, &lo, &top);
    fl_stack_switch(&self->sp, next->sp, lo, top);
    release_dead_stack();
}

static void unblock_fault_signals(void)
{
    sigset_t faults;
    sigemptyset(&faults);
    sigaddset(&faults, SIGSEGV);
    sigaddset(&faults, SIGBUS);
    sigprocmask(SIG_UNBLOCK, &faults, NULL);
}

static void record_failure(fl_task *t, fl_value error, int64_t loc, const fl_chain *chain)
{
    failure *f = fl_alloc(sizeof *f);
    f->chain = fl_chain_copy(chain);
    f->promise = t->promise;
    f->error = error;
    f->loc = loc;
    f->task_id = t->id;
    f->spawn_loc = t->spawn_loc;
    if (last_failure)
        last_failure->next = f;
    else
        failures = f;
    last_failure = f;
}

static __attribute__((noreturn)) void task_finish(fl_task *t);
static __attribute__((noreturn)) void end_program(fl_value error, int64_t loc, const fl_chain *chain);

/* The first frame of every task. sigsetjmp without the signal mask (no system
 * call per task): only a landing from the SIGSEGV handler needs the mask, and
 * it unblocks the fault signals itself. */
static void task_main(void *arg)
{
    fl_task *t = arg;
    fl_stack_entered(NULL, NULL);
    release_dead_stack();
    fl_catch frame;
    fl_chain chain;
    frame.is_run = 0;
    fl_catch_push(&frame);
    chain.nfirst = 0;
    frame.chain = &chain;
    if (sigsetjmp(frame.jump, 0) == 0) {
        fl_value result = fl_call(t->thunk, FL_ARGC(0, t->spawn_loc), 0, NULL);
        fl_catch_pop(&frame);
        fl_promise_resolve(t->promise, result);
    } else {
        volatile fl_catch *landed = &frame;
        if (landed->reason == FL_CATCH_STACK_OVERFLOW)
            unblock_fault_signals();
        fl_catch_top = frame.prev;
        fl_value error = fl_catch_error((fl_catch *)landed);
        if (fl_is_interrupt(error))   /* Ctrl-C ends the program, not only this task */
            end_program(error, landed->loc, landed->chain);
        record_failure(t, error, landed->loc, landed->chain);
        fl_promise_fail(t->promise, error, landed->loc);
    }
    task_finish(t);
}

/* A task gets its stack only when it first runs, so 10^5 spawned tasks that
 * have not started cost no stack. */
static int give_stack(fl_task *t)
{
    fl_stack *s = fl_stack_acquire();
    if (!s) {
        unlink_task(t);
        fl_value error = fl_make_error(fl_string_from_cstr("resource-limit"),
                                       fl_string_from_cstr("no address space left for a task's stack"),
                                       FL_NIL);
        record_failure(t, error, t->spawn_loc, NULL);
        fl_promise_fail(t->promise, error, t->spawn_loc);
        return 0;
    }
    t->stack = s;
    t->stack_top = s->top;
    t->stack_limit = s->lo + FIBER_HEADROOM_BYTES;
    t->catch_top = run_frame;
    t->handler_top = NULL;
    t->sp = fl_ctx_prepare(s->top, task_main, t);
    return 1;
}

static __attribute__((noreturn)) void report_deadlock(void);

/* Ctrl-C while no task can run. A sleep or a descriptor wait of the task that
 * blocked last can be abandoned safely (its timer goes stale, its waiter is
 * unlinked when fl_task_block returns): that task is woken and raises
 * `interrupted` where it waited (timer.c), which handlers can catch. Any
 * other wait leaves queued waiters behind on its stack: the program ends at
 * once, with the chain of the task that waited. */
static void interrupt_idle_program(void)
{
    if (current && current->stack_top &&
        (current->waiting == FL_WAIT_SLEEP || current->waiting == FL_WAIT_FD)) {
        fl_task_wake(current);
        return;
    }
    fl_interrupt_pending = 0;
    fl_chain chain;
    chain.nfirst = 0;
    fl_chain_here(&chain, run_frame);
    end_program(fl_interrupt_error(), fl_chain_innermost_loc(&chain), &chain);
}

/* The next task to run; waits for timers and I/O when none is ready. */
static fl_task *next_runnable(void)
{
    for (;;) {
        fl_timers_fire_due();
        fl_task *t = ready_pop();
        if (t) {
            if (t->stack_top || give_stack(t))
                return t;
            continue;
        }
        if (fl_interrupt_pending)
            interrupt_idle_program();
        else if (!fl_idle_wait())
            report_deadlock();
    }
}

void fl_task_may_block(void)
{
    /* Under a call from a Python handler, another task could enter Python too
     * and the interpreter's frame chain would interleave between stacks. */
    if (nested_runs)
        fl_raise("value-error", 0, "a task cannot wait for other tasks inside a call from a Python handler");
}

void fl_task_block(int32_t wait_kind, fl_value waits_on)
{
    fl_task *self = current;
    self->waiting = wait_kind;
    self->waits_on = waits_on;
    fl_task *next = next_runnable();
    if (next != self)
        switch_to(next);
}

void fl_task_wake(fl_task *t)
{
    t->waiting = FL_WAIT_NONE;
    t->waits_on = FL_NIL;
    t->wait_serial++;
    ready_push(t);
}

void fl_task_yield(void)
{
    fl_task_may_block();
    fl_timers_fire_due();
    if (!ready_head)
        return;
    ready_push(current);
    fl_task *next = next_runnable();
    if (next != current)
        switch_to(next);
}

static __attribute__((noreturn)) void task_finish(fl_task *t)
{
    unlink_task(t);
    dead_stack = t->stack;
    t->stack = NULL;
    switch_to(next_runnable());
    __builtin_unreachable();
}

int fl_task_guard_hit(const void *addr)
{
    const fl_task *t = current;
    const char *a = addr;
    return t && t->stack && a >= t->stack->guard && a < t->stack->lo;
}

int fl_task_stack_bounds(const void *sp, char **lo, char **top)
{
    const fl_task *t = current;
    if (!t || !t->stack || (const char *)sp < t->stack->lo || (const char *)sp >= t->stack->top)
        return 0;
    *lo = t->stack->lo;
    *top = t->stack->top;
    return 1;
}

/* ---- spawning ---- */

fl_value fl_spawn(fl_value thunk, int64_t loc)
{
    if (!FL_IS_CLOSURE(thunk))
        fl_type_fail("spawn", "a function", thunk, loc);
    if (!current)
        fl_raise("value-error", loc, "tasks can only be spawned while a program runs");
    /* Before memory runs out: a blocked task holds stack pages that are not in the
     * heap its limit measures (limits.c). */
    if (__builtin_expect(live_tasks >= fl_task_limit, 0))
        fl_raise("resource-limit", loc, "too many tasks: %lld are alive, the limit is %lld "
                 "(FLUENTAI_MAX_TASKS)", (long long)live_tasks, (long long)fl_task_limit);
    fl_task *t = fl_alloc(sizeof *t);
    t->id = ++last_task_id;
    t->spawn_loc = loc;
    t->thunk = thunk;
    t->promise = fl_promise_for_task(t->id, loc);
    link_task(t);
    ready_push(t);
    return t->promise;
}

/* ---- deadlock ---- */

void fl_write_loc(fl_buf *b, int64_t loc)
{
    const fl_module_info *m = fl_module_current();
    if (!m || !m->filename) {
        fl_buf_puts(b, "<unknown>");
        return;
    }
    fl_buf_puts(b, m->filename);
    if (loc > 0 && loc < m->nlocs) {
        char position[48];
        snprintf(position, sizeof position, ":%d:%d", m->locs[loc].line, m->locs[loc].col);
        fl_buf_puts(b, position);
    }
}

static void describe_channel_wait(fl_buf *b, const char *operation, fl_value ch)
{
    fl_buf_puts(b, operation);
    fl_buf_puts(b, " on channel created at ");
    fl_write_loc(b, fl_chan_loc(ch));
}

static void describe_select_wait(fl_buf *b, fl_value clauses)
{
    if (clauses == FL_EMPTY) {
        fl_buf_puts(b, "select with no clauses");
        return;
    }
    fl_buf_puts(b, "select on channels created at ");
    for (fl_value c = clauses; c != FL_EMPTY; c = FL_PAIR(c)->tail) {
        fl_value clause_channel = FL_PAIR(FL_PAIR(FL_PAIR(c)->head)->tail)->head;
        fl_write_loc(b, fl_chan_loc(clause_channel));
        if (FL_PAIR(c)->tail != FL_EMPTY)
            fl_buf_puts(b, ", ");
    }
}

static void describe_wait(fl_buf *b, const fl_task *t)
{
    switch (t->waiting) {
    case FL_WAIT_RECV: describe_channel_wait(b, "recv!", t->waits_on); return;
    case FL_WAIT_RECEIVE: describe_channel_wait(b, "receive!", t->waits_on); return;
    case FL_WAIT_SEND: describe_channel_wait(b, "send!", t->waits_on); return;
    case FL_WAIT_SELECT: describe_select_wait(b, t->waits_on); return;
    case FL_WAIT_AWAIT:
        fl_buf_puts(b, "await on ");
        fl_promise_describe(b, t->waits_on);
        return;
    default: fl_buf_puts(b, "waiting"); return;
    }
}

static void describe_task(fl_buf *b, const fl_task *t)
{
    if (t == &main_task) {
        fl_buf_puts(b, "main task");
        return;
    }
    char id[32];
    snprintf(id, sizeof id, "task %lld (spawned at ", (long long)t->id);
    fl_buf_puts(b, id);
    fl_write_loc(b, t->spawn_loc);
    fl_buf_puts(b, ")");
}

/* End the whole run with `error`, reported at loc with `chain` (copied: it may
 * live on the stack being left): straight to fl_run's frame, from whichever
 * stack noticed it. */
static __attribute__((noreturn)) void end_program(fl_value error, int64_t loc, const fl_chain *chain)
{
    run_frame->error = error;
    if (run_frame->chain) {
        if (chain)
            *run_frame->chain = *chain;
        else
            run_frame->chain->nfirst = 0;
    }
    run_frame->reason = FL_CATCH_ERROR;
    run_frame->loc = loc;
    fl_catch_top = run_frame;
    siglongjmp(run_frame->jump, 1);
}

/* Not an error a handler could catch (LANGUAGE.md section 8): straight to
 * fl_run's frame, from whichever stack noticed it. */
static __attribute__((noreturn)) void report_deadlock(void)
{
    fl_buf b;
    fl_buf_init(&b);
    /* No one form is at fault: the header names the file, as every error
     * without a location does (error.c), and the lines below say where. */
    const fl_module_info *m = fl_module_current();
    if (m) {
        fl_buf_puts(&b, m->filename);
        fl_buf_puts(&b, ": ");
    }
    fl_buf_puts(&b, "error[deadlock]: all tasks are blocked\n");
    for (fl_task *t = &main_task; t; t = t->next) {
        if (t->waiting == FL_WAIT_NONE)
            continue;
        fl_buf_puts(&b, "  ");
        describe_task(&b, t);
        fl_buf_puts(&b, ": ");
        describe_wait(&b, t);
        fl_buf_puts(&b, "\n");
    }
    deadlock_report = fl_buf_to_string(&b);
    deadlocked = 1;
    run_frame->error = fl_make_error(fl_string_from_cstr("deadlock"),
                                     fl_string_from_cstr("all tasks are blocked"), FL_NIL);
    run_frame->reason = FL_CATCH_ERROR;
    run_frame->loc = 0;
    fl_catch_top = run_frame;
    siglongjmp(run_frame->jump, 1);
}

/* ---- fl_run's hooks ---- */

void fl_sched_enter_run(int depth, fl_catch *frame, char *program_stack_top)
{
    if (depth > 0) {
        nested_runs++;
        return;
    }
    struct GC_stack_base ignored;
    gc_thread = GC_get_my_stackbottom(&ignored);
    install_root_pusher();
    memset(&main_task, 0, sizeof main_task);
    main_task.id = 1;
    main_task.stack_top = program_stack_top;
    main_task.waits_on = main_task.thunk = main_task.promise = FL_NIL;
    current = last_task = &main_task;
    ready_head = ready_tail = NULL;
    last_task_id = 1;
    live_tasks = 1;
    run_frame = frame;
    nested_runs = 0;
    deadlocked = 0;
    deadlock_report = FL_NIL;
    failures = last_failure = NULL;
    outer_handler_top = fl_handler_top;
}

static void append_failure_report(fl_buf *b, const failure *f)
{
    char header[48];
    snprintf(header, sizeof header, "error in task %lld (spawned at ", (long long)f->task_id);
    fl_buf_puts(b, header);
    fl_write_loc(b, f->spawn_loc);
    fl_buf_puts(b, "): ");
    fl_value report = fl_error_report(f->error, f->loc, f->chain);
    fl_buf_put(b, FL_STR(report)->bytes, FL_STR(report)->nbytes);
}

/* The program's own outcome comes first; then every failed task nobody
 * awaited, in the order they failed. */
static void report_failures(fl_outcome *out)
{
    fl_buf b;
    fl_buf_init(&b);
    if (out->report)
        fl_buf_puts(&b, out->report);
    const failure *first = NULL;
    for (const failure *f = failures; f; f = f->next) {
        if (fl_promise_observed(f->promise))
            continue;
        if (!first)
            first = f;
        append_failure_report(&b, f);
        out->failed_tasks++;
    }
    if (!first)
        return;
    final_report = fl_buf_to_string(&b);
    out->report = FL_STR(final_report)->bytes;
    if (out->status == FL_OK) {
        out->status = FL_ERROR;
        out->error = final_error = first->error;
        out->loc = first->loc;
    }
}

static void reset_scheduler(void)
{
    /* A run that ended in a deadlock, an exit or an error left suspended tasks:
     * their frames, the main task's on the program stack included, are abandoned
     * (only ASan keeps state about them; the walk is compiled out otherwise). */
    if (FL_ASAN)
        for (fl_task *t = &main_task; t; t = t->next)
            if (t != current && t->sp && t->stack_top)
                fl_stack_unpoison(t->sp, t->stack_top);
    main_task.next = NULL;
    current = last_task = NULL;
    ready_head = ready_tail = NULL;
    dead_stack = NULL;
    failures = last_failure = NULL;
    fl_timers_reset();
    fl_stack_release_all();
    fl_sched_epoch++;
    fl_handler_top = outer_handler_top;
}

void fl_sched_leave_run(int depth, fl_outcome *out)
{
    if (depth > 0) {
        nested_runs--;
        return;
    }
    /* The outcome's strings are rooted here until the next run. */
    final_report = final_error = FL_NIL;
    if (deadlocked) {
        out->status = FL_DEADLOCK;
        out->report = FL_STR(deadlock_report)->bytes;
    }
    if (out->status != FL_EXIT)
        report_failures(out);
    reset_scheduler();
}

void fl_tasks_init(void)
{
    fl_promise_init();
    fl_chan_init();
    fl_timer_effects_init();
}
