/* module.c -- what generated code needs to set itself up: module registration
 * (for error reports), global and constant slots, and heap allocation.
 *
 * Globals and constants live in GC_MALLOC_UNCOLLECTABLE memory: Boehm does not
 * scan MCJIT's data sections, so a root kept only in an LLVM @global would be
 * collected (DESIGN.md "Memory").
 */
#include <gc.h>
#include <gc/gc_inline.h>
#include <gc/gc_mark.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fluentai.h"

static const fl_module_info *current_module;
int fl_gc_stress_on;
static int64_t stress_allocations;

/* The module info lives in the program's code, which a JIT may free while
 * the runtime still reports errors for the module (a function of it called
 * later from Python): keep a private copy, made afresh at every registration
 * (a new program's info may sit at a freed one's address). */
static fl_module_info module_copy;

void *fl_malloc_or_die(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        fl_out_of_memory((int64_t)n, 1);
    return p;
}

void *fl_realloc_or_die(void *old, size_t n)
{
    void *p = realloc(old, n ? n : 1);
    if (!p)
        fl_out_of_memory((int64_t)n, 1);
    return p;
}

void *fl_copy_bytes(const void *src, size_t n)
{
    return memcpy(fl_malloc_or_die(n), src, n);
}

void fl_module_register(const fl_module_info *info)
{
    free((void *)module_copy.filename);
    free((void *)module_copy.source);
    free((void *)module_copy.locs);
    module_copy.filename = fl_copy_bytes(info->filename, strlen(info->filename) + 1);
    module_copy.source = fl_copy_bytes(info->source, (size_t)info->source_len + 1);
    module_copy.source_len = info->source_len;
    module_copy.locs = fl_copy_bytes(info->locs, (size_t)info->nlocs * sizeof(fl_loc));
    module_copy.nlocs = info->nlocs;
    current_module = &module_copy;
    fl_callchain_register(info);
}

const fl_module_info *fl_module_current(void)
{
    return current_module;
}

/* The global table of a REPL session: every input is its own module, and
 * each finds the session's definitions at the same slots. It never moves
 * (earlier inputs keep its address), so its size is fixed. */
#define SESSION_SLOTS 65536
static fl_value *session_table;

fl_value *fl_session_globals(int64_t n)
{
    if (n > SESSION_SLOTS)
        fl_raise("value-error", 0, "too many top-level definitions in one session (at most %d)",
                 SESSION_SLOTS);
    if (!session_table)
        session_table = fl_globals_new(SESSION_SLOTS);
    return session_table;
}

static fl_value *new_slots(int64_t n, fl_value fill)
{
    if (n < 1)
        n = 1;
    fl_value *slots = GC_MALLOC_UNCOLLECTABLE((size_t)n * sizeof(fl_value));
    if (!slots)
        fl_out_of_memory(n * (int64_t)sizeof(fl_value), 0);
    for (int64_t i = 0; i < n; i++)
        slots[i] = fill;
    return slots;
}

fl_value *fl_globals_new(int64_t n)
{
    return new_slots(n, FL_UNBOUND);
}

fl_value *fl_constants_new(int64_t n)
{
    return new_slots(n, FL_NIL);
}

static __attribute__((noreturn)) void out_of_memory(int64_t nbytes)
{
    fl_out_of_memory(nbytes, 0);
}

/* In stress mode a full collection every few thousand allocations, on top of
 * the small free-space divisor set by fl_set_gc_stress: objects reachable only
 * from registers, fiber stacks or odd roots get freed early and tests notice. */
static void stress_tick(void)
{
    /* Every 4096 allocations on a small heap; on a big one the interval grows
     * with it, or a 10^6-element list would take hundreds of full collections
     * of the whole list: still dozens of collections at arbitrary points. */
    if (++stress_allocations >= 4096 + (int64_t)(GC_get_heap_size() / 256)) {
        stress_allocations = 0;
        GC_gcollect();
    }
}

