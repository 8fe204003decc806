/* limits.c -- the resource limits of a run: the heap limit with its
 * out-of-memory report, and the number of live tasks.
 *
 * In:  FLUENTAI_MAX_HEAP and FLUENTAI_MAX_TASKS at fl_init (the CLI's
 *      --max-heap sets the first), fl_set_max_heap / fl_set_max_tasks from
 *      the Python API and tests; every failed allocation (module.c: Boehm's
 *      heap and malloc alike).
 * Out: Boehm's maximum heap size; fl_out_of_memory, which ends the innermost
 *      run with an `out-of-memory` error located at the innermost FluentAI
 *      frame, with its call chain; fl_max_tasks for fl_spawn.
 *
 * Out of memory is not an error a `handler` form can catch: when it happens
 * the live data fills the heap, and any answer a handler gave would allocate
 * from that same full heap. The run ends (exit status 1), like a deadlock;
 * under `fluentai jit` and the Python API the compiler's process carries on.
 * Reporting needs memory too, so the limit is lifted by a small reserve for
 * the rest of the run and put back when the next run starts.
 */
#include <gc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fluentai.h"

#define MiB (INT64_C(1) << 20)
#define REPORT_RESERVE_BYTES (16 * MiB)
#define MAX_TASKS_CAP 1000000
#define MIN_TASKS_DEFAULT 10000
#define HEAP_BYTES_PER_TASK (8 * 1024)

static int64_t heap_limit;         /* bytes; what GC_set_max_heap_size is given between runs */
static int64_t tasks_setting;      /* FLUENTAI_MAX_TASKS; 0: derived from the heap limit */
int64_t fl_task_limit;             /* what fl_spawn compares with: tasks_setting or derived */
static int64_t failed_request;     /* the allocation that failed, for the message */
static int failed_in_malloc;

/* ---- sizes ---- */

/* "64M", "2G", "512k", "1048576", "1.5G": bytes, or -1. Units are binary. */
int64_t fl_parse_size(const char *text)
{
    if (!text || !*text)
        return -1;
    char *end;
    double n = strtod(text, &end);
    if (end == text || n < 0)
        return -1;
    double unit = 1;
    switch (*end) {
    case 'k': case 'K': unit = 1024.0; end++; break;
    case 'm': case 'M': unit = 1024.0 * 1024; end++; break;
    case 'g': case 'G': unit = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': unit = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' && unit > 1)
        end++;
    if (*end == 'b' || *end == 'B')
        end++;
    double bytes = n * unit;
    if (*end || bytes >= 9.0e18)
        return -1;
    return (int64_t)bytes;
}

static void write_size(char *out, size_t cap, int64_t bytes)
{
    if (bytes >= 1024 * MiB && bytes % (1024 * MiB) != 0)
        snprintf(out, cap, "%.1f GiB", (double)bytes / (double)(1024 * MiB));
    else if (bytes >= 1024 * MiB)
        snprintf(out, cap, "%lld GiB", (long long)(bytes / (1024 * MiB)));
    else if (bytes >= MiB)
        snprintf(out, cap, "%lld MiB", (long long)((bytes + MiB / 2) / MiB));
    else
        snprintf(out, cap, "%lld bytes", (long long)bytes);
}

/* ---- the default heap limit ---- */

static int64_t read_limit_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char text[64] = {0};
    int64_t limit = 0;
    if (fgets(text, sizeof text, f) && text[0] >= '0' && text[0] <= '9')
        limit = strtoll(text, NULL, 10);   /* "max" (cgroup v2's none) stays 0 */
    fclose(f);
    return limit;
}

/* Three quarters of the memory this process may really use: the physical
 * memory, the container's cgroup limit (v2, else v1), the address-space
 * rlimit. The rest is for stacks, malloc and, under `fluentai jit`, the
 * compiler itself. */
