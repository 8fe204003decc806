/* state_update: one global counter updated through a function pointer. */
#include <stdio.h>
#include <stdlib.h>

static long counter;
static long inc(long x) { return x + 1; }
static long (*volatile update_fn)(long) = inc;

static long update(void)
{
    counter = update_fn(counter);
    return counter;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    for (long i = 0; i < n; i++)
        update();
    printf("state_update %ld %ld\n", n, counter);
    return 0;
}
