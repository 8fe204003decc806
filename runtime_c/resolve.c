/* resolve.c -- host names resolved off the scheduler, for the network effect.
 *
 * In:  a host and a port (net.c's connect), a deadline.
 * Out: getaddrinfo's answer, or FL_RESOLVE_TIMED_OUT once the deadline passed.
 *
 * getaddrinfo blocks, and a DNS lookup can take seconds (a dead server is
 * retried for 5 s per attempt): called from a task it would stop every other
 * task, ignore the fetch's timeout and sleep through Ctrl-C. So a name that is
 * not a numeric address is looked up by a detached thread of its own while the
 * task waits on an eventfd in the scheduler's epoll loop (fl_task_wait_fd):
 * the other tasks run, the deadline holds, and a Ctrl-C is raised in the
 * waiting task like at any network wait. This is what Go's cgo resolver does.
 *
 * A lookup is shared by two owners, the thread and the waiting task, and
 * freed by the last one done with it. The task may stop owning it without
 * being told: a timeout, or a Ctrl-C or an error unwinding through the wait.
 * So every lookup the program started stays on `pending` until the task has
 * read it, and fl_resolve_reset (between runs) gives up the ones left there;
 * a thread still resolving frees its lookup when getaddrinfo returns. The
 * thread touches only malloc memory (it is not registered with the GC) and
 * runs with every signal blocked, so SIGINT always reaches the program's
 * thread and wakes its wait.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fluentai.h"

typedef struct lookup {
    char *host, *port;            /* malloc copies: the thread outlives GC memory's reachability */
    struct addrinfo hints;
    struct addrinfo *found;       /* the answer, once done */
    int status;
    int event_fd;                 /* written once by the thread when the answer is there */
    int owners;                   /* atomic: 2 (thread and task), then 1, then freed */
    struct lookup *next_pending;  /* the program's thread only */
} lookup;

static lookup *pending;

static void release(lookup *l)
{
    if (__atomic_sub_fetch(&l->owners, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (l->found)
        freeaddrinfo(l->found);
    if (l->event_fd >= 0)
        close(l->event_fd);
    free(l->host);
    free(l->port);
    free(l);
}

static void *resolve_thread(void *arg)
{
    lookup *l = arg;
    l->status = getaddrinfo(l->host, l->port, &l->hints, &l->found);
    uint64_t one = 1;
    ssize_t ignored = write(l->event_fd, &one, sizeof one);
    (void)ignored;
    release(l);
    return NULL;
}

static void unlink_pending(lookup *l)
{
    for (lookup **p = &pending; *p; p = &(*p)->next_pending)
        if (*p == l) {
            *p = l->next_pending;
            return;
        }
}

/* A thread with every signal blocked (it inherits the mask it was created under). */
static int start_thread(lookup *l)
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return 0;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pthread_t thread;
    int started = pthread_create(&thread, &attr, resolve_thread, l) == 0;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    pthread_attr_destroy(&attr);
    return started;
}

int fl_resolve(const char *host, const char *port, const struct addrinfo *hints,
               int64_t deadline_ns, struct addrinfo **found)
{
    /* Numeric addresses need no lookup: no thread for http://127.0.0.1/. */
    struct addrinfo numeric = *hints;
    numeric.ai_flags |= AI_NUMERICHOST;
    if (getaddrinfo(host, port, &numeric, found) == 0)
        return 0;
    lookup *l = calloc(1, sizeof *l);
    if (!l)
        fl_out_of_memory((int64_t)sizeof *l, 1);
    l->host = strdup(host);
    l->port = strdup(port);
    l->hints = *hints;
    l->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    l->owners = 2;
    if (!l->host || !l->port || l->event_fd < 0 || !start_thread(l)) {
        /* No thread to be had (a process at its limits): resolve here, blocking as before. */
        l->owners = 1;
        release(l);
        return getaddrinfo(host, port, hints, found);
    }
    l->next_pending = pending;
    pending = l;
    for (;;) {
        double left = (double)(deadline_ns - fl_now_ns()) / 1e9;
        if (left <= 0 || fl_task_wait_fd(l->event_fd, POLLIN, left) == 0) {
            unlink_pending(l);
            release(l);
            return FL_RESOLVE_TIMED_OUT;
        }
        uint64_t count;
        if (read(l->event_fd, &count, sizeof count) == (ssize_t)sizeof count)
            break;
    }
    unlink_pending(l);
    int status = l->status;
    *found = l->found;   /* the caller frees it with freeaddrinfo */
    l->found = NULL;
    release(l);
    return status;
}

void fl_resolve_reset(void)
{
    while (pending) {
        lookup *l = pending;
        pending = l->next_pending;
        release(l);
    }
}
