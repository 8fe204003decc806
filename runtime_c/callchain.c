/* callchain.c -- the chain of calls of a runtime error, recovered from the
 * machine stack when the error is reported.
 *
 * Nothing runs on the fast path. Generated code (backend/codegen.py) keeps
 * frame pointers and follows every call that returns with a stack map whose
 * id names the call site; LLVM writes each call's return address into the
 * module's .llvm_stackmaps section (LLVM stack map format v3). At
 * registration this file turns the section into a table of return addresses
 * sorted for binary search. A reported error walks the frame-pointer chain
 * (rbp -> saved rbp, return address beside it) and looks every return
 * address up; frames of the runtime and of foreign code have no site and are
 * skipped. Capture is async-signal-safe (a stack overflow is captured in the
 * SIGSEGV handler) and bounded in memory: runs of frames at the same call
 * site are counted, not stored, and only the innermost FL_CHAIN_FIRST and the
 * outermost FL_CHAIN_LAST runs are kept.
 *
 * A loop made by ir/passes/trmc.py from a recursion modulo cons is one
 * machine frame standing for the frames of the conses still pending: the
 * function counts them in a slot of its frame and passes the slot's address
 * (a Direct location, [rbp or rsp + offset]) and the site of those frames (a
 * constant) to every stack map, so the walk adds them after the frame's own.
 */
#include <gc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fluentai.h"

/* How far past a call's return address its stack-map label may sit: at -O0
 * the call's result is moved to its home before the label. */
#define LABEL_SLACK 64

struct fl_chain_site {
    uintptr_t label;           /* the stack map's address: at or just after the return address */
    uintptr_t function_start;
    int32_t line, col;
    int32_t loc;               /* location id in its module */
    const char *function;      /* "`f`", "the lambda at 3:9", "the top level" */
    const struct registration *module;
    /* Inlined code (ir/passes/inline.py): the call that the inlined function's
     * frame would have returned to; one machine frame then stands for several. */
    const struct fl_chain_site *outer;
    /* A loop of ir/passes/trmc.py: the count of the frames it stands for is
     * at depth_offset from the caller's rbp (DWARF register 6) or its stack
     * pointer at the call (7); they are frames at `repeats`. 0: none. */
    int16_t depth_register;
    int32_t depth_offset;
    const struct fl_chain_site *repeats;
};

struct registration {
    struct registration *next;
    const fl_module_info *info;   /* the program's own copy: compared, never read after unload */
    const void *stackmaps;
    uintptr_t lo, hi;              /* [lo, hi]: the code addresses the sites cover */
    char *filename;
    char **function_names;
    int64_t nfunctions;
    fl_chain_site *sites;          /* sorted by label */
    int64_t nsites;
    fl_chain_site *by_id;          /* every fl_sites[] entry, for the outer frames of inlined code */
};

static struct registration *registrations;    /* newest first */
static struct registration *current;          /* the current module's, if its stack map was read */
static const fl_chain_site *last_hit;

static char *copy_string(const char *s)
{
    return fl_copy_bytes(s, strlen(s) + 1);
}

static void free_registration(struct registration *r)
{
    for (int64_t i = 0; i < r->nfunctions; i++)
        free(r->function_names[i]);
    free(r->function_names);
    free(r->filename);
    free(r->sites);
    free(r->by_id);
    free(r);
}

/* ---- reading the stack map section ---- */

static uint64_t read_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t read_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint16_t read_u16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static int by_label(const void *a, const void *b)
{
    uintptr_t x = ((const fl_chain_site *)a)->label, y = ((const fl_chain_site *)b)->label;
    return x < y ? -1 : x > y;
}

/* One site of fl_sites[] as the chain printer keeps it. */
static void fill_site(fl_chain_site *site, const struct registration *r, const fl_module_info *info,
                      const fl_site_info *s)
{
    site->line = s->line;
    site->col = s->col;
    site->loc = s->loc;
    site->function = s->function >= 0 && s->function < r->nfunctions
                         ? r->function_names[s->function] : "a function";
    site->module = r;
    site->outer = s->outer >= 0 && s->outer < info->nsites ? &r->by_id[s->outer] : NULL;
    site->depth_register = 0;
    site->depth_offset = 0;
    site->repeats = NULL;
}

