/* error.c -- raising errors, running programs protected, and error reports.
 *
 * fl_run runs a program on its own big stack (1 GiB reserved, a PROT_NONE
 * guard below it) and returns an fl_outcome instead of letting anything
 * escape: fl_raise builds the error value and siglongjmps to the innermost
 * catch frame (fl_run's own, or a `handler` form's once effects exist); a
 * SIGSEGV in the guard region, caught on a sigaltstack, becomes a
 * stack-overflow error. Python survives every case and gets its signal
 * handlers and Boehm's stack bottom back on return (PROTOTYPES.md section 8).
 *
 * Runtime code that allocates or recurses calls fl_check_stack, which raises
 * stack-overflow while 256 KB remain, so only generated code ever touches the
 * guard and no unwind leaves Boehm's allocation lock held.
 */
#define _GNU_SOURCE   /* REG_RSI in ucontext.h (overflow_location) */
#include <gc.h>
#include <signal.h>
#include <ucontext.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fluentai.h"

#define PROGRAM_STACK_BYTES (INT64_C(1) << 30)
#define GUARD_BYTES (INT64_C(1) << 20)
#define HEADROOM_BYTES (256 * 1024)
#define ALTSTACK_BYTES (256 * 1024)
#define MAX_RUN_DEPTH 64

fl_catch *fl_catch_top;
char *fl_stack_limit;

/* ---- catch frames ---- */

void fl_catch_push(fl_catch *c)
{
    c->prev = fl_catch_top;
    c->reason = FL_CATCH_NONE;
    c->is_resume = 0;
    c->error = FL_NIL;
    c->loc = 0;
    c->exit_code = 0;
    c->chain = NULL;
    fl_catch_top = c;
}

void fl_catch_pop(fl_catch *c)
{
    fl_catch_top = c->prev;
}

int32_t fl_resume_armed;

void fl_resume_push(fl_catch *c)
{
    c->is_run = 0;
    fl_catch_push(c);
    c->is_resume = 1;
}

fl_value fl_call_resumable(fl_code body, fl_value self, int64_t argc, fl_value a0, fl_value a1,
                           fl_value a2, fl_value *rest)
{
    FL_RESUME_GUARD(body(self, argc, a0, a1, a2, rest));
    return body(self, argc, a0, a1, a2, rest);
}

/* Errors and stack overflows go to the innermost frame that is not a resume point. */
static fl_catch *unwind_target(void)
{
    fl_catch *c = fl_catch_top;
    while (c && c->is_resume)
        c = c->prev;
    return c;
}

/* Under ASan: the redzones of the C frames a jump abandons, from `here` (NULL:
 * the bottom of the target's stack, after an overflow) up to the target's frame,
 * or to the top of a stack left for another. ASan's own clearing at a longjmp
 * stops at 64 MB and sees nothing from the signal stack. */
static void forget_abandoned_frames(const char *here, const fl_catch *target)
{
    if (!FL_ASAN)
        return;
    char *lo, *top;
    const char *t = (const char *)target;
    if (!here) {
        if (fl_stack_bounds(t, &lo, &top))
            fl_stack_unpoison(lo, t);
    } else if (fl_stack_bounds(here, &lo, &top)) {
        fl_stack_unpoison(here, t >= here && t < top ? t : top);
    }
}

static __attribute__((noreturn)) void jump_from(const char *here, fl_catch *target, int32_t reason,
                                                int64_t loc)
{
    forget_abandoned_frames(here, target);
    target->reason = reason;
    target->loc = loc;
    fl_catch_top = target;   /* frames inside it are abandoned */
    siglongjmp(target->jump, 1);
}

static __attribute__((noreturn, noinline)) void jump_to(fl_catch *target, int32_t reason, int64_t loc)
{
    jump_from(__builtin_frame_address(0), target, reason, loc);
}

