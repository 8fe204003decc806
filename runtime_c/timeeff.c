/* timeeff.c -- the default handlers of the time effect (LANGUAGE.md section 7).
 *
 * In:  time:now, time:elapsed, time:sleep seconds (an int or a float >= 0).
 * Out: now: float seconds since the epoch; elapsed: float seconds since the
 *      program started (monotonic clock); sleep: nil.
 *
 * sleep lives in one function, fl_time_sleep_default, which blocks the
 * process with nanosleep; the task scheduler registers its own default for
 * time:sleep (a suspension of the current task only) in its place.
 */
#include <errno.h>
#include <math.h>
#include <time.h>

#include "fluentai.h"

#define DEFAULT(cname) \
    static fl_value cname(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)

static struct timespec program_start;

static double seconds_of(const struct timespec *t)
{
    return (double)t->tv_sec + (double)t->tv_nsec / 1e9;
}

void fl_time_reset(void)
{
    clock_gettime(CLOCK_MONOTONIC, &program_start);
}

DEFAULT(time_now)
{
    fl_arity_check("time:now", argc, 0, 0);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return fl_make_float(seconds_of(&now));
}

DEFAULT(time_elapsed)
{
    fl_arity_check("time:elapsed", argc, 0, 0);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double seconds = (double)(now.tv_sec - program_start.tv_sec) +
                     (double)(now.tv_nsec - program_start.tv_nsec) / 1e9;
    return fl_make_float(seconds);
}

/* The duration argument of time:sleep, in seconds; a type- or value-error otherwise. */
static double sleep_seconds(fl_value v, int64_t loc)
{
    double seconds = 0;
    if (FL_IS_INT(v))
        seconds = (double)fl_int_value(v);
    else if (FL_IS_FLOAT(v))
        seconds = fl_float_value(v);
    else
        fl_type_fail("time:sleep", "a number of seconds", v, loc);
    if (!(seconds >= 0) || isinf(seconds))
        fl_raise("value-error", loc, "`time:sleep` expects a finite number of seconds >= 0, got %g", seconds);
    return seconds;
}

fl_value fl_time_sleep_default(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2,
                               fl_value *rest)
{
    (void)self; (void)a1; (void)a2; (void)rest;
    fl_arity_check("time:sleep", argc, 1, 1);
    double seconds = sleep_seconds(a0, FL_LOCOF(argc));
    fl_flush();
    if (seconds > 1e15)   /* about 30 million years: keeps the conversion defined */
        seconds = 1e15;
    struct timespec wait = {.tv_sec = (time_t)seconds};
    wait.tv_nsec = (long)((seconds - (double)wait.tv_sec) * 1e9);
    while (nanosleep(&wait, &wait) != 0 && errno == EINTR)
        fl_interrupt_check(FL_LOCOF(argc));   /* Ctrl-C: raised here, or the sleep goes on */
    return FL_NIL;
}

void fl_time_effect_init(void)
{
    fl_time_reset();
    fl_effect_set_default("time:now", time_now);
    fl_effect_set_default("time:elapsed", time_elapsed);
    fl_effect_set_default("time:sleep", fl_time_sleep_default);
}