/* The locations a trmc loop's stack maps carry (see the top of the file):
 * {u8 type, u8, u16 size, u16 DWARF register, u16, i32 offset or constant}
 * each; type 2 is Direct (register + offset), 4 a Constant. */
static void read_trmc_locations(fl_chain_site *site, const struct registration *r,
                                const fl_module_info *info, const unsigned char *loc,
                                uint16_t nlocations)
{
    if (nlocations != 2 || loc[0] != 2 || loc[12] != 4)
        return;
    uint16_t reg = read_u16(loc + 4);
    int32_t offset = (int32_t)read_u32(loc + 8), repeats = (int32_t)read_u32(loc + 20);
    if ((reg != 6 && reg != 7) || repeats < 0 || repeats >= info->nsites)
        return;
    site->depth_register = (int16_t)reg;
    site->depth_offset = offset;
    site->repeats = &r->by_id[repeats];
}

/* Header {u8 version = 3, u8, u16}, u32 functions, u32 constants, u32 records;
 * functions {u64 address, u64 stack size, u64 record count}; constants u64;
 * records {u64 id, u32 offset, u16 flags, u16 locations, locations of 12 bytes,
 * pad to 8, u16 pad, u16 live-outs, live-outs of 4 bytes, pad to 8}. Returns
 * the number of sites written, or -1 for a section this reader does not know. */
static int64_t read_stackmaps(struct registration *r, const fl_module_info *info)
{
    const unsigned char *p = info->stackmaps;
    if (!p || p[0] != 3)
        return -1;
    uint32_t nfuncs = read_u32(p + 4), nconsts = read_u32(p + 8), nrecords = read_u32(p + 12);
    const unsigned char *funcs = p + 16;
    const unsigned char *rec = funcs + 24 * (size_t)nfuncs + 8 * (size_t)nconsts;
    r->sites = fl_malloc_or_die(sizeof(fl_chain_site) * (nrecords ? nrecords : 1));
    int64_t n = 0;
    for (uint32_t f = 0; f < nfuncs; f++) {
        uintptr_t start = (uintptr_t)read_u64(funcs + 24 * (size_t)f);
        uint64_t count = read_u64(funcs + 24 * (size_t)f + 16);
        for (uint64_t k = 0; k < count; k++) {
            uint64_t id = read_u64(rec);
            uint32_t offset = read_u32(rec + 8);
            uint16_t nlocations = read_u16(rec + 14);
            const unsigned char *locations = rec + 16;
            size_t size = 16 + 12 * (size_t)nlocations;
            size = (size + 7) & ~(size_t)7;
            uint16_t nliveouts = read_u16(rec + size + 2);
            size += 4 + 4 * (size_t)nliveouts;
            size = (size + 7) & ~(size_t)7;
            rec += size;
            if (id >= (uint64_t)info->nsites || n >= (int64_t)nrecords)
                continue;
            const fl_site_info *s = &info->sites[id];
            fl_chain_site *site = &r->sites[n++];
            fill_site(site, r, info, s);
            read_trmc_locations(site, r, info, locations, nlocations);
            site->label = start + offset;
            site->function_start = start;
        }
    }
    qsort(r->sites, (size_t)n, sizeof *r->sites, by_label);
    return n;
}

/* A program's code may be freed (a JIT) and its addresses reused by the next
 * one: a registration whose range meets the new one's is stale. */
static void drop_overlapping(const struct registration *fresh)
{
    for (struct registration **link = &registrations; *link;) {
        struct registration *r = *link;
        if (r->stackmaps == fresh->stackmaps || (r->lo <= fresh->hi && fresh->lo <= r->hi)) {
            *link = r->next;
            free_registration(r);
        } else {
            link = &r->next;
        }
    }
}

