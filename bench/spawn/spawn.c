/* spawn: 100,000 POSIX threads, each computing 2i into its own slot, detached; the main thread then
   waits for each result in order (a mutex and condition variable per wait). At most a few threads
   live at once: 10^5 joinable threads would exceed the process's VMA and thread limits. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct slot { long value; int done; } slot;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t settled = PTHREAD_COND_INITIALIZER;
static slot *slots;

static void *task(void *arg)
{
    long i = (long)arg;
    pthread_mutex_lock(&lock);
    slots[i].value = 2 * i;
    slots[i].done = 1;
    pthread_cond_broadcast(&settled);
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    slots = calloc((size_t)n, sizeof *slots);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (long i = 0; i < n; i++) {
        pthread_t t;
        while (pthread_create(&t, &attr, task, (void *)i) != 0)
            sched_yield();   /* EAGAIN: too many threads alive; let some finish */
    }
    long s = 0;
    pthread_mutex_lock(&lock);
    for (long i = 0; i < n; i++) {
        while (!slots[i].done)
            pthread_cond_wait(&settled, &lock);
        s += slots[i].value;
    }
    pthread_mutex_unlock(&lock);
    printf("spawn %ld %ld\n", n, s);
    return 0;
}