fl_value fl_catch_error(fl_catch *c)
{
    if (c->reason == FL_CATCH_STACK_OVERFLOW) {
        /* Built only now, after the unwind, when there is room to allocate. */
        c->error = fl_make_error(fl_string_from_cstr("stack-overflow"),
                                 fl_string_from_cstr("stack overflow"), FL_NIL);
        c->reason = FL_CATCH_ERROR;
    } else if (c->reason == FL_CATCH_OUT_OF_MEMORY) {
        c->error = fl_make_error(fl_string_from_cstr("out-of-memory"), fl_out_of_memory_message(), FL_NIL);
        c->reason = FL_CATCH_ERROR;
    }
    return c->error;
}

/* ---- raising ---- */

static fl_value key_type, key_message, key_data;   /* in .bss: Boehm scans it */

static void make_error_keys(void)
{
    if (!key_type) {
        key_type = fl_string_from_cstr("type");
        key_message = fl_string_from_cstr("message");
        key_data = fl_string_from_cstr("data");
    }
}

fl_value fl_make_error(fl_value type, fl_value message, fl_value data)
{
    make_error_keys();
    fl_value m = fl_map_empty();
    m = fl_map_set(m, key_type, type);
    m = fl_map_set(m, key_message, message);
    return fl_map_set(m, key_data, data);
}

static __attribute__((noreturn)) void no_catch_frame(fl_value error)
{
    fflush(stdout);
    fputs("fluentai: an error was raised outside fl_run: ", stderr);
    if (FL_IS_KIND(error, FL_K_MAP)) {
        fl_value text = fl_show(error);
        fwrite(FL_STR(text)->bytes, 1, (size_t)FL_STR(text)->nbytes, stderr);
    }
    fputc('\n', stderr);
    abort();
}

void fl_raise_value(fl_value error, int64_t loc)
{
    fl_catch *target = unwind_target();
    if (!target)
        no_catch_frame(error);
    target->error = error;
    if (target->chain)      /* only where the error will be reported, not where it is handled */
        fl_chain_here(target->chain, target);
    jump_to(target, FL_CATCH_ERROR, loc);
}

/* A runtime fault: an error:catch handler's value resumes the innermost guarded
 * entry point, if the fault happened directly inside one; otherwise the error
 * unwinds like any other. */
void fl_fault(fl_value error, int64_t loc)
{
    if (fl_resume_armed && fl_catch_top && fl_catch_top->is_resume) {
        fl_catch *resume = fl_catch_top;
        fl_value answer = fl_catch_handler_value(error, loc);
        if (answer != FL_UNBOUND && fl_catch_top == resume) {
            resume->error = answer;
            jump_to(resume, FL_CATCH_RESUME, loc);
        }
    }
    fl_raise_value(error, loc);
    __builtin_unreachable();
}

fl_value fl_fault_answer(fl_value error, int64_t loc)
{
    if (fl_resume_armed) {
        fl_value answer = fl_catch_handler_value(error, loc);
        if (answer != FL_UNBOUND)
            return answer;
    }
    fl_raise_value(error, loc);
    return FL_NIL;
}

void fl_raise(const char *type, int64_t loc, const char *fmt, ...)
{
    char small[256];
    char *text = small;
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(small, sizeof small, fmt, args);
    va_end(args);
    if (n >= (int)sizeof small) {
        text = fl_alloc_atomic(n + 1);
        va_start(args, fmt);
        vsnprintf(text, (size_t)n + 1, fmt, args);
        va_end(args);
    }
    fl_value message = fl_make_string(text, n);
    fl_fault(fl_make_error(fl_string_from_cstr(type), message, FL_NIL), loc);
}

void fl_type_fail(const char *fname, const char *what, fl_value got, int64_t loc)
{
    fl_buf b;
    fl_buf_init(&b);
    fl_buf_puts(&b, "`");
    fl_buf_puts(&b, fname);
    fl_buf_puts(&b, "` expects ");
    fl_buf_puts(&b, what);
    fl_buf_puts(&b, ", got ");
    fl_buf_puts(&b, fl_type_phrase(got));
    if (got != FL_NIL) {
        fl_buf_puts(&b, ": ");
        fl_buf_write_value_capped(&b, got, 0, 80);
    }
    fl_value message = fl_buf_to_string(&b);
    fl_fault(fl_make_error(fl_string_from_cstr("type-error"), message, FL_NIL), loc);
}