void fl_callchain_register(const fl_module_info *info)
{
    last_hit = NULL;
    current = NULL;
    struct registration *r = fl_malloc_or_die(sizeof *r);
    memset(r, 0, sizeof *r);
    r->info = info;
    r->stackmaps = info->stackmaps;
    r->filename = copy_string(info->filename ? info->filename : "?");
    r->nfunctions = info->nfunctions;
    r->function_names = fl_malloc_or_die(sizeof(char *) * (size_t)(info->nfunctions ? info->nfunctions : 1));
    for (int64_t i = 0; i < info->nfunctions; i++)
        r->function_names[i] = copy_string(info->function_names[i]);
    r->by_id = fl_malloc_or_die(sizeof(fl_chain_site) * (size_t)(info->nsites ? info->nsites : 1));
    for (int64_t i = 0; i < info->nsites; i++) {
        memset(&r->by_id[i], 0, sizeof r->by_id[i]);
        fill_site(&r->by_id[i], r, info, &info->sites[i]);
    }
    r->nsites = read_stackmaps(r, info);
    if (r->nsites <= 0) {
        free_registration(r);
        return;
    }
    r->lo = r->sites[0].function_start;
    r->hi = r->sites[r->nsites - 1].label;
    for (int64_t i = 0; i < r->nsites; i++)
        if (r->sites[i].function_start < r->lo)
            r->lo = r->sites[i].function_start;
    drop_overlapping(r);
    r->next = registrations;
    registrations = r;
    current = r;
}

/* ---- looking return addresses up ---- */

/* The site of the call that returns to `ret`: the first label at or after it,
 * in the same function, within LABEL_SLACK bytes. */
static const fl_chain_site *site_in(const struct registration *r, uintptr_t ret)
{
    if (ret < r->lo || ret > r->hi)
        return NULL;
    int64_t lo = 0, hi = r->nsites;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (r->sites[mid].label < ret)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == r->nsites)
        return NULL;
    const fl_chain_site *s = &r->sites[lo];
    if (s->label - ret > LABEL_SLACK || s->function_start > ret)
        return NULL;
    return s;
}

static const fl_chain_site *lookup(uintptr_t ret)
{
    if (last_hit) {
        const fl_chain_site *s = site_in(last_hit->module, ret);
        if (s)
            return last_hit = s;
    }
    for (const struct registration *r = registrations; r; r = r->next) {
        const fl_chain_site *s = site_in(r, ret);
        if (s)
            return last_hit = s;
    }
    return NULL;
}

/* ---- capture ---- */

static void add_frames(fl_chain *c, const fl_chain_site *site, int64_t n);

/* Frames at one call site as printed: the entry of the site itself, or of a
 * copy of it (inlined code, a call LLVM duplicated, or the same call in a
 * specialised clone, whose name is the same text at another address). */
static int same_site(const fl_chain_site *a, const fl_chain_site *b)
{
    return a == b || (a->line == b->line && a->col == b->col && a->module == b->module
                      && (a->function == b->function || strcmp(a->function, b->function) == 0));
}

/* One machine frame, and the frames of the functions inlined into it at that
 * site (innermost first); bounded by the inlining depth the IR allows. */
static void add_frame(fl_chain *c, const fl_chain_site *site)
{
    for (int depth = 0; site && depth < 64; site = site->outer, depth++)
        add_frames(c, site, 1);
}

