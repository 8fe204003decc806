/* fiber.c -- the hand-written x86-64 context switch (PROTOTYPES.md section 6)
 * and the pool of fiber stacks.
 *
 * fl_run uses the switch to move onto the big program stack; the task
 * scheduler (sched.c) uses it between fiber stacks. It saves only the
 * callee-saved registers: everything else is dead across a call by the ABI.
 * Top-level asm (not a .S file) because cffi's build only compiles .c files.
 * Out: fl_ctx_switch, fl_ctx_prepare, fl_stack_acquire/release/release_all.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fluentai.h"

#if FL_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__)
#error "fiber.c: only the x86-64 context switch exists so far"
#endif

/* void fl_ctx_switch(void **save_sp, void *new_sp)
 * fl_ctx_trampoline: the first "return address" of a fresh stack; it calls
 * r12(rbx) with rsp 16-byte aligned, as the ABI wants at a call. */
__asm__(
    ".text\n"
    ".globl fl_ctx_switch\n"
    ".type fl_ctx_switch,@function\n"
    "fl_ctx_switch:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size fl_ctx_switch, .-fl_ctx_switch\n"
    "\n"
    ".type fl_ctx_trampoline,@function\n"
    "fl_ctx_trampoline:\n"
    "    movq %rbx, %rdi\n"
    "    callq *%r12\n"
    "    ud2\n"
    ".size fl_ctx_trampoline, .-fl_ctx_trampoline\n");

extern char fl_ctx_trampoline[] __attribute__((visibility("hidden")));

#define FRESH_FRAMES_BYTES (64 * 1024)

void *fl_ctx_prepare(void *stack_top, void (*fn)(void *), void *arg)
{
    /* Seven slots are popped (r15 r14 r13 r12 rbx rbp, then the return
     * address); the trampoline then runs with rsp = top - 16, aligned. A
     * misaligned start crashed only once the GC ran (PROTOTYPES.md). */
    uintptr_t top = (uintptr_t)stack_top & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 72);
    /* The first frames of the stack's previous user never returned (a finished
     * task switches away, the program stack is left from program_stack_main):
     * under ASan their redzones are still poisoned where the new frames go. */
    fl_stack_unpoison((const char *)stack_top - FRESH_FRAMES_BYTES, stack_top);
    sp[0] = 0;                          /* r15 */
    sp[1] = 0;                          /* r14 */
    sp[2] = 0;                          /* r13 */
    sp[3] = (uint64_t)(uintptr_t)fn;    /* r12 */
    sp[4] = (uint64_t)(uintptr_t)arg;   /* rbx */
    sp[5] = 0;                          /* rbp: ends frame-pointer walks */
    sp[6] = (uint64_t)(uintptr_t)fl_ctx_trampoline;
    sp[7] = 0;                          /* a null return address above the trampoline */
    return sp;
}

/* ---- telling AddressSanitizer ----
 *
 * ASan keeps the bounds of the running stack: a longjmp clears the poison of
 * the frames it abandons between the landing point and that stack's top. Told
 * nothing, it takes the program stack for the thread's and skips the clearing
 * with a warning; the redzones left behind then fault the next frames built
 * there. Its fake stacks are off (ASAN_OPTIONS in rt_build), so there is no
 * fake stack to hand over. Other builds use the empty versions in fluentai.h. */
#if FL_ASAN
void fl_stack_switch(void **save_sp, void *new_sp, const char *new_lo, const char *new_top)
{
    void *fake_stack = NULL;
    __sanitizer_start_switch_fiber(&fake_stack, new_lo, (size_t)(new_top - new_lo));
    fl_ctx_switch(save_sp, new_sp);
    __sanitizer_finish_switch_fiber(fake_stack, NULL, NULL);
}

void fl_stack_entered(const char **from_lo, const char **from_top)
{
    const void *lo = NULL;
    size_t size = 0;
    __sanitizer_finish_switch_fiber(NULL, &lo, &size);
    if (from_lo)
        *from_lo = lo;
    if (from_top)
        *from_top = (const char *)lo + size;
}

void fl_stack_landed(const char *lo, const char *top)
{
    void *fake_stack = NULL;
    __sanitizer_start_switch_fiber(&fake_stack, lo, (size_t)(top - lo));
    __sanitizer_finish_switch_fiber(fake_stack, NULL, NULL);
}

/* ASan's unpoisoning writes zeros over the range's shadow, which makes the shadow
 * resident: an eighth of every fiber slab and program stack cleared, never given back
 * (10^4 tasks kept 10 GB). So the whole shadow pages in the middle are dropped instead:
 * the shadow is private anonymous memory, which reads back as zeros, i.e. unpoisoned;
 * only the ragged ends are cleared by ASan. */
