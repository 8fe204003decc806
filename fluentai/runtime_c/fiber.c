/* fiber.c -- the hand-written x86-64 context switch (PROTOTYPES.md section 6).
 *
 * fl_run uses it to move onto the big program stack; the green-thread
 * scheduler will use the same switch between fiber stacks. It saves only the
 * callee-saved registers: everything else is dead across a call by the ABI.
 * Top-level asm (not a .S file) because cffi's build only compiles .c files.
 */
#include "fluentai.h"

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

void *fl_ctx_prepare(void *stack_top, void (*fn)(void *), void *arg)
{
    /* Seven slots are popped (r15 r14 r13 r12 rbx rbp, then the return
     * address); the trampoline then runs with rsp = top - 16, aligned. A
     * misaligned start crashed only once the GC ran (PROTOTYPES.md). */
    uintptr_t top = (uintptr_t)stack_top & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 72);
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