/* n frames at one site: one run, or the end of the run before. */
static void add_frames(fl_chain *c, const fl_chain_site *site, int64_t n)
{
    if (site->line == 0 || n <= 0)    /* not a call of the program's own (a prologue's arity check) */
        return;
    if (c->nlast > 0) {
        fl_chain_run *run = &c->last[(c->last_start + c->nlast - 1) % FL_CHAIN_LAST];
        if (same_site(run->site, site)) {
            run->count += n;
            return;
        }
        if (c->nlast == FL_CHAIN_LAST) {    /* the oldest run of the ring drops out */
            c->omitted_frames += c->last[c->last_start].count;
            c->last_start = (c->last_start + 1) % FL_CHAIN_LAST;
            c->nlast--;
        }
        c->last[(c->last_start + c->nlast++) % FL_CHAIN_LAST] = (fl_chain_run){site, n};
        return;
    }
    if (c->nfirst > 0 && same_site(c->first[c->nfirst - 1].site, site)) {
        c->first[c->nfirst - 1].count += n;
        return;
    }
    if (c->nfirst < FL_CHAIN_FIRST) {
        c->first[c->nfirst++] = (fl_chain_run){site, n};
        return;
    }
    c->last_start = 0;
    c->last[c->nlast++] = (fl_chain_run){site, n};
}

/* The machine frame that called at `site`, with its frame pointer `rbp` and
 * its stack pointer `sp` at the call; for a trmc loop, then the frames it
 * stands for. The count is read only from inside the stack being walked. */
static void add_machine_frame(fl_chain *c, const fl_chain_site *site, uintptr_t rbp,
                              uintptr_t sp, const char *lo, const char *top)
{
    add_frame(c, site);
    if (!site->depth_register || site->line == 0)
        return;
    uintptr_t at = (site->depth_register == 6 ? rbp : sp) + (uintptr_t)(intptr_t)site->depth_offset;
    if (at < (uintptr_t)lo || at > (uintptr_t)top - sizeof(int64_t) || (at & 7) != 0)
        return;
    int64_t n;
    memcpy(&n, (const void *)at, sizeof n);
    add_frames(c, site->repeats, n);
}

static int is_function_entry(uintptr_t pc)
{
    for (const struct registration *r = registrations; r; r = r->next) {
        if (pc < r->lo || pc > r->hi)
            continue;
        for (int64_t i = 0; i < r->nsites; i++)
            if (r->sites[i].function_start == pc)
                return 1;
    }
    return 0;
}

static void walk(fl_chain *c, void *fp, uintptr_t first_ret, uintptr_t first_sp, const void *limit)
{
    memset(c, 0, sizeof *c);
    char *lo, *top;
    if (!fl_stack_bounds(fp, &lo, &top))
        return;
    if ((const char *)limit > lo && (const char *)limit < top)
        top = (char *)limit;
    if (first_ret) {
        const fl_chain_site *s = lookup(first_ret);
        if (s)
            add_machine_frame(c, s, (uintptr_t)fp, first_sp, lo, top);
    }
    /* Each frame record is {saved frame pointer, return address}; the saved
     * pointers strictly increase toward the stack's top. A foreign frame
     * without a frame pointer ends the walk at worst early, never outside
     * the stack. */
    uintptr_t *frame = fp;
    while ((char *)frame >= lo && (char *)(frame + 2) <= top && ((uintptr_t)frame & 7) == 0) {
        uintptr_t ret = frame[1];
        const fl_chain_site *s = lookup(ret);
        if (s)   /* the caller's frame pointer was saved here; its sp was just above */
            add_machine_frame(c, s, frame[0], (uintptr_t)(frame + 2), lo, top);
        uintptr_t *next = (uintptr_t *)frame[0];
        if (next <= frame)
            break;
        frame = next;
    }
}

void fl_chain_capture(fl_chain *c, void *fp, const void *limit)
{
    walk(c, fp, 0, 0, limit);
}

/* Code that overflows faults at a call (its frame is the one rbp names) or at
 * the first push of the callee's prologue: then rbp is still the caller's and
 * the return address into the caller is at the stack pointer, which is
 * mapped, since the call could write it. Later in the prologue rbp already
 * names the callee's frame. */
void fl_chain_capture_fault(fl_chain *c, void *fp, uintptr_t pc, const uintptr_t *sp,
                            const void *limit)
{
    /* The call pushed the return address at sp: the caller's sp is above it. */
    walk(c, fp, is_function_entry(pc) ? *sp : 0, (uintptr_t)(sp + 1), limit);
    c->overflowed = 1;
}