void fl_stack_unpoison(const char *lo, const char *hi)
{
    if (lo >= hi)
        return;
    size_t scale, offset;
    __asan_get_shadow_mapping(&scale, &offset);
    uintptr_t span = (uintptr_t)4096 << scale;   /* memory behind one page of shadow */
    uintptr_t a = ((uintptr_t)lo + span - 1) & ~(span - 1);
    uintptr_t b = (uintptr_t)hi & ~(span - 1);
    if (a >= b) {
        ASAN_UNPOISON_MEMORY_REGION(lo, (size_t)(hi - lo));
        return;
    }
    ASAN_UNPOISON_MEMORY_REGION(lo, a - (uintptr_t)lo);
    if (madvise((void *)((a >> scale) + offset), (b - a) >> scale, MADV_DONTNEED) != 0)
        ASAN_UNPOISON_MEMORY_REGION((const char *)a, b - a);
    ASAN_UNPOISON_MEMORY_REGION((const char *)b, (uintptr_t)hi - b);
}
#endif

/* ---- fiber stacks ----
 *
 * Every task gets a stack of FL_FIBER_STACK_BYTES of address space, committed
 * lazily by the kernel (MAP_NORESERVE), with a guard region at its low end. A
 * PROT_NONE guard per stack would cost two VMAs per stack, and Linux allows
 * about 65,000 VMAs per process (vm.max_map_count): fewer than 32,000 live
 * tasks. So stacks are carved from big slabs, one VMA each, and the guards are
 * MADV_GUARD_INSTALL page-table markers (Linux 6.13+), which split nothing;
 * older kernels fall back to mprotect. Finished stacks go on a LIFO free list,
 * still warm, for the next task. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define STACKS_PER_SLAB 256

typedef struct stack_slab {
    char *base;
    int32_t carved;                      /* stacks[0..carved) have their guard installed */
    struct stack_slab *next;
    fl_stack stacks[STACKS_PER_SLAB];
} stack_slab;

static stack_slab *slabs;
static fl_stack *free_stacks;
static int guard_by_mprotect;            /* MADV_GUARD_INSTALL was refused once */

static int install_guard(char *lo)
{
    if (!guard_by_mprotect) {
        if (madvise(lo, FL_FIBER_GUARD_BYTES, MADV_GUARD_INSTALL) == 0)
            return 1;
        if (errno != EINVAL)
            return 0;
        guard_by_mprotect = 1;
    }
    return mprotect(lo, FL_FIBER_GUARD_BYTES, PROT_NONE) == 0;
}

/* Stacks start on a FL_FIBER_STACK_BYTES (2 MB) boundary, so a stack's guard
 * markers and its used top pages share one page-table page. */
static char *map_aligned(size_t bytes)
{
    size_t align = (size_t)FL_FIBER_STACK_BYTES;
    char *raw = mmap(NULL, bytes + align, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *base = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    if (base > raw)
        munmap(raw, (size_t)(base - raw));
    munmap(base + bytes, (size_t)(raw + align - base));
    return base;
}

static stack_slab *new_slab(void)
{
    stack_slab *slab = memset(fl_malloc_or_die(sizeof *slab), 0, sizeof *slab);
    size_t bytes = (size_t)STACKS_PER_SLAB * FL_FIBER_STACK_BYTES;
    slab->base = map_aligned(bytes);
    if (!slab->base) {
        free(slab);
        return NULL;
    }
    /* A transparent huge page would commit 2 MB for a task that touches 4 KB. */
    madvise(slab->base, bytes, MADV_NOHUGEPAGE);
    slab->next = slabs;
    slabs = slab;
    return slab;
}

static fl_stack *carve(stack_slab *slab)
{
    fl_stack *s = &slab->stacks[slab->carved];
    char *lo = slab->base + (size_t)slab->carved * FL_FIBER_STACK_BYTES;
    if (!install_guard(lo))
        return NULL;
    s->guard = lo;
    s->lo = lo + FL_FIBER_GUARD_BYTES;
    s->top = lo + FL_FIBER_STACK_BYTES;
    slab->carved++;
    return s;
}

fl_stack *fl_stack_acquire(void)
{
    if (free_stacks) {
        fl_stack *s = free_stacks;
        free_stacks = s->next_free;
        return s;
    }
    stack_slab *slab = slabs && slabs->carved < STACKS_PER_SLAB ? slabs : new_slab();
    return slab ? carve(slab) : NULL;
}

void fl_stack_release(fl_stack *s)
{
    s->next_free = free_stacks;
    free_stacks = s;
}

/* Called between runs, never from a fiber stack: every stack goes back to the
 * kernel, so one run's deep recursions or 10^5 tasks do not stay resident. */
void fl_stack_release_all(void)
{
    while (slabs) {
        stack_slab *slab = slabs;
        slabs = slab->next;
        /* Frames abandoned on them (a deadlock, an exit) must not fault a later mapping. */
        fl_stack_unpoison(slab->base, slab->base + (size_t)STACKS_PER_SLAB * FL_FIBER_STACK_BYTES);
        munmap(slab->base, (size_t)STACKS_PER_SLAB * FL_FIBER_STACK_BYTES);
        free(slab);
    }
    free_stacks = NULL;
}
