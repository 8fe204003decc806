/* fanin: 1,000 POSIX threads each send 1,000 values into one unbuffered (rendezvous) channel made of
   a mutex and condition variables; the main thread receives all 10^6 values and sums them. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct chan {
    pthread_mutex_t lock;
    pthread_cond_t can_put, can_take, taken;
    long value;
    int full;
    unsigned long puts, takes;      /* a sender waits until its own put has been taken */
} chan;

static chan ch = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
                  PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};
static long per_task;

static void chan_send(long v)
{
    pthread_mutex_lock(&ch.lock);
    while (ch.full)
        pthread_cond_wait(&ch.can_put, &ch.lock);
    ch.value = v;
    ch.full = 1;
    unsigned long mine = ++ch.puts;
    pthread_cond_signal(&ch.can_take);
    while (ch.takes < mine)
        pthread_cond_wait(&ch.taken, &ch.lock);
    pthread_mutex_unlock(&ch.lock);
}

static long chan_recv(void)
{
    pthread_mutex_lock(&ch.lock);
    while (!ch.full)
        pthread_cond_wait(&ch.can_take, &ch.lock);
    long v = ch.value;
    ch.full = 0;
    ch.takes++;
    pthread_cond_broadcast(&ch.taken);
    pthread_cond_signal(&ch.can_put);
    pthread_mutex_unlock(&ch.lock);
    return v;
}

static void *producer(void *arg)
{
    long i = (long)arg;
    for (long k = 0; k < per_task; k++)
        chan_send(i * per_task + k);
    return NULL;
}

int main(int argc, char **argv)
{
    long tasks = argc > 1 ? atol(argv[1]) : 1000;
    per_task = argc > 2 ? atol(argv[2]) : 1000;
    pthread_t *threads = malloc((size_t)tasks * sizeof *threads);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (long i = 0; i < tasks; i++)
        pthread_create(&threads[i], &attr, producer, (void *)i);
    long s = 0;
    for (long n = tasks * per_task; n > 0; n--)
        s += chan_recv();
    for (long i = 0; i < tasks; i++)
        pthread_join(threads[i], NULL);
    printf("fanin %ld %ld %ld\n", tasks, per_task, s);
    return 0;
}
