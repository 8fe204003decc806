/* growable byte buffer (doubling), one decimal digit appended per step, then indexing, repeated */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static long once(long n) {
    size_t cap = 16, len = 0; char *s = malloc(cap);
    for (long i = 0; i < n; i++) {
        char piece = (char)('0' + i % 10);
        if (len + 1 > cap) { cap *= 2; s = realloc(s, cap); }
        memcpy(s + len, &piece, 1); len += 1;
    }
    long r = (long)len + (unsigned char)s[len / 2] + (unsigned char)s[len - 1];
    free(s);
    return r;
}
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000, r = argc > 2 ? atol(argv[2]) : 3, t = 0;
    for (long k = 0; k < r; k++) t += once(n);
    printf("string_append %ld %ld %ld\n", n, r, t);
    return 0;
}
