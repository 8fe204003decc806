/* interrupt.c -- Ctrl-C: SIGINT becomes a catchable `interrupted` error.
 *
 * In:  SIGINT while a program runs (between fl_interrupt_install and
 *      fl_interrupt_uninstall, which the outermost fl_run calls); the polls of
 *      generated code (a load of fl_interrupt_pending and a cold branch at
 *      every closure entry and loop back-edge, backend/codegen.py), the
 *      allocator's slow paths (module.c: long builtins) and the runtime's
 *      blocking waits (the scheduler's idle wait, read-line, the process-wide
 *      sleep).
 * Out: an error {"type" "interrupted" "message" "interrupted"} raised at the
 *      poll site through the fault path (fl_fault_answer), so `error:catch`
 *      and `handler` forms see it like any runtime fault and an uncaught one
 *      carries the site's location and call chain; fl_run reports it with
 *      status FL_INTERRUPTED (exit 130).
 *
 * The handler only sets the flag: no code of the program runs in signal
 * context, and generated code pays one load and a never-taken branch per
 * poll. It is installed without SA_RESTART so that a read(2) of read-line
 * returns EINTR; the waits that cannot be restarted (epoll_wait, ppoll) are
 * entered with SIGINT blocked and unblocked atomically by the wait itself
 * (fl_interrupt_hold), so a Ctrl-C just before the wait is not slept through.
 * A second SIGINT while the first is still pending means the program is stuck
 * where no poll runs (a builtin looping without allocating, a blocking system call): the process
 * exits with status 130 at once. Between runs the previous handler (Python's,
 * or the default) is back in place; a SIGINT the program never polled is
 * passed on to it. A SIGINT that was ignored when the run started stays
 * ignored (nohup, background jobs of a shell).
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "fluentai.h"

volatile int32_t fl_interrupt_pending;

static struct sigaction saved_sigint;
static int installed;

static void on_sigint(int sig)
{
    (void)sig;
    if (fl_interrupt_pending) {
        static const char message[] = "\nfluentai: interrupted again before the program could stop: exiting\n";
        ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
        (void)ignored;
        _exit(130);
    }
    fl_interrupt_pending = 1;
}

void fl_interrupt_install(void)
{
    fl_interrupt_pending = 0;
    struct sigaction previous;
    if (sigaction(SIGINT, NULL, &previous) != 0 || previous.sa_handler == SIG_IGN)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_ONSTACK;   /* no SA_RESTART: a blocked read must return EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &saved_sigint);
    installed = 1;
}

void fl_interrupt_uninstall(void)
{
    if (!installed)
        return;
    installed = 0;
    sigaction(SIGINT, &saved_sigint, NULL);
    if (fl_interrupt_pending) {
        fl_interrupt_pending = 0;
        raise(SIGINT);
    }
}

fl_value fl_interrupt_error(void)
{
    return fl_make_error(fl_string_from_cstr("interrupted"), fl_string_from_cstr("interrupted"), FL_NIL);
}

int fl_is_interrupt(fl_value error)
{
    if (!FL_IS_KIND(error, FL_K_MAP))
        return 0;
    fl_value type = fl_map_get(error, fl_string_from_cstr("type"), FL_NIL);
    return FL_IS_STRING(type) && FL_STR(type)->nbytes == 11 && memcmp(FL_STR(type)->bytes, "interrupted", 11) == 0;
}

void fl_interrupt_poll_slow(int64_t loc)
{
    fl_interrupt_pending = 0;
    fl_check_stack(loc);   /* building the error allocates: not in the last bytes of a deep recursion */
    if (loc == 0) {        /* a wait of the runtime's own: where the program called it */
        fl_chain chain;
        fl_chain_here(&chain, NULL);
        loc = fl_chain_innermost_loc(&chain);
    }
    (void)fl_fault_answer(fl_interrupt_error(), loc);
}

void fl_interrupt_check(int64_t loc)
{
    if (fl_interrupt_pending)
        fl_interrupt_poll_slow(loc);
}

int fl_interrupt_hold(sigset_t *wait_mask)
{
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, wait_mask);
    return fl_interrupt_pending != 0;
}

void fl_interrupt_release(const sigset_t *wait_mask)
{
    sigprocmask(SIG_SETMASK, wait_mask, NULL);
}