/* Small objects (pairs, closures, cells, floats' neighbours) come from
 * per-size free lists refilled by GC_malloc_many, which hands out a whole
 * batch of cleared objects linked through their first word: the common
 * allocation is a pop, with no call into Boehm and no lock. The list heads
 * live in this file's static data, which Boehm scans, so objects waiting in
 * a list are never collected. Generated code pops from the same lists inline
 * (backend/codegen.py inline_alloc) and calls fl_alloc when one is empty;
 * in GC-stress mode they stay empty so every allocation reaches fl_alloc.
 *
 * List `g` holds objects of exactly g granules (16 g bytes). Boehm's
 * GC_malloc adds one byte to every request while it recognises interior
 * pointers, so that a pointer just past an object still counts as pointing
 * into it; GC_malloc_many(16 g) therefore made 16 (g + 1)-byte objects, a
 * third of every pair wasted. Refills go through GC_generic_malloc_many,
 * which takes the object size as it is. Every object must still leave its
 * last word unused: Boehm counts on that spare byte and never scans the
 * last word of an object, so a pointer kept there does not keep its target
 * alive. A request of n bytes (fl_alloc, and generated code, which asks for
 * 16 g - 1 bytes to land in class g) therefore takes the class n / 16 + 1:
 * a 24-byte pair 32 bytes, a 48-byte closure 64. */
void *fl_small_free[FL_SMALL_GRANULES + 1];

/* A Ctrl-C is also noticed where the runtime allocates outside the common pop:
 * a long builtin (`range`, `sort`, `map` over a huge list) runs no poll of generated
 * code. Every allocation may already raise (a stack overflow at fl_check_stack), so
 * the runtime's code is safe to leave here; a handler's answer just lets the
 * allocation go on. */
static inline void poll_interrupt(void)
{
    if (__builtin_expect(fl_interrupt_pending, 0))
        fl_interrupt_poll_slow(0);
}

/* Boehm frees a block of small objects back to its block pool as soon as a
 * collection finds it empty, where it coalesces with its free neighbours;
 * the next refill of that size then splits a block off again, searching the
 * pool's free lists one size after another (GC_allochblk tries about 58 lists
 * for one 4 KiB block once the free space has coalesced) and threads the new
 * block's free list. In a program whose objects die young that was most of
 * the allocator's cost (bench/closures_escape: 4,900 instructions per refill).
 * A block with one marked object is not empty: the collection puts it on
 * Boehm's reclaim list for its size, and GC_generic_malloc_many sweeps it
 * straight into a new batch. So the first batch taken from each block gives
 * up one object to this table, which Boehm scans as static data, and the
 * block keeps its size class for the life of the process. The table is
 * bounded (BLOCK_PINS / 2 blocks, 128 MiB of 4 KiB blocks); past that, blocks
 * go back to the pool as before, so a program whose mix of sizes changes does
 * not keep an unbounded heap in the wrong class. The pinned object's link is
 * cleared: it would keep the next object of the batch, and whatever that
 * object comes to point to, alive. */
#define BLOCK_PINS 65536                /* a power of two */
#define PIN_PAGE ((uintptr_t)4095)      /* Boehm's HBLKSIZE on this target */
static void *block_pins[BLOCK_PINS];
static int64_t block_pins_used;

static void *pin_block_of(void *batch)
{
    uintptr_t page = (uintptr_t)batch & ~PIN_PAGE;
    if (block_pins_used >= BLOCK_PINS / 2 || GC_NEXT(batch) == NULL)
        return batch;
    size_t i = (size_t)((page >> 12) * 0x9E3779B97F4A7C15ull >> 48) & (BLOCK_PINS - 1);
    for (;; i = (i + 1) & (BLOCK_PINS - 1)) {
        void *pin = block_pins[i];
        if (pin == NULL)
            break;
        if (((uintptr_t)pin & ~PIN_PAGE) == page)
            return batch;
    }
    void *rest = GC_NEXT(batch);
    GC_NEXT(batch) = NULL;
    block_pins[i] = batch;
    block_pins_used++;
    return rest;
}

/* The small objects' own kind: scanned like Boehm's NORMAL objects (all but
 * the last word, see above), but not cleared when a sweep puts them back on a
 * free list. Boehm clears a NORMAL object word by word as it sweeps it
 * (GC_reclaim_clear), which made the sweep of a reused block cost twice what
 * threading a fresh one did; every small object is written when it is handed
 * out instead: fl_alloc clears it, and generated code stores every word it
 * pops but the last (codegen inline_alloc). A word left over would only keep
 * some dead object alive, not break one. */
static int small_kind = -1;

