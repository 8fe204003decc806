/* random.c -- the default handlers of the random effect (LANGUAGE.md section 7).
 *
 * In:  random:int lo hi (inclusive), float, bool, choice xs, shuffle xs, seed n.
 * Out: an int in [lo, hi]; a float in [0, 1); a bool; an element of xs; a new
 *      list with the elements of xs in random order; nil for seed.
 *
 * The generator is xoshiro256** (Blackman and Vigna), seeded from the OS
 * (getrandom, else /dev/urandom) at start-up and before every program run;
 * `seed n` expands n with splitmix64, so the same seed gives the same
 * sequence. Bounded draws use Lemire's multiply-and-reject: no modulo bias.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "fluentai.h"

#define DEFAULT(cname) \
    static fl_value cname(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)

static uint64_t state[4];

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(void)
{
    uint64_t result = rotl(state[1] * 5, 7) * 9;
    uint64_t t = state[1] << 17;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= t;
    state[3] = rotl(state[3], 45);
    return result;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static void seed_from(uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        state[i] = splitmix64(&seed);
}

static int read_urandom(void *buf, size_t n)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t got = read(fd, buf, n);
    close(fd);
    return got == (ssize_t)n;
}

void fl_random_reseed(void)
{
    uint64_t seed[4];
    if (getrandom(seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed ||
        read_urandom(seed, sizeof seed)) {
        memcpy(state, seed, sizeof state);
    } else {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        seed_from((uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 20) ^ ((uint64_t)getpid() << 40));
    }
    if (!(state[0] | state[1] | state[2] | state[3]))   /* the one state xoshiro cannot leave */
        seed_from(1);
}

/* Uniform in [0, range) for range >= 1. */
static uint64_t below(uint64_t range)
{
    __uint128_t m = (__uint128_t)next_u64() * range;
    uint64_t low = (uint64_t)m;
    if (low < range) {
        uint64_t threshold = -range % range;
        while (low < threshold) {
            m = (__uint128_t)next_u64() * range;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

DEFAULT(random_int)
{
    fl_arity_check("random:int", argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    int64_t lo = fl_int_arg("random:int", a0, loc), hi = fl_int_arg("random:int", a1, loc);
    if (lo > hi)
        fl_raise("value-error", loc, "`random:int` expects lo <= hi, got %lld and %lld", (long long)lo,
                 (long long)hi);
    uint64_t range = (uint64_t)hi - (uint64_t)lo + 1;   /* 0: all 2^64 values */
    uint64_t offset = range ? below(range) : next_u64();
    return fl_make_int((int64_t)((uint64_t)lo + offset));
}

DEFAULT(random_float)
{
    fl_arity_check("random:float", argc, 0, 0);
    return fl_make_float((double)(next_u64() >> 11) * 0x1.0p-53);
}

DEFAULT(random_bool)
{
    fl_arity_check("random:bool", argc, 0, 0);
    return FL_BOOL(next_u64() >> 63);
}

static int64_t list_arg(const char *op, fl_value xs, int64_t loc)
{
    if (!FL_IS_LIST(xs))
        fl_type_fail(op, "a list", xs, loc);
    return fl_list_length(xs);
}

DEFAULT(random_choice)
{
    fl_arity_check("random:choice", argc, 1, 1);
    int64_t n = list_arg("random:choice", a0, FL_LOCOF(argc));
    if (n == 0)
        fl_raise("value-error", FL_LOCOF(argc), "`random:choice` of an empty list");
    fl_value p = a0;
    for (uint64_t i = below((uint64_t)n); i > 0; i--)
        p = FL_PAIR(p)->tail;
    return FL_PAIR(p)->head;
}

/* Fisher-Yates over a copy; the argument is left as it was. */
DEFAULT(random_shuffle)
{
    fl_arity_check("random:shuffle", argc, 1, 1);
    int64_t n = list_arg("random:shuffle", a0, FL_LOCOF(argc));
    if (n == 0)
        return FL_EMPTY;
    fl_value *items = fl_alloc(n * (int64_t)sizeof(fl_value));
    fl_value p = a0;
    for (int64_t i = 0; i < n; i++, p = FL_PAIR(p)->tail)
        items[i] = FL_PAIR(p)->head;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)below((uint64_t)i + 1);
        fl_value t = items[i];
        items[i] = items[j];
        items[j] = t;
    }
    return fl_list_from_array(n, items);
}

DEFAULT(random_seed)
{
    fl_arity_check("random:seed", argc, 1, 1);
    seed_from((uint64_t)fl_int_arg("random:seed", a0, FL_LOCOF(argc)));
    return FL_NIL;
}

void fl_random_effect_init(void)
{
    fl_random_reseed();
    fl_effect_set_default("random:int", random_int);
    fl_effect_set_default("random:float", random_float);
    fl_effect_set_default("random:bool", random_bool);
    fl_effect_set_default("random:choice", random_choice);
    fl_effect_set_default("random:shuffle", random_shuffle);
    fl_effect_set_default("random:seed", random_seed);
}