__attribute__((noinline)) void fl_chain_here(fl_chain *c, const void *limit)
{
    fl_chain_capture(c, __builtin_frame_address(0), limit);
}

fl_chain *fl_chain_copy(const fl_chain *c)
{
    if (!c)
        return NULL;
    /* Atomic: the site pointers point into malloc'd tables, not the GC heap. */
    fl_chain *copy = fl_alloc_atomic(sizeof *copy);
    memcpy(copy, c, sizeof *copy);
    return copy;
}

int64_t fl_chain_innermost_loc(const fl_chain *c)
{
    if (!c || c->nfirst == 0)
        return 0;
    const fl_chain_site *s = c->first[0].site;
    return s->module == current ? s->loc : 0;
}

int fl_stack_bounds(const void *sp, char **lo, char **top)
{
    return fl_task_stack_bounds(sp, lo, top) || fl_program_stack_bounds(sp, lo, top);
}

/* ---- writing ---- */

static void write_count(fl_buf *b, int64_t n)
{
    /* 9,995: grouped like the reference's example */
    char digits[32], out[48];
    int len = snprintf(digits, sizeof digits, "%lld", (long long)n);
    int o = 0;
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    fl_buf_puts(b, out);
}

static void write_site(fl_buf *b, const fl_chain_site *s)
{
    fl_buf_puts(b, "    ");
    fl_buf_puts(b, s->module->filename);
    if (s->line > 0) {
        char position[48];
        snprintf(position, sizeof position, ":%d:%d", s->line, s->col);
        fl_buf_puts(b, position);
    }
    fl_buf_puts(b, " in ");
    fl_buf_puts(b, s->function);
    fl_buf_puts(b, "\n");
}

/* "9,995 more frames"; in a stack overflow's chain, where the depth depends
 * on frame sizes and so on the optimisation level, "at least 10,000,000". */
static void write_frames(fl_buf *b, const fl_chain *c, int64_t n)
{
    if (c->overflowed && n >= 10) {
        int64_t bound = 10;
        while (bound <= n / 10)
            bound *= 10;
        fl_buf_puts(b, "at least ");
        write_count(b, bound);
        fl_buf_puts(b, " more frames");
        return;
    }
    write_count(b, n);
    fl_buf_puts(b, n == 1 ? " more frame" : " more frames");
}

static void write_run(fl_buf *b, const fl_chain *c, const fl_chain_run *run)
{
    write_site(b, run->site);
    if (run->count > 1) {
        fl_buf_puts(b, "    ... ");
        write_frames(b, c, run->count - 1);
        fl_buf_puts(b, " of ");
        fl_buf_puts(b, run->site->function);
        fl_buf_puts(b, "\n");
    }
}

void fl_chain_write(fl_buf *b, const fl_chain *c, int64_t loc_id)
{
    if (!c || c->nfirst == 0)
        return;
    if (c->nfirst == 1 && c->nlast == 0 && c->first[0].count == 1) {
        /* A single frame: the report's own line already says where. */
        const fl_chain_site *s = c->first[0].site;
        const fl_module_info *m = fl_module_current();
        if (s->module == current && m && loc_id > 0 && loc_id < m->nlocs &&
            m->locs[loc_id].line == s->line && m->locs[loc_id].col == s->col)
            return;
    }
    fl_buf_puts(b, "  call chain, innermost first:\n");
    for (int32_t i = 0; i < c->nfirst; i++)
        write_run(b, c, &c->first[i]);
    if (c->omitted_frames > 0) {
        fl_buf_puts(b, "    ... ");
        write_frames(b, c, c->omitted_frames);
        fl_buf_puts(b, "\n");
    }
    for (int32_t i = 0; i < c->nlast; i++)
        write_run(b, c, &c->last[(c->last_start + i) % FL_CHAIN_LAST]);
}