void fl_arity_fail_named(const char *fname, int64_t argc, int32_t min, int32_t max)
{
    char expected[64];
    const char *plural = (max < 0 ? min : max) == 1 ? "" : "s";
    if (max < 0)
        snprintf(expected, sizeof expected, "at least %d argument%s", min, plural);
    else if (min == max)
        snprintf(expected, sizeof expected, "%d argument%s", min, plural);
    else
        snprintf(expected, sizeof expected, "%d to %d arguments", min, max);
    fl_raise("arity-error", FL_LOCOF(argc), "arity: `%s` expects %s, got %lld", fname, expected,
             (long long)FL_NARGS(argc));
}

void fl_arity_check(const char *fname, int64_t argc, int32_t min, int32_t max)
{
    int64_t n = FL_NARGS(argc);
    if (n < min || (max >= 0 && n > max))
        fl_arity_fail_named(fname, argc, min, max);
}

void fl_check_stack(int64_t loc)
{
    char *sp = __builtin_frame_address(0);
    if (__builtin_expect(sp < fl_stack_limit, 0) && unwind_target()) {
        fl_catch *target = unwind_target();
        if (target->chain) {
            fl_chain_here(target->chain, target);
            target->chain->overflowed = 1;
        }
        jump_to(target, FL_CATCH_STACK_OVERFLOW, loc);
    }
}

/* Past every handler and task frame to the innermost run: see limits.c. The
 * location is the innermost FluentAI frame's call, as for a stack overflow. */
void fl_unwind_out_of_memory(void)
{
    for (fl_catch *c = fl_catch_top; c; c = c->prev) {
        if (c->is_run) {
            int64_t loc = 0;
            if (c->chain) {
                fl_chain_here(c->chain, c);
                loc = fl_chain_innermost_loc(c->chain);
            }
            jump_to(c, FL_CATCH_OUT_OF_MEMORY, loc);
        }
    }
}

void fl_exit_program(int32_t code)
{
    fl_flush();
    for (fl_catch *c = fl_catch_top; c; c = c->prev) {
        if (c->is_run) {
            c->exit_code = code;
            jump_to(c, FL_CATCH_EXIT, 0);
        }
    }
    exit(code);
}

/* ---- the program stack and the overflow signal handler ---- */

static char *stack_guard;   /* [stack_guard, stack_lo) is PROT_NONE */
static char *stack_lo, *stack_top;
static char *altstack;
static struct sigaction saved_segv, saved_bus;
static stack_t saved_altstack;