static int64_t default_heap_limit(void)
{
    int64_t pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    int64_t usable = pages > 0 && page > 0 ? pages * page : INT64_C(8) << 30;
    const char *cgroup_files[] = {"/sys/fs/cgroup/memory.max",
                                  "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    for (size_t i = 0; i < sizeof cgroup_files / sizeof *cgroup_files; i++) {
        int64_t limit = read_limit_file(cgroup_files[i]);
        if (limit > 0 && limit < usable)
            usable = limit;
    }
    struct rlimit as;
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY
        && (int64_t)as.rlim_cur < usable)
        usable = (int64_t)as.rlim_cur;
    return usable / 4 * 3;
}

static __attribute__((noreturn)) void bad_setting(const char *name, const char *value)
{
    fprintf(stderr, "fluentai: error: %s=%s is not a valid %s\n", name, value,
            strcmp(name, "FLUENTAI_MAX_TASKS") == 0 ? "task count (a positive integer)"
                                                     : "size (e.g. 512M or 2G)");
    exit(2);
}

static int64_t default_max_tasks(void)
{
    int64_t n = heap_limit / HEAP_BYTES_PER_TASK;
    return n < MIN_TASKS_DEFAULT ? MIN_TASKS_DEFAULT : n > MAX_TASKS_CAP ? MAX_TASKS_CAP : n;
}

/* Boehm says when its heap cannot grow; the report is ours, so its warnings
 * about that are dropped. Others go to its own printer. */
static GC_warn_proc boehm_warn;

static void GC_CALLBACK filter_gc_warning(char *message, GC_word arg)
{
    if (strstr(message, "Out of Memory") || strstr(message, "Failed to expand heap"))
        return;
    boehm_warn(message, arg);
}

void fl_limits_init(void)
{
    boehm_warn = GC_get_warn_proc();
    GC_set_warn_proc(filter_gc_warning);
    const char *heap = getenv("FLUENTAI_MAX_HEAP");
    int64_t bytes = 0;
    if (heap && *heap && (bytes = fl_parse_size(heap)) <= 0)
        bad_setting("FLUENTAI_MAX_HEAP", heap);
    fl_set_max_heap(bytes);
    const char *tasks = getenv("FLUENTAI_MAX_TASKS");
    if (tasks && *tasks) {
        char *end;
        long long n = strtoll(tasks, &end, 10);
        if (*end || n < 1)
            bad_setting("FLUENTAI_MAX_TASKS", tasks);
        fl_set_max_tasks(n);
    }
}

void fl_set_max_heap(int64_t bytes)
{
    heap_limit = bytes > 0 ? bytes : default_heap_limit();
    GC_set_max_heap_size((GC_word)heap_limit);
    fl_task_limit = tasks_setting ? tasks_setting : default_max_tasks();
}

int64_t fl_max_heap(void)
{
    return heap_limit;
}

void fl_set_max_tasks(int64_t n)
{
    tasks_setting = n > 0 ? n : 0;
    fl_task_limit = tasks_setting ? tasks_setting : default_max_tasks();
}

int64_t fl_max_tasks(void)
{
    return fl_task_limit;
}

/* ---- out of memory ---- */

void fl_limits_enter_run(void)
{
    GC_set_max_heap_size((GC_word)heap_limit);
}

void fl_out_of_memory(int64_t nbytes, int in_malloc)
{
    failed_request = nbytes;
    failed_in_malloc = in_malloc;
    GC_set_max_heap_size((GC_word)(heap_limit + REPORT_RESERVE_BYTES));
    fl_unwind_out_of_memory();
    /* Outside any run (a test's direct call into the runtime): nothing to unwind to. */
    fflush(stdout);
    fprintf(stderr, "fluentai: out of memory (allocating %lld bytes)\n", (long long)nbytes);
    abort();
}

fl_value fl_out_of_memory_message(void)
{
    char size[48], limit[48], text[256];
    write_size(size, sizeof size, failed_request);
    write_size(limit, sizeof limit, heap_limit);
    if (failed_in_malloc)
        snprintf(text, sizeof text, "out of memory: the system refused %s", size);
    else
        snprintf(text, sizeof text,
                 "out of memory: the heap reached its limit of %s (allocating %s; raise it with "
                 "--max-heap or FLUENTAI_MAX_HEAP)", limit, size);
    return fl_string_from_cstr(text);
}
