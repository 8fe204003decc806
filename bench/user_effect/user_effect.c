/* user_effect: the handler is a function pointer the loop calls for every operation. */
#include <stdio.h>
#include <stdlib.h>

static long twice(long i) { return 2 * i; }
static long (*volatile handler)(long) = twice;

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    long acc = 0;
    for (long i = 0; i < n; i++)
        acc += handler(i);
    printf("user_effect %ld %ld\n", n, acc);
    return 0;
}