static void reserve_program_stack(void)
{
    if (stack_guard)
        return;
    size_t total = (size_t)(PROGRAM_STACK_BYTES + GUARD_BYTES);
    char *base = mmap(NULL, total, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED || mprotect(base, (size_t)GUARD_BYTES, PROT_NONE) != 0) {
        perror("fluentai: cannot reserve the program stack");
        abort();
    }
    stack_guard = base;
    stack_lo = base + GUARD_BYTES;
    stack_top = base + total;
    altstack = mmap(NULL, ALTSTACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (altstack == MAP_FAILED) {
        perror("fluentai: cannot allocate the signal stack");
        abort();
    }
}

static void restore_fault_handlers(void)
{
    sigaction(SIGSEGV, &saved_segv, NULL);
    sigaction(SIGBUS, &saved_bus, NULL);
}

/* A fault in the guard is a stack overflow of generated code: unwind. Any
 * other fault is not ours: put the previous handlers back and return, so the
 * instruction faults again and whoever was there before (Python's
 * faulthandler, the default action) sees it. */
/* Where did the overflowing call come from? Generated code overflows while
 * pushing the frame of a call (the `call` itself or the callee's prologue),
 * when the argc register (rsi, second argument) still holds that call's
 * FL_ARGC: its upper half is the call site's location id. Anything that does
 * not look like a valid id of the current module reports no location. */
static int64_t overflow_location(void *context)
{
#if defined(__x86_64__) && defined(REG_RSI)
    const ucontext_t *uc = context;
    int64_t argc = (int64_t)uc->uc_mcontext.gregs[REG_RSI];
    int64_t loc = FL_LOCOF(argc);
    const fl_module_info *m = fl_module_current();
    if (m && loc > 0 && loc < m->nlocs)
        return loc;
#else
    (void)context;
#endif
    return 0;
}

/* The frames of the faulting code, from its registers. */
static void capture_faulting_chain(fl_chain *chain, void *context, const void *limit)
{
#if defined(__x86_64__) && defined(REG_RBP)
    const ucontext_t *uc = context;
    fl_chain_capture_fault(chain, (void *)uc->uc_mcontext.gregs[REG_RBP],
                           (uintptr_t)uc->uc_mcontext.gregs[REG_RIP],
                           (const uintptr_t *)uc->uc_mcontext.gregs[REG_RSP], limit);
#else
    (void)context;
    fl_chain_here(chain, limit);
#endif
}

static void on_fault(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    char *addr = info->si_addr;
    /* The program stack's guard, or the guard of the task running now
     * (sched.c): either way the innermost catch frame is on that stack. */
    int in_guard = (addr >= stack_guard && addr < stack_lo) || fl_task_guard_hit(addr);
    fl_catch *target = in_guard ? unwind_target() : NULL;
    if (target) {
        int64_t loc = overflow_location(context);
        if (target->chain) {
            capture_faulting_chain(target->chain, context, target);
            if (loc == 0)
                loc = fl_chain_innermost_loc(target->chain);
        }
        jump_from(NULL, target, FL_CATCH_STACK_OVERFLOW, loc);
    }
    restore_fault_handlers();
}

static void install_fault_handlers(void)
{
    stack_t ss = {.ss_sp = altstack, .ss_flags = 0, .ss_size = ALTSTACK_BYTES};
    sigaltstack(&ss, &saved_altstack);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &saved_segv);
    sigaction(SIGBUS, &sa, &saved_bus);
}

static void uninstall_fault_handlers(void)
{
    restore_fault_handlers();
    saved_altstack.ss_flags &= ~SS_ONSTACK;
    sigaltstack(&saved_altstack, NULL);
}

int fl_program_stack_bounds(const void *sp, char **lo, char **top)
{
    if (!stack_lo || (const char *)sp < stack_lo || (const char *)sp >= stack_top)
        return 0;
    *lo = stack_lo;
    *top = stack_top;
    return 1;
}

/* ---- running on the program stack ---- */

static void *outer_sp, *abandoned_sp;
static const char *outer_lo, *outer_top;   /* the thread's stack, for ASan (fl_stack_switch) */
static void *gc_thread;
static struct GC_stack_base outer_stack_base;
static fl_value (*program_entry)(void);
static fl_value program_result;   /* in .bss: rooted until the switch back */

/* Boehm scans [sp, stack bottom): while on the program stack the bottom must
 * be its top. Nothing may allocate between the change and the switch. */
static void use_program_stack_bottom(void)
{
    struct GC_stack_base top = {.mem_base = stack_top};
    GC_set_stackbottom(gc_thread, &top);
    fl_stack_limit = stack_lo + HEADROOM_BYTES;
}

static void use_outer_stack_bottom(void)
{
    fl_stack_limit = NULL;
    GC_set_stackbottom(gc_thread, &outer_stack_base);
}

static void program_stack_main(void *unused)
{
    (void)unused;
    fl_stack_entered(&outer_lo, &outer_top);
    program_result = program_entry();
    use_outer_stack_bottom();
    fl_stack_switch(&abandoned_sp, outer_sp, outer_lo, outer_top);
}

static fl_value run_on_program_stack(fl_value (*entry)(void))
{
    program_entry = entry;
    program_result = FL_NIL;
    gc_thread = GC_get_my_stackbottom(&outer_stack_base);
    void *sp = fl_ctx_prepare(stack_top, program_stack_main, NULL);
    use_program_stack_bottom();
    fl_stack_switch(&outer_sp, sp, stack_lo, stack_top);
    return program_result;
}

/* Give back the memory of a deep recursion; the top megabyte, used by every
 * run, stays mapped. Only when the page just below that megabyte is resident
 * did the run go deeper: one cheap mincore instead of a madvise per run. */
