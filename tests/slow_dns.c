/* slow_dns.c -- an LD_PRELOAD shim for tests/test_network.py and test_interrupt.py: a lookup
 * of the host "slow.test" takes $SLOW_DNS_SECONDS (default 1) and then fails with
 * EAI_NONAME, as a dead DNS server would; numeric lookups and other hosts go to the C
 * library's getaddrinfo. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    if (node && strcmp(node, "slow.test") == 0 && !(hints && (hints->ai_flags & AI_NUMERICHOST))) {
        const char *seconds = getenv("SLOW_DNS_SECONDS");
        sleep(seconds ? (unsigned)atoi(seconds) : 1);
        return EAI_NONAME;
    }
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
        (int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))
            dlsym(RTLD_NEXT, "getaddrinfo");
    return real(node, service, hints, res);
}