static void small_kind_init(void)
{
    small_kind = (int)GC_new_kind(GC_new_free_list(), (GC_word)-8 | GC_DS_LENGTH, 1, 0);
    /* Boehm makes a kind's reclaim lists (where a collection leaves its
     * non-empty blocks for GC_generic_malloc_many to sweep) at the kind's
     * first ordinary allocation, which the batch refills never make. */
    if (!GC_generic_malloc(16, small_kind))
        out_of_memory(16);
}

static void *alloc_from_batch(int64_t granules)
{
    void *p = fl_small_free[granules];
    if (__builtin_expect(p == NULL, 0)) {
        fl_check_stack(0);
        poll_interrupt();
        if (__builtin_expect(small_kind < 0, 0))
            small_kind_init();
        GC_generic_malloc_many((size_t)granules * 16, small_kind, &p);
        if (!p)
            out_of_memory(granules * 16);
        p = pin_block_of(p);
    }
    fl_small_free[granules] = GC_NEXT(p);
    memset(p, 0, (size_t)granules * 16);
    return p;
}

void *fl_alloc(int64_t nbytes)
{
    if (__builtin_expect(nbytes < FL_SMALL_GRANULES * 16 && !fl_gc_stress_on, 1))
        return alloc_from_batch(nbytes / 16 + 1);
    /* Checked before Boehm takes its lock: a stack overflow inside the
     * allocator would leave the lock held after the unwind. */
    fl_check_stack(0);
    poll_interrupt();
    if (fl_gc_stress_on)
        stress_tick();
    void *p = GC_MALLOC((size_t)nbytes);
    if (!p)
        out_of_memory(nbytes);
    return p;
}

/* For objects holding no pointers (floats, boxed ints, string bytes): Boehm
 * need not scan them. Not zeroed. The small ones come from free lists of
 * pointer-free objects, batch-refilled like the others: a pop instead of a
 * call of GC_malloc_kind per short string or float. Same size classes.
 * Boehm never scans these objects, so the links between them hold nothing:
 * a collection frees the whole list but its head and hands the objects out
 * again (two live values then share memory). A list is therefore used only
 * until the next collection: the collection count at its refill is kept
 * beside it. (A GC_set_start_callback hook that dropped the lists missed
 * some collections and crashed tests/test_tasks_runtime.py.) */
static void *small_atomic_free[FL_SMALL_GRANULES + 1];

void fl_drop_small_lists(void)
{
    memset(fl_small_free, 0, sizeof fl_small_free);
    memset(small_atomic_free, 0, sizeof small_atomic_free);
}

static GC_word atomic_gc_no[FL_SMALL_GRANULES + 1];

static void *alloc_atomic_from_batch(int64_t granules)
{
    void *p = small_atomic_free[granules];
    if (__builtin_expect(p == NULL || atomic_gc_no[granules] != GC_get_gc_no(), 0)) {
        p = NULL;
        fl_check_stack(0);
        poll_interrupt();
        GC_generic_malloc_many((size_t)granules * 16, GC_I_PTRFREE, &p);
        if (!p)
            out_of_memory(granules * 16);
        atomic_gc_no[granules] = GC_get_gc_no();
    }
    small_atomic_free[granules] = GC_NEXT(p);
    return p;
}

void *fl_alloc_atomic(int64_t nbytes)
{
    if (__builtin_expect(nbytes < FL_SMALL_GRANULES * 16 && !fl_gc_stress_on, 1))
        return alloc_atomic_from_batch(nbytes / 16 + 1);
    fl_check_stack(0);
    poll_interrupt();
    if (fl_gc_stress_on)
        stress_tick();
    void *p = GC_MALLOC_ATOMIC((size_t)nbytes);
    if (!p)
        out_of_memory(nbytes);
    return p;
}

/* Boxed ints and floats are one granule with no spare byte: C code only
 * reads their fields, never walks past them. */
void *fl_alloc_atomic_granule(void)
{
    if (__builtin_expect(!fl_gc_stress_on, 1))
        return alloc_atomic_from_batch(1);
    return fl_alloc_atomic(16);
}

fl_value *fl_rest_array(int64_t n)
{
    return fl_alloc((n < 1 ? 1 : n) * (int64_t)sizeof(fl_value));
}