static void release_program_stack(void)
{
    size_t keep = 1u << 20, page = 4096;
    unsigned char resident = 0;
    if (mincore(stack_top - keep - page, page, &resident) == 0 && !(resident & 1))
        return;
    /* Under ASan the stack's shadow (an eighth of what the run touched, 128 MB after an
     * overflow) would stay resident for the life of the process and grow with every deep run
     * of the API; fl_stack_unpoison clears it by giving the shadow pages back. */
    fl_stack_unpoison(stack_lo, stack_top - keep);
    madvise(stack_lo, (size_t)(stack_top - stack_lo) - keep, MADV_DONTNEED);
}

/* ---- reports ---- */

/* The `line`-th line of the source (1-based), without its line break. */
static const char *find_line(const fl_module_info *m, int32_t line, int64_t *len)
{
    const char *p = m->source, *end = m->source + m->source_len;
    for (int32_t i = 1; i < line && p < end; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return NULL;
        p = nl + 1;
    }
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    *len = (nl ? nl : end) - p;
    if (*len > 0 && p[*len - 1] == '\r')
        (*len)--;
    return p;
}

static int is_code_point_start(char c)
{
    return ((unsigned char)c & 0xC0) != 0x80;
}

/* A long line is shown as EXCERPT_WIDTH code points around the column,
 * EXCERPT_CONTEXT of them before it; diagnostics.py (excerpt) does the same. */
enum { EXCERPT_WIDTH = 100, EXCERPT_CONTEXT = 40 };

/* The code point at text[i] and its length in bytes (the source is valid UTF-8). */
static uint32_t code_point_at(const char *text, int64_t len, int64_t i, int *nbytes)
{
    unsigned char c = (unsigned char)text[i];
    int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (i + n > len)
        n = (int)(len - i);
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (int k = 1; k < n; k++)
        cp = (cp << 6) | ((unsigned char)text[i + k] & 0x3F);
    *nbytes = n;
    return cp;
}

/* Characters a terminal would act on: C0 and C1 controls but tab, DEL, the line
 * and paragraph separators and the bidirectional controls. */
static int is_escaped_in_excerpt(uint32_t cp)
{
    return (cp < 0x20 && cp != '\t') || (cp >= 0x7F && cp <= 0x9F)
        || (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* The source line, then the caret line under the span: escaped characters
 * shown as \u{1b}, the caret padding copying tabs, a long line clipped around
 * the column with "..." at each cut, and at least one caret (past the end of
 * the line when the span starts there). A span over several lines runs to
 * the end of its first line. */
static void write_excerpt(fl_buf *b, const char *text, int64_t len, const fl_loc *loc)
{
    int64_t ncp = 0;
    for (int64_t i = 0; i < len; i++)
        ncp += is_code_point_start(text[i]);
    int64_t start = loc->col > 1 ? loc->col - 1 : 0;
    int64_t end = loc->end_line == loc->line ? loc->end_col - 1 : ncp;
    if (end > ncp)
        end = ncp;
    if (end < start + 1)
        end = start + 1;
    int64_t low = 0, high = ncp;
    if (ncp > EXCERPT_WIDTH) {
        low = start - EXCERPT_CONTEXT;
        if (low > ncp - EXCERPT_WIDTH)
            low = ncp - EXCERPT_WIDTH;
        if (low < 0)
            low = 0;
        high = low + EXCERPT_WIDTH;
    }
    fl_buf line, carets;
    fl_buf_init(&line);
    fl_buf_init(&carets);
    if (low > 0) {
        fl_buf_puts(&line, "...");
        fl_buf_puts(&carets, "   ");
    }
    int64_t index = 0, marked = 0;
    for (int64_t i = 0; i < len && index < high; index++) {
        int n;
        uint32_t cp = code_point_at(text, len, i, &n);
        if (index >= low) {
            char escaped[16];
            int width = 1;
            if (is_escaped_in_excerpt(cp)) {
                width = snprintf(escaped, sizeof escaped, "\\u{%x}", (unsigned)cp);
                fl_buf_put(&line, escaped, width);
            } else {
                fl_buf_put(&line, text + i, n);
            }
            if (index < start)
                for (int k = 0; k < width; k++)
                    fl_buf_put(&carets, cp == '\t' ? "\t" : " ", 1);
            else if (index < end)
                marked += width;
        }
        i += n;
    }
    if (high < ncp)
        fl_buf_puts(&line, "...");
    for (int64_t k = high; k < start; k++)
        fl_buf_put(&carets, " ", 1);
    if (marked < 1)
        marked = 1;
    for (int64_t k = 0; k < marked; k++)
        fl_buf_put(&carets, "^", 1);
    char number[32];
    snprintf(number, sizeof number, "%5d | ", loc->line);
    fl_buf_puts(b, number);
    fl_buf_put(b, line.data, line.len);
    fl_buf_puts(b, "\n      | ");
    fl_buf_put(b, carets.data, carets.len);
    fl_buf_puts(b, "\n");
}

static void write_display(fl_buf *b, fl_value v)
{
    fl_buf_write_value(b, v, 1);
}

static fl_value error_field(fl_value error, fl_value key)
{
    if (!FL_IS_KIND(error, FL_K_MAP))
        return key == key_message ? error : FL_NIL;
    return fl_map_get(error, key, FL_NIL);
}

/* A report travels as a NUL-terminated C string (fl_outcome.report, fputs in
 * executables, ffi.string in the JIT), so a NUL byte in the error's type or
 * message would cut it short there; it is shown as the escape `\0` instead. */
static fl_value report_to_string(fl_buf *b)
{
    if (!memchr(b->data, '\0', (size_t)b->len))
        return fl_buf_to_string(b);
    fl_buf escaped;
    fl_buf_init(&escaped);
    for (int64_t i = 0; i < b->len; i++) {
        if (b->data[i] == '\0')
            fl_buf_put(&escaped, "\\0", 2);
        else
            fl_buf_put(&escaped, &b->data[i], 1);
    }
    return fl_buf_to_string(&escaped);
}

/* file:line:col: error[TYPE]: message, the source line, carets, the data,
 * and the chain of calls. */
static fl_value build_report(fl_value error, int64_t loc_id, const fl_chain *chain)
{
    make_error_keys();
    const fl_module_info *m = fl_module_current();
    const fl_loc *loc = (m && loc_id > 0 && loc_id < m->nlocs) ? &m->locs[loc_id] : NULL;
    fl_value type = error_field(error, key_type);
    fl_buf b;
    fl_buf_init(&b);
    if (m && m->filename) {
        fl_buf_puts(&b, m->filename);
        if (loc) {
            char position[48];
            snprintf(position, sizeof position, ":%d:%d", loc->line, loc->col);
            fl_buf_puts(&b, position);
        }
        fl_buf_puts(&b, ": ");
    }
    fl_buf_puts(&b, "error[");
    write_display(&b, type == FL_NIL ? fl_string_from_cstr("error") : type);
    fl_buf_puts(&b, "]: ");
    write_display(&b, error_field(error, key_message));
    fl_buf_puts(&b, "\n");
    int64_t len;
    const char *text = loc && m->source ? find_line(m, loc->line, &len) : NULL;
    if (text)
        write_excerpt(&b, text, len, loc);
    fl_value data = error_field(error, key_data);
    if (data != FL_NIL) {
        fl_buf_puts(&b, "      = data: ");
        fl_buf_write_value(&b, data, 0);
        fl_buf_puts(&b, "\n");
    }
    fl_chain_write(&b, chain, loc_id);
    return report_to_string(&b);
}

/* A report must come out even if printing the error value fails. */
static fl_value build_report_safely(fl_value error, int64_t loc, const fl_chain *chain)
{
    fl_catch guard;
    guard.is_run = 0;
    fl_catch_push(&guard);
    fl_value report;
    if (sigsetjmp(guard.jump, 1) == 0)
        report = build_report(error, loc, chain);
    else
        report = fl_string_from_cstr("error[error]: (the error value could not be printed)\n");
    fl_catch_pop(&guard);
    return report;
}

/* For the scheduler's reports of failed tasks. */
fl_value fl_error_report(fl_value error, int64_t loc, const fl_chain *chain)
{
    return build_report_safely(error, loc, chain);
}

/* ---- fl_run ---- */

/* Per nesting depth: the values an outcome hands to the caller, rooted here
 * until the next run at that depth, and fl_run_call's callee and arguments. */
static struct run_roots {
    fl_value value, error, report;
    fl_value call_fn;
    fl_value *call_args;
    int64_t call_n;
} roots[MAX_RUN_DEPTH];
static int run_depth;

static void fill_outcome(fl_catch *frame, int depth, fl_outcome *out)
{
    struct run_roots *r = &roots[depth];
    switch (frame->reason) {
    case FL_CATCH_NONE:
        out->status = FL_OK;
        out->value = r->value;
        return;
    case FL_CATCH_EXIT:
        out->status = FL_EXIT;
        out->exit_code = frame->exit_code;
        return;
    default:
        r->error = fl_catch_error(frame);
        out->status = fl_is_interrupt(r->error) ? FL_INTERRUPTED : FL_ERROR;
        out->error = r->error;
        out->loc = frame->loc;
        r->report = build_report_safely(r->error, frame->loc, frame->chain);
        out->report = FL_STR(r->report)->bytes;
        return;
    }
}

static void run_too_deep(fl_outcome *out)
{
    static const char report[] = "error[stack-overflow]: stack overflow (too many nested runs)\n";
    out->status = FL_ERROR;
    out->error = FL_NIL;
    out->report = report;
}

/* The outermost run moves onto the program stack; a nested one (a Python
 * callback calling back into FluentAI) is already there and stays. */
void fl_run(fl_value (*entry)(void), fl_outcome *out)
{
    fl_init();
    memset(out, 0, sizeof *out);
    if (run_depth >= MAX_RUN_DEPTH) {
        run_too_deep(out);
        return;
    }
    int depth = run_depth++;
    int outermost = depth == 0;
    roots[depth].value = roots[depth].error = roots[depth].report = FL_NIL;
    fl_catch frame;
    fl_chain chain;
    frame.is_run = 1;
    fl_catch_push(&frame);
    chain.nfirst = 0;
    frame.chain = &chain;
    if (outermost) {
        reserve_program_stack();
        install_fault_handlers();
        fl_interrupt_install();
        fl_limits_enter_run();
    }
    fl_sched_enter_run(depth, &frame, stack_top);   /* the program becomes the main task */
    if (sigsetjmp(frame.jump, 1) == 0)
        roots[depth].value = outermost ? run_on_program_stack(entry) : entry();
    else if (outermost)   /* jumped here from the program stack or a task's */
        fl_stack_landed(outer_lo, outer_top);
    if (outermost) {
        use_outer_stack_bottom();
        fl_interrupt_uninstall();
        uninstall_fault_handlers();
    }
    fl_catch_pop(&frame);
    fl_flush();
    fill_outcome((fl_catch *)(volatile fl_catch *)&frame, depth, out);
    fl_sched_leave_run(depth, out);   /* deadlock, failed tasks; frees every task */
    if (outermost)
        release_program_stack();
    roots[depth].call_fn = FL_NIL;
    roots[depth].call_args = NULL;
    run_depth = depth;
}

static fl_value call_entry(void)
{
    struct run_roots *r = &roots[run_depth - 1];
    return fl_call(r->call_fn, FL_ARGC(r->call_n, 0), r->call_n, r->call_args);
}

void fl_run_call(fl_value fn, int64_t n, fl_value *args, fl_outcome *out)
{
    fl_init();
    if (run_depth >= MAX_RUN_DEPTH) {
        memset(out, 0, sizeof *out);
        run_too_deep(out);
        return;
    }
    /* Copied into GC memory: `args` may be memory Boehm does not scan. */
    struct run_roots *r = &roots[run_depth];
    r->call_fn = fn;
    r->call_n = n;
    r->call_args = fl_rest_array(n);
    for (int64_t i = 0; i < n; i++)
        r->call_args[i] = args[i];
    fl_run(call_entry, out);
}
