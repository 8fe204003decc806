/* fluentai.h -- the one public header of the FluentAI runtime.
 *
 * Everything generated code, the Python driver (through cffi) and the AOT
 * `main` may call is declared here; each subsystem lives in its own .c file.
 *
 * Naming convention:
 *   fl_<verb>/<noun>      runtime entry points called by generated code or Python
 *   fl_bi_<name>          builtin functions; every one has the uniform closure
 *                         signature (fl_code) so it is also a first-class value
 *   FL_<NAME>             constants and the few macros that encode the tag scheme
 *
 * The tag scheme is mirrored in fluentai/backend/abi.py: change both together.
 *
 * cffi note: the block between the CDEF-BEGIN and CDEF-END markers is fed to
 * ffi.cdef() by fluentai/backend/rt_build.py, so it may only contain plain
 * declarations (no macros with arguments, no inline code).
 */
#ifndef FLUENTAI_H
#define FLUENTAI_H

#include <stdint.h>
#include <stddef.h>

/* ---- values ----------------------------------------------------------
 * A value is one 64-bit word.
 *   fixnum      n << 1                      (low bit 0), 63-bit range
 *   heap object address | 1                 (addresses are 16-byte aligned, >= 4096)
 *   immediate   the small odd codes below   (never a valid heap address)
 * Integers outside the fixnum range but inside int64 are boxed (FL_K_INT). */
#define FL_FALSE     ((fl_value)0x03)
#define FL_NIL       ((fl_value)0x07)
#define FL_TRUE      ((fl_value)0x0B)
#define FL_EMPTY     ((fl_value)0x0F)   /* the empty list: () and [] */
#define FL_UNBOUND   ((fl_value)0x13)   /* a global slot whose define has not run */
#define FL_IMMEDIATE_LIMIT 0x1000

#define FL_FIXNUM_MIN (-(INT64_C(1) << 62))
#define FL_FIXNUM_MAX ((INT64_C(1) << 62) - 1)

#define FL_IS_FIXNUM(v)  (((v) & 1) == 0)
#define FL_FIXNUM(n)     ((fl_value)((uint64_t)(int64_t)(n) << 1))
#define FL_FIXNUM_VAL(v) ((int64_t)(v) >> 1)
#define FL_IS_HEAP(v)    (((v) & 1) && (uint64_t)(v) >= FL_IMMEDIATE_LIMIT)
#define FL_PTR(v)        ((void *)((v) - 1))
#define FL_HEAP(p)       ((fl_value)(uintptr_t)(p) + 1)
#define FL_BOOL(c)       ((c) ? FL_TRUE : FL_FALSE)
#define FL_TRUTHY(v)     (((v) | 4) != 7)   /* only false (3) and nil (7) are falsy */
#define FL_KIND(v)       (((fl_header *)FL_PTR(v))->kind)

/* Call-site encoding of argc: the low 32 bits are the argument count, the
 * upper bits the location id of the call site in the current module's
 * location table (0 = unknown). Callees use it to report errors at the
 * caller's source position at no cost on the fast path. */
#define FL_ARGC_BITS 32
#define FL_NARGS(argc)  ((argc) & 0xFFFFFFFF)
#define FL_LOCOF(argc)  ((argc) >> FL_ARGC_BITS)
#define FL_ARGC(n, loc) ((int64_t)(n) | ((int64_t)(loc) << FL_ARGC_BITS))
#define FL_REG_ARGS 3   /* arguments passed in registers; the rest go in `rest` */

#define FL_CLOSURE_HAS_REST 1
#define FL_SMALL_GRANULES 4
#define FL_CLOSURE_BUILTIN  2   /* a builtin's first-class closure: written `#<builtin name>` */

/* ---- CDEF-BEGIN ---- */
typedef int64_t fl_value;

/* The uniform entry signature of every closure and builtin. Arguments past
 * the first FL_REG_ARGS (3) are in `rest` (a heap array, never the stack:
 * the caller's frame is gone after a musttail call). */
typedef fl_value (*fl_code)(fl_value self, int64_t argc, fl_value a0,
                            fl_value a1, fl_value a2, fl_value *rest);

enum fl_kind {
    FL_K_INT = 1,      /* boxed int64 outside the fixnum range: {hdr, int64 value} */
    FL_K_FLOAT = 2,    /* {hdr, double value} */
    FL_K_STRING = 3,   /* {hdr(aux = 1 if all ASCII), int64 nbytes, int64 ncodepoints, char bytes[nbytes+1]},
                        * or a rope (aux has FL_STRING_ROPE): fl_rope, read through FL_STR */
    FL_K_PAIR = 4,     /* {hdr, fl_value head, fl_value tail}; tail is a list */
    FL_K_CLOSURE = 5,  /* fl_closure */
    FL_K_KEYWORD = 6,  /* {hdr, fl_value name (string, without ':')}, interned */
    FL_K_SYMBOL = 7,   /* {hdr, fl_value name (string)}, interned */
    FL_K_MAP = 8,
    FL_K_DATA = 9,     /* {hdr(aux = field count), fl_value tag (string), fl_value fields[]} */
    FL_K_CELL = 10,    /* {hdr, fl_value value}: a letrec binding captured before it is set */
    FL_K_PROMISE = 11,
    FL_K_CHANNEL = 12,
    FL_K_DOM_NODE = 13  /* dom.c: an element or text node of the dom effect's document */
};

typedef struct fl_header {
    uint32_t kind;
    uint32_t aux;
} fl_header;

typedef struct fl_float { fl_header hdr; double value; } fl_float;
typedef struct fl_boxint { fl_header hdr; int64_t value; } fl_boxint;
typedef struct fl_pair { fl_header hdr; fl_value head; fl_value tail; } fl_pair;
typedef struct fl_cell { fl_header hdr; fl_value value; } fl_cell;
typedef struct fl_string {
    fl_header hdr;
    int64_t nbytes;
    int64_t ncodepoints;
    char bytes[];
} fl_string;
/* A concatenation that has not been copied yet (string.c): string-append of a
 * long string makes one, so a string grown in a loop costs O(n), not O(n^2).
 * nbytes and ncodepoints are the whole string's, at fl_string's offsets, so
 * lengths never flatten. The first reader of the bytes flattens it once:
 * left becomes the flat string and right 0, and the parts become garbage. */
typedef struct fl_rope {
    fl_header hdr;
    int64_t nbytes;
    int64_t ncodepoints;
    fl_value left;             /* a string (flat or rope); the flat copy once right is 0 */
    fl_value right;
} fl_rope;

/* Closure layout, mirrored by the code generator (offsets in bytes):
 *   0 header (aux = number of captured values)   8 code   16 arity (min args)
 *  20 flags (FL_CLOSURE_HAS_REST)   24 name (string value or FL_NIL)   32 free[] */
typedef struct fl_closure {
    fl_header hdr;
    fl_code code;
    int32_t arity;
    int32_t flags;
    fl_value name;
    fl_value free[];
} fl_closure;

/* A source location; location ids index the current module's table. */
typedef struct fl_loc {
    int32_t line, col, end_line, end_col;
} fl_loc;

/* A call site of generated code: stack-map record ids index the module's table. */
typedef struct fl_site_info {
    int32_t line, col;         /* line 0: no source position */
    int32_t function;          /* index into fl_module_info.function_names */
    int32_t loc;               /* location id of the call (0: unknown) */
    int32_t outer;             /* code inlined by the IR: the site of the call it stands
                                * for, in the frame that inlined it (a site with no stack
                                * map record); -1: none */
} fl_site_info;

/* What a compiled program tells the runtime about itself (registered by the
 * generated entry before any user code runs; used to format errors). */
typedef struct fl_module_info {
    const char *filename;
    const char *source;        /* the whole source text, for carets */
    int64_t source_len;
    const fl_loc *locs;        /* locs[0] is the "unknown" location */
    int64_t nlocs;
    const void *stackmaps;     /* the module's .llvm_stackmaps section (LLVM stack map v3) */
    const fl_site_info *sites; /* by stack-map record id */
    int64_t nsites;
    const char *const *function_names;   /* "`f`", "the lambda at 3:9", "the top level" */
    int64_t nfunctions;
} fl_module_info;

/* The result of running a program or a call through fl_run. FL_INTERRUPTED:
 * FL_ERROR whose error is of type "interrupted" (Ctrl-C; exit status 130). */
enum fl_status { FL_OK = 0, FL_ERROR = 1, FL_DEADLOCK = 2, FL_EXIT = 3, FL_INTERRUPTED = 4 };
typedef struct fl_outcome {
    int32_t status;            /* enum fl_status */
    int32_t exit_code;         /* for FL_EXIT: the code given to (exit n) */
    fl_value value;            /* FL_OK: the result (also rooted in the runtime until the next run) */
    fl_value error;            /* FL_ERROR, FL_INTERRUPTED: the error value (a map {"type" "message" "data"}) */
    int64_t loc;               /* FL_ERROR, FL_INTERRUPTED: location id of the failing form */
    const char *report;        /* FL_ERROR/FL_INTERRUPTED/FL_DEADLOCK: the full text printed for the user, NUL-terminated */
    int64_t failed_tasks;      /* tasks that failed and whose promise nobody awaited: each is
                                  reported in `report`, and status is then FL_ERROR (exit 1) */
} fl_outcome;

/* ---- runtime lifecycle (runtime.c / error.c) ---- */
void fl_init(void);                                      /* idempotent: GC_INIT, builtins, interning */
void fl_set_gc_stress(int on);                           /* collect very often (tests) */
/* Resource limits (limits.c, docs/language.md): the heap limit in bytes (0: the
 * default, 3/4 of the usable memory) and the live-task limit (0: derived from it). */
void fl_set_max_heap(int64_t bytes);
int64_t fl_max_heap(void);
void fl_set_max_tasks(int64_t n);
int64_t fl_max_tasks(void);
int64_t fl_parse_size(const char *text);                 /* "512M" -> bytes; -1 if invalid */
int64_t fl_gc_count(void);
void fl_gc_collect(void);                                 /* a full collection now (tests) */
/* Run entry() on the program stack (guard page, sigaltstack SIGSEGV handler).
 * Any fl_raise that nothing handles unwinds back here. Never returns into Python
 * with a signal handler or GC stack bottom changed. */
void fl_run(fl_value (*entry)(void), fl_outcome *out);
/* Call a closure with n arguments from outside (Python), protected like fl_run. */
void fl_run_call(fl_value fn, int64_t n, fl_value *args, fl_outcome *out);
void fl_set_command_line(int64_t argc, const char **argv);
void fl_flush(void);

/* ---- module support, called by generated code (module.c) ---- */
void fl_module_register(const fl_module_info *info);  /* makes it the current module for errors */
fl_value *fl_globals_new(int64_t n);                  /* uncollectable slots, all FL_UNBOUND */
fl_value *fl_session_globals(int64_t n);              /* the REPL session's table (>= n slots) */
fl_value *fl_constants_new(int64_t n);                /* uncollectable slots, all FL_NIL */
void *fl_alloc(int64_t nbytes);                       /* GC memory, 16-byte aligned, zeroed */
/* Free lists of cleared small objects (index = size / 16, 1..4), linked
 * through their first word; generated code pops them inline (module.c). */
extern void *fl_small_free[5];
fl_value *fl_rest_array(int64_t n);                   /* heap array for call arguments past 3 */

/* ---- values (value.c) ---- */
fl_value fl_make_int(int64_t n);         /* fixnum or boxed */
int64_t  fl_int_value(fl_value v);       /* v must be an int */
fl_value fl_make_float(double d);
double   fl_float_value(fl_value v);     /* v must be a float */
fl_value fl_make_string(const char *bytes, int64_t nbytes);  /* copies; bytes are valid UTF-8 */
fl_string *fl_string_flat(fl_value v);   /* the flat form of string v (a rope is flattened once) */
fl_value fl_intern_keyword(const char *name, int64_t nbytes);
fl_value fl_intern_symbol(const char *name, int64_t nbytes);
fl_value fl_make_closure(fl_code code, int32_t arity, int32_t flags, fl_value name, int64_t nfree);
fl_value fl_make_cell(fl_value v);
fl_value fl_cons(fl_value head, fl_value tail, int64_t loc);  /* type-error unless tail is a list */
fl_value fl_make_data(fl_value tag, int64_t n, fl_value *fields);
int32_t  fl_kind_of(fl_value v);         /* 0 for fixnums and immediates; enum fl_kind otherwise */

/* ---- calls (call.c) ---- */
/* Slow paths the generated code jumps to: they raise, and return only an error:catch
 * handler's answer, which becomes the value of the failing call or variable read. */
fl_value fl_not_callable(fl_value f, int64_t argc);
fl_value fl_arity_fail(fl_value self, int64_t argc);
fl_value fl_undefined_global(fl_value name, int64_t loc);
fl_value fl_unbound_local(fl_value name, int64_t loc);
/* The list of arguments past the first `nfixed`, for closures with a rest parameter. */
fl_value fl_collect_rest(int64_t nfixed, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest);
/* Call any value as a function with n arguments (used by the runtime: map, apply, handlers). */
fl_value fl_call(fl_value f, int64_t argc, int64_t n, fl_value *args);
fl_value fl_call1(fl_value f, int64_t argc, fl_value a);
fl_value fl_call2(fl_value f, int64_t argc, fl_value a, fl_value b);

/* ---- numbers (number.c): slow paths of the inlined fixnum fast paths ---- */
fl_value fl_add(fl_value a, fl_value b, int64_t loc);
fl_value fl_sub(fl_value a, fl_value b, int64_t loc);
fl_value fl_mul(fl_value a, fl_value b, int64_t loc);
fl_value fl_div(fl_value a, fl_value b, int64_t loc);
fl_value fl_neg(fl_value a, int64_t loc);
int32_t  fl_lt(fl_value a, fl_value b, int64_t loc);   /* type-errors unless two numbers or two strings */
int32_t  fl_le(fl_value a, fl_value b, int64_t loc);
int32_t  fl_gt(fl_value a, fl_value b, int64_t loc);
int32_t  fl_ge(fl_value a, fl_value b, int64_t loc);
int32_t  fl_num_eq(fl_value a, fl_value b, int64_t loc);  /* = on numbers for the fast path's miss */
int32_t  fl_equal(fl_value a, fl_value b);               /* structural ==, never fails */
double   fl_number_to_double(fl_value v, const char *fname, int64_t loc);  /* unboxed-float operand slow path */
void fl_int_overflow(const char *fname, int64_t loc);  /* raises overflow-error */

/* ---- errors (error.c) ---- */
/* Raise an error of `type` (e.g. "type-error") with a printf-style message.
 * loc is a location id (0 = unknown). Does not return. */
void fl_raise(const char *type, int64_t loc, const char *fmt, ...);
void fl_raise_value(fl_value error_map, int64_t loc);    /* raise an existing error value */
/* Raise a runtime fault (an existing error value): like fl_raise_value, but an error:catch
 * handler's answer may resume the innermost guarded entry point (see FL_RESUME_GUARD). */
void fl_fault(fl_value error_map, int64_t loc);   /* does not return */
/* A fault whose caller is itself the failing operation (the slow paths generated code
 * calls): the error:catch handler's answer, returned as the operation's value, else unwinds. */
fl_value fl_fault_answer(fl_value error_map, int64_t loc);
fl_value fl_make_error(fl_value type, fl_value message, fl_value data);

/* ---- Ctrl-C (interrupt.c) ---- */
/* Set by the SIGINT handler while a program runs. Generated code polls it at
 * every closure entry and loop back-edge (one load and a cold branch) and
 * calls fl_interrupt_poll_slow when it is set: that clears it and raises the
 * `interrupted` fault at `loc` (an error:catch handler's answer lets the
 * program go on from the poll). */
extern volatile int32_t fl_interrupt_pending;
void fl_interrupt_poll_slow(int64_t loc);

/* ---- printing (print.c) ---- */
fl_value fl_show(fl_value v);            /* written form, as a string value */
fl_value fl_to_display(fl_value v);      /* display form, as a string value */
void fl_write_display(fl_value v);       /* to stdout, display form */

/* ---- effects (effect.c) ---- */
/* Effect operations are interned to small ids at module init; perform passes
 * the id, then the uniform argument convention. The built-in operations with
 * no user handler installed dispatch straight to their default. */
int64_t fl_effect_op(const char *qualified_name);   /* "io:print" -> id; user ops get new ids */
fl_value fl_perform(int64_t op, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest);
/* state:get, set and update with the right argument count (state.c): the
 * default operation itself while nothing could intercept it, else fl_perform. */
fl_value fl_state_get_direct(int64_t op, int64_t argc, fl_value key);
fl_value fl_state_set_direct(int64_t op, int64_t argc, fl_value key, fl_value value);
fl_value fl_state_update_direct(int64_t op, int64_t argc, fl_value key, fl_value f);
/* The key's cell (its value is the word at offset 8, 1 while the key is unset) when a
 * state:update at a generated fast path may write it directly; 0: perform it instead. */
int64_t fl_state_update_cell(int64_t op, fl_value key);
/* The same through a site's cache {generation, key, cell}: generated code takes the
 * cell from the site while site[0] == fl_state_generation and site[1] is the key;
 * otherwise it calls this, which fills the site whenever it returns a cell.
 * fl_state_generation moves whenever a filled site could have gone wrong: a cell
 * left the table (the runtime's cache was cleared), a transaction began or ended,
 * a handler was installed or removed, an error:catch handler armed the resume points. */
int64_t fl_state_update_cell_site(int64_t op, fl_value key, int64_t *site);
extern uint64_t fl_state_generation;
void fl_state_sites_invalidate(void);
/* (handler ((name fn) ...) body...): `clauses` is a list alternating name
 * strings and functions ["io:print" f "io" g "error" h] (a name with `:` is
 * one operation, without it a whole effect; "error" and "error:raise" catch
 * every error); `thunk` (no arguments) runs the body under the new frame.
 * Returns the body's value, or the error clause's value after an error. */
fl_value fl_with_handlers(fl_value clauses, fl_value thunk, int64_t loc);
/* Before a program's top level runs: empty state store, no error:catch
 * handlers, elapsed time 0, random generator seeded from the OS, no handler
 * frames (the Python handlers set by fl_set_host_handlers stay). */
void fl_effects_program_start(void);
/* Before a call into FluentAI from outside any run: no handler frames, and
 * the handler counts recomputed (frames abandoned by `exit` or by an error
 * that ended a run leave no trace). */
void fl_handlers_reset(void);
/* The handler stack around a nested call from a Python handler (the pointer
 * is opaque): saved before, restored after, as an error may leave it stale. */
void *fl_handlers_save(void);
void fl_handlers_restore(void *saved);
/* Python effect handlers: the outermost layer, above the defaults and below
 * every handler form, in every task. Same list shape as fl_with_handlers
 * (error clauses excepted: Python handles those itself); FL_EMPTY removes. */
void fl_set_host_handlers(fl_value clauses);
/* Called by a Python handler before it returns, instead of raising across
 * Python frames: the perform site then raises `error` (an error map) or
 * exits the program with `code`. */
void fl_host_fail(fl_value error);
void fl_host_exit(int32_t code);


/* ---- lists, strings, maps (list.c, string.c, map.c) ---- */
fl_value fl_list_from_array(int64_t n, fl_value *items);
/* A long quoted list, described by tables instead of code (codegen._build_datum): element
 * i is words[i] itself (FL_DATUM_VALUE), an interned symbol or keyword or a string whose
 * bytes are at pool + (words[i] >> 32), (words[i] & 0xFFFFFFFF) long, a float whose bits
 * are words[i], an integer words[i], or the next value of `built` (FL_DATUM_BUILT). */
enum { FL_DATUM_VALUE, FL_DATUM_SYMBOL, FL_DATUM_KEYWORD, FL_DATUM_STRING, FL_DATUM_FLOAT,
       FL_DATUM_INT, FL_DATUM_BUILT };
fl_value fl_list_from_table(int64_t n, const int64_t *words, const uint8_t *kinds,
                            const char *pool, const fl_value *built);
int64_t  fl_list_length(fl_value list);
/* Does `list` start with the elements of `prefix` (a proper list), each equal under
 * fl_equal? The match of a long run of literal list elements (ir/match.py). */
int32_t  fl_list_has_prefix(fl_value list, fl_value prefix);
fl_value fl_list_drop_pairs(fl_value list, int64_t n);      /* after n pairs it is known to have */
fl_value fl_map_empty(void);
fl_value fl_map_set(fl_value m, fl_value k, fl_value v);    /* a new map; an existing key keeps its place */
fl_value fl_map_from_list(fl_value keys_and_values);        /* a map literal of many constants */
/* `set` where the compiler proved the map unshared and dead after the call
 * (fluentai/ir/passes/owned_maps.py): may update it in place. */
fl_value fl_bi_set_owned(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest);
fl_value fl_map_remove(fl_value m, fl_value k);             /* a new map without k (m itself if k is absent) */
fl_value fl_map_get(fl_value m, fl_value k, fl_value dflt);
int32_t  fl_map_has(fl_value m, fl_value k);
int64_t  fl_map_size(fl_value m);
fl_value fl_map_key_at(fl_value m, int64_t i);              /* insertion order, 0 <= i < size */
fl_value fl_map_value_at(fl_value m, int64_t i);
uint64_t fl_hash(fl_value v);                               /* structural, consistent with fl_equal */

/* ---- builtins (builtins.c and the library files) ---- */
typedef struct fl_builtin_def {
    const char *name;          /* the FluentAI name, e.g. "string-append" */
    fl_code code;
    int32_t min_args;
    int32_t max_args;          /* -1: variadic */
} fl_builtin_def;
int64_t fl_builtin_count(void);
const fl_builtin_def *fl_builtin_at(int64_t i);
fl_value fl_builtin_value(const char *name);   /* the first-class closure for a builtin, or 0 */
/* ---- data values and pattern matching (data.c) ---- */
fl_value fl_make_constructor(fl_value tag, int64_t nfields);   /* the closure of a data constructor */
int32_t  fl_data_is(fl_value v, fl_value tag, int64_t nfields); /* a data value of that tag and arity? */
fl_value fl_match_fail(fl_value v, int64_t loc);                /* match-error; does not return */
/* A match column of many literals (match.c): its table, built once from the list of
 * literals in the order of their arms and the list of their arms' constant results (or
 * the empty list; the table is a raw address, not a value); the position of the first
 * literal `==` to v, or -1; the result of the arm at a position. */
fl_value fl_match_table(fl_value keys, fl_value results);
int64_t  fl_match_index(fl_value v, fl_value table);
fl_value fl_match_result(fl_value table, int64_t index);
/* ---- tasks, promises and channels (sched.c, promise.c, chan.c, timer.c) ----
 * LANGUAGE.md section 8. Every call here must run inside fl_run. */
/* A new task runs thunk() (a closure of no arguments); its promise is
 * returned at once and the caller keeps running (FIFO: the task starts when
 * the caller blocks or yields). `async` calls, (go ...) and (spawn f). */
fl_value fl_spawn(fl_value thunk, int64_t loc);
/* The value of a resolved promise, or its error raised in this task. */
fl_value fl_await(fl_value p, int64_t loc);
/* `clauses`: a list of [kind ch v fn] lists, kind 0 = (recv! ch),
 * 1 = (receive! ch), 2 = (send! ch v); runs fn of the first ready clause
 * (source order) and returns its result; none ready: default_thunk (FL_NIL
 * when absent) or block until one is. */
fl_value fl_select(fl_value clauses, fl_value default_thunk, int64_t loc);
fl_value fl_chan_new(int64_t capacity, int64_t loc);      /* capacity 0: rendezvous */
fl_value fl_chan_send(fl_value ch, fl_value v, int64_t loc);   /* true, or channel-closed */
fl_value fl_chan_recv(fl_value ch, int64_t loc);          /* nil once closed and drained */
fl_value fl_chan_receive(fl_value ch, int64_t loc);       /* {"value" v "ok" bool} */
fl_value fl_chan_close(fl_value ch, int64_t loc);
fl_value fl_promise_new(int64_t loc);                     /* pending */
void fl_promise_resolve(fl_value p, fl_value v);          /* first settle wins; a promise is adopted */
void fl_promise_reject(fl_value p, fl_value reason);      /* await raises promise-rejected */
void fl_task_yield(void);                                 /* to the back of the run queue */
void fl_task_sleep(double seconds, int64_t loc);          /* suspends this task only */
/* Suspend this task until fd is ready for `events` (poll(2) bits) or the
 * timeout passes (negative: none); returns the ready events, 0 on timeout. */
int32_t fl_task_wait_fd(int32_t fd, int32_t events, double timeout_seconds);
int64_t fl_task_live_count(void);                         /* tasks alive in this run, main included */
/* A FluentAI function running a Python callable (handler.c; runner.py's bridge). */
fl_value fl_make_host_function(void *callback, int64_t index);
/* ---- CDEF-END ---- */


/* getaddrinfo in a thread of its own while the task waits (resolve.c): its status, or
 * FL_RESOLVE_TIMED_OUT when deadline_ns (fl_now_ns's clock) came first. */
struct addrinfo;
#define FL_RESOLVE_TIMED_OUT (1 << 20)
int fl_resolve(const char *host, const char *port, const struct addrinfo *hints,
               int64_t deadline_ns, struct addrinfo **found);
void fl_resolve_reset(void);   /* between runs: give up the lookups nobody waits for */

/* Each library file contributes one NULL-terminated table; builtins.c joins them. */
extern const fl_builtin_def fl_number_builtins[];   /* number.c: Numbers, comparisons, equality */
extern const fl_builtin_def fl_predicate_builtins[];/* value.c: Predicates */
extern const fl_builtin_def fl_list_builtins[];     /* list.c */
extern const fl_builtin_def fl_string_builtins[];   /* string.c (+ to-string, show, print-line) */
extern const fl_builtin_def fl_map_builtins[];      /* map.c (+ tuple) */
extern const fl_builtin_def fl_program_builtins[];  /* runtime.c: command-line-args, exit */

/* Helpers shared by the library files (list.c). */
/* The inline half of fl_arity_check: a correct argument count costs one compare. */
#define FL_CHECK_ARITY(fname, argc, min, max)                                        \
    do {                                                                             \
        int64_t n_args_ = FL_NARGS(argc);                                            \
        if (n_args_ < (min) || ((max) >= 0 && n_args_ > (max)))                      \
            fl_arity_check((fname), (argc), (min), (max));                           \
    } while (0)
/* Builds a list front to back without recursion: the cells are mutated only
 * until the list is handed out. */
typedef struct fl_list_builder { fl_value head; fl_pair *last; } fl_list_builder;
void fl_list_builder_init(fl_list_builder *b);
void fl_list_builder_push(fl_list_builder *b, fl_value item);
/* Argument `v` of builtin `fname` as an int64 (fixnum or boxed), else a type-error. */
int64_t fl_int_arg(const char *fname, fl_value v, int64_t loc);

/* A growable byte buffer for printing and string building (print.c). */
typedef struct fl_buf { char *data; int64_t len, cap; } fl_buf;
void fl_buf_init(fl_buf *b);
void fl_buf_put(fl_buf *b, const char *s, int64_t n);
void fl_buf_puts(fl_buf *b, const char *s);
void fl_buf_write_value(fl_buf *b, fl_value v, int display);
fl_value fl_buf_to_string(fl_buf *b);

/* Stack headroom check for runtime code that allocates or recurses: raises
 * stack-overflow when fewer than 256 KB remain on the current program stack. */
void fl_check_stack(int64_t loc);
/* The name of a value's type with an article, for messages: "an int", "a string". */
const char *fl_type_phrase(fl_value v);
/* Raise "`fname` expects WHAT, got <type phrase>: <written form>". */
void fl_type_fail(const char *fname, const char *what, fl_value got, int64_t loc);
void fl_arity_check(const char *fname, int64_t argc, int32_t min, int32_t max);
/* Fetch argument i (0-based) of a uniform call. */
#define FL_ARG(i) ((i) == 0 ? a0 : (i) == 1 ? a1 : (i) == 2 ? a2 : rest[(i) - 3])

/* ---- core helpers shared by the runtime's .c files (runtime core) ---- */
/* aux bits of a string header: all ASCII; a rope (fl_rope, not yet or already flattened). */
#define FL_STRING_ASCII 1u
#define FL_STRING_ROPE  2u
/* The bytes of a string value: every reader goes through FL_STR, which
 * flattens a rope on first use; FL_STR_HEAD reads only the lengths, which a
 * rope holds too, and never copies. */
#define FL_STR_HEAD(v) ((fl_string *)FL_PTR(v))
static inline fl_string *FL_STR(fl_value v) {
    fl_string *s = FL_STR_HEAD(v);
    return s->hdr.aux & FL_STRING_ROPE ? fl_string_flat(v) : s;
}
#define FL_PAIR(v)     ((fl_pair *)FL_PTR(v))
#define FL_CLOSURE(v)  ((fl_closure *)FL_PTR(v))
#define FL_IS_KIND(v, k) (FL_IS_HEAP(v) && FL_KIND(v) == (k))
#define FL_IS_INT(v)   (FL_IS_FIXNUM(v) || FL_IS_KIND(v, FL_K_INT))
#define FL_IS_FLOAT(v) FL_IS_KIND(v, FL_K_FLOAT)
#define FL_IS_STRING(v) FL_IS_KIND(v, FL_K_STRING)
#define FL_IS_LIST(v)  ((v) == FL_EMPTY || FL_IS_KIND(v, FL_K_PAIR))
#define FL_IS_CLOSURE(v) FL_IS_KIND(v, FL_K_CLOSURE)
fl_value fl_string_from_cstr(const char *s);           /* NUL-terminated UTF-8 */
void *fl_alloc_atomic(int64_t nbytes);   /* GC memory Boehm never scans (no pointers inside); not zeroed */
void *fl_alloc_atomic_granule(void);     /* 16 bytes of fl_alloc_atomic memory exactly (boxed numbers) */
void fl_drop_small_lists(void);          /* empty the small-object free lists (GC stress) */
const fl_module_info *fl_module_current(void);          /* NULL before any fl_module_register */
/* How values of a kind owned by another subsystem (promise, channel, ...) are written. */
void fl_set_printer(int32_t kind, void (*print)(fl_buf *b, fl_value v));
/* The written (display = 0) or display form, cut after about max_bytes with "..." */
void fl_buf_write_value_capped(fl_buf *b, fl_value v, int display, int64_t max_bytes);
/* Raise arity-error "arity: `fname` expects N arguments, got M" for a count outside [min, max]. */
void fl_arity_fail_named(const char *fname, int64_t argc, int32_t min, int32_t max);

/* Catch frames (error.c): fl_run pushes one; the effects work pushes one per
 * `handler` form that handles errors. fl_raise_value (and a stack overflow
 * caught by the SIGSEGV handler) siglongjmps to the innermost frame with
 * `reason` set; the landing code reads the error with fl_catch_error. Frames
 * live on the C stack of the code that pushed them and must be popped on
 * every exit path (normal return or landing). */
#include <setjmp.h>
enum fl_catch_reason { FL_CATCH_NONE = 0, FL_CATCH_ERROR = 1, FL_CATCH_STACK_OVERFLOW = 2, FL_CATCH_EXIT = 3,
                       FL_CATCH_RESUME = 4, FL_CATCH_OUT_OF_MEMORY = 5 };
typedef struct fl_catch {
    sigjmp_buf jump;
    struct fl_catch *prev;
    int32_t reason;            /* enum fl_catch_reason, set just before the jump */
    int32_t is_run;            /* pushed by fl_run: the only frames `exit` stops at */
    int32_t is_resume;         /* a resume point (fl_resume_push): errors unwind past it; only a
                                  fault that an error:catch handler answers lands there */
    int32_t exit_code;         /* FL_CATCH_EXIT */
    fl_value error;            /* FL_CATCH_ERROR: the error map */
    int64_t loc;               /* location id of the fault */
    struct fl_chain *chain;    /* where to record the call chain of an error landing here
                                  (fl_run's and a task's frame), NULL: not recorded */
} fl_catch;
void fl_catch_push(fl_catch *c);
void fl_catch_pop(fl_catch *c);         /* c must be the innermost frame */
/* Resume points: how a fault raised anywhere inside a runtime entry point can
 * return an error:catch handler's value as that entry point's result (LANGUAGE.md
 * section 7: every runtime fault is an error effect). fl_resume_armed is set while
 * any catch handler is installed; until then each guarded entry point pays one
 * load and a branch. When armed, the entry runs under a catch frame marked
 * is_resume; a fault (fl_raise, fl_type_fail, arity errors) raised while that
 * frame is the innermost one asks the catch handlers, and when one answers, jumps
 * back with its value (reason FL_CATCH_RESUME, the value in `error`). A handler
 * form entered in between is the innermost frame instead, so it keeps precedence. */
extern int32_t fl_resume_armed;
void fl_resume_push(fl_catch *c);
#define FL_RESUME_GUARD_AS(type, convert, call)                                          \
    do {                                                                                 \
        if (__builtin_expect(fl_resume_armed, 0)) {                                      \
            fl_catch resume_;                                                            \
            fl_resume_push(&resume_);                                                    \
            if (sigsetjmp(resume_.jump, 0) != 0) {                                       \
                fl_catch_pop(&resume_);                                                  \
                return convert(resume_.error);                                           \
            }                                                                            \
            type result_ = (call);                                                       \
            fl_catch_pop(&resume_);                                                      \
            return result_;                                                              \
        }                                                                                \
    } while (0)
#define FL_RESUME_AS_VALUE(v) (v)
#define FL_RESUME_GUARD(call) FL_RESUME_GUARD_AS(fl_value, FL_RESUME_AS_VALUE, call)
/* The guarded path lives in its own function so that the catch frame (a
 * sigjmp_buf) is not in the frame of every call: deep recursion through
 * builtins costs the same stack armed or not. */
#define FL_RESUME_ENTRY(type, name, params, args, impl, convert)                          \
    static __attribute__((noinline)) type name##_resumable params                        \
    {                                                                                    \
        FL_RESUME_GUARD_AS(type, convert, impl args);                                    \
        return impl args;                                                                \
    }                                                                                    \
    type name params                                                                     \
    {                                                                                    \
        if (__builtin_expect(fl_resume_armed, 0))                                        \
            return name##_resumable args;                                                \
        return impl args;                                                                \
    }
/* Call a builtin's body as a resume point (error.c). */
fl_value fl_call_resumable(fl_code body, fl_value self, int64_t argc, fl_value a0, fl_value a1,
                           fl_value a2, fl_value *rest);
/* A builtin, guarded: `cname` is the uniform entry; the body follows the macro. */
#define FL_BUILTIN(cname)                                                                 \
    static fl_value cname##_body(fl_value self, int64_t argc, fl_value a0, fl_value a1,   \
                                 fl_value a2, fl_value *rest);                           \
    fl_value cname(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2,    \
                   fl_value *rest)                                                       \
    {                                                                                    \
        if (__builtin_expect(fl_resume_armed, 0))                                        \
            return fl_call_resumable(cname##_body, self, argc, a0, a1, a2, rest);        \
        return cname##_body(self, argc, a0, a1, a2, rest);                               \
    }                                                                                    \
    static inline fl_value cname##_body(fl_value self, int64_t argc, fl_value a0,         \
                                        fl_value a1, fl_value a2, fl_value *rest)
/* The value of an error:catch handler for a fault `error`, or FL_UNBOUND when none applies (handler.c). */
fl_value fl_catch_handler_value(fl_value error, int64_t loc);
fl_value fl_catch_error(fl_catch *c);   /* the error value after landing (builds stack-overflow's) */
/* Unwind to the innermost fl_run with FL_EXIT (the `exit` builtin); flushes stdout first. */
void fl_exit_program(int32_t code);
/* Lowest safe stack address of the stack running now (NULL when not on a
 * runtime-owned stack): fl_check_stack compares against it. Fibers set it when they switch. */
extern char *fl_stack_limit;

/* Call chains (callchain.c). Generated code keeps frame pointers and records
 * the return address of every call in its stack map; an error that will be
 * reported walks the frames once, before the unwind, and keeps the innermost
 * FL_CHAIN_FIRST and the outermost FL_CHAIN_LAST runs of frames, a run being
 * consecutive frames at the same call site ("... 9,995 more frames of `f`"). */
#define FL_CHAIN_FIRST 10
#define FL_CHAIN_LAST 5
typedef struct fl_chain_site fl_chain_site;
typedef struct fl_chain_run {
    const fl_chain_site *site;
    int64_t count;
} fl_chain_run;
typedef struct fl_chain {
    fl_chain_run first[FL_CHAIN_FIRST];
    int32_t nfirst;
    int32_t nlast;             /* runs in `last`, a ring that starts at last_start */
    int32_t last_start;
    fl_chain_run last[FL_CHAIN_LAST];
    int64_t omitted_frames;    /* frames between `first` and `last` */
    int32_t overflowed;        /* a stack overflow's: counts are written as lower bounds */
} fl_chain;
void fl_callchain_register(const fl_module_info *info);
/* Process memory (malloc) for the runtime's own tables; out of memory aborts (module.c). */
/* malloc and realloc whose failure is the run's out-of-memory error (limits.c). */
void *fl_malloc_or_die(size_t n);
void *fl_realloc_or_die(void *p, size_t n);
void *fl_copy_bytes(const void *src, size_t n);
/* limits.c: read the limits' settings (fl_init); put the heap limit back (each
 * outermost run); end the innermost run with out-of-memory (never returns). */
void fl_limits_init(void);
void fl_limits_enter_run(void);
extern int64_t fl_task_limit;   /* fl_max_tasks(), read by fl_spawn */
__attribute__((noreturn)) void fl_out_of_memory(int64_t nbytes, int in_malloc);
fl_value fl_out_of_memory_message(void);
/* error.c: the jump of fl_out_of_memory to the innermost fl_run; returns only outside any run. */
void fl_unwind_out_of_memory(void);
/* Record the chain of the frames above `fp` (a frame pointer on the stack
 * running now), up to `limit` when it is on that stack (the catch frame the
 * error lands in: what is above it is not part of this run), else to the
 * stack's top. Async-signal-safe: no allocation, no locks. */
void fl_chain_capture(fl_chain *c, void *fp, const void *limit);
/* The same from a faulting context: its frame pointer, pc and stack pointer. */
void fl_chain_capture_fault(fl_chain *c, void *fp, uintptr_t pc, const uintptr_t *sp,
                            const void *limit);
void fl_chain_here(fl_chain *c, const void *limit);   /* the chain of fl_chain_here's caller */
fl_chain *fl_chain_copy(const fl_chain *c);   /* into GC memory; NULL stays NULL */
/* The location id of the innermost frame when it belongs to the current module, else 0. */
int64_t fl_chain_innermost_loc(const fl_chain *c);
/* "  call chain, innermost first:" and one line per frame; nothing when there
 * is no frame besides the one at the report's own location `loc_id`. */
void fl_chain_write(fl_buf *b, const fl_chain *c, int64_t loc_id);
/* The stack that holds `sp`, [*lo, *top): the program stack or a task's. 0 if neither. */
int fl_stack_bounds(const void *sp, char **lo, char **top);
int fl_program_stack_bounds(const void *sp, char **lo, char **top);   /* error.c */
int fl_task_stack_bounds(const void *sp, char **lo, char **top);      /* sched.c */

/* Ctrl-C, for the runtime (interrupt.c). fl_run's outermost level installs the
 * SIGINT handler and puts the previous one back (passing it a SIGINT the
 * program never polled). */
#include <signal.h>
void fl_interrupt_install(void);
void fl_interrupt_uninstall(void);
fl_value fl_interrupt_error(void);            /* a fresh {"type" "interrupted" ...} */
int fl_is_interrupt(fl_value error);          /* an error of type "interrupted"? */
void fl_interrupt_check(int64_t loc);         /* the poll, for the runtime's own waits */
/* Around a wait that a SIGINT must end (epoll_pwait, ppoll): SIGINT is blocked
 * and *wait_mask is the mask to wait with; returns 1 when an interrupt is
 * already pending (then do not wait). fl_interrupt_release restores the mask. */
int fl_interrupt_hold(sigset_t *wait_mask);
void fl_interrupt_release(const sigset_t *wait_mask);

/* Effects (effect.c): install the default implementation of a built-in operation
 * (other subsystems register theirs at fl_init); `self` is FL_NIL when called. */
void fl_effect_set_default(const char *qualified_name, fl_code fn);
/* Per-operation count of installed user handlers (handler forms and Python
 * handlers) that could match it; fl_perform takes the default path when it is
 * 0 and calls fl_handler_dispatch otherwise. */
extern int32_t *fl_effect_handler_counts;
const char *fl_effect_name(int64_t op);
int64_t fl_effect_group(const char *name, int64_t len);   /* "io" -> effect id */
int64_t fl_effect_group_of(int64_t op);                   /* the effect of an operation */
fl_value fl_effect_short_name(int64_t op);                /* "print" for io:print, as a string */
void fl_effect_count_op(int64_t op, int32_t delta);
void fl_effect_count_group(int64_t group, int32_t delta);  /* every op of the effect, new ones too */
void fl_effect_counts_clear(void);
/* The default of `op`, or unhandled-effect when it has none. */
fl_value fl_perform_default(int64_t op, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest);
void fl_effect_init(void);   /* called by fl_init: registers every built-in effect's defaults */

/* Handler frames (handler.c). One frame per active `handler` form, linked
 * innermost first through `below`; the frames live on the C stack of
 * fl_with_handlers. fl_handler_top is the stack of the running task: the
 * scheduler saves and restores it on every switch, and a new task starts
 * with NULL (only the defaults, and the Python handlers, apply). */
typedef struct fl_handler_frame fl_handler_frame;
extern fl_handler_frame *fl_handler_top;
fl_value fl_handler_dispatch(int64_t op, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest);
void fl_error_effect_init(void);    /* handler.c: error:raise, error:catch */
void fl_error_catch_reset(void);
void fl_io_effect_init(void);       /* io.c */
void fl_state_effect_init(void);    /* state.c */
void fl_state_reset(void);
/* The default state operations themselves (state.c). */
fl_value fl_state_get(fl_value key);
fl_value fl_state_set(fl_value key, fl_value value);
fl_value fl_state_update(fl_value key, fl_value f, int64_t argc);
void fl_time_effect_init(void);     /* timeeff.c */
void fl_time_reset(void);
/* The default of time:sleep: blocks the whole process with nanosleep until
 * the scheduler replaces it with a suspension of the current task. */
fl_value fl_time_sleep_default(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2,
                               fl_value *rest);
void fl_random_effect_init(void);   /* random.c */
void fl_random_reseed(void);        /* from the OS */
void fl_dom_effect_init(void);      /* dom.c */
void fl_dom_reset(void);            /* a new program: no document root */
void fl_network_effect_init(void);  /* net.c */

/* Program stack and context switch (fiber.c). */
void fl_ctx_switch(void **save_sp, void *new_sp);
/* Lay out a fresh stack whose first switch calls fn(arg) (fn must never return). */
void *fl_ctx_prepare(void *stack_top, void (*fn)(void *), void *arg);
/* Fiber stacks: [guard, lo) is the guard region, [lo, top) the stack. */
#if defined(__SANITIZE_ADDRESS__)   /* ASan's redzones make C frames two to three times bigger */
#define FL_FIBER_STACK_BYTES (INT64_C(8) << 20)
#else
#define FL_FIBER_STACK_BYTES (INT64_C(2) << 20)
#endif
#define FL_FIBER_GUARD_BYTES (INT64_C(64) << 10)
typedef struct fl_stack {
    char *guard, *lo, *top;
    struct fl_stack *next_free;
} fl_stack;
fl_stack *fl_stack_acquire(void);    /* NULL when the address space or VMAs run out */
void fl_stack_release(fl_stack *s);
void fl_stack_release_all(void);     /* between runs only */
/* AddressSanitizer builds (FLUENTAI_SANITIZE=1) must hear of every stack switch, or
 * it clears the poison of frames a longjmp abandons on the wrong stack (fiber.c);
 * elsewhere these are empty inline functions. fl_stack_switch is fl_ctx_switch onto
 * [new_lo, new_top); a fresh stack's first function calls fl_stack_entered, which
 * gives the bounds of the stack it came from (NULL pointers: not wanted);
 * fl_stack_landed: a longjmp brought us onto [lo, top); fl_stack_unpoison forgets
 * the redzones of abandoned frames in [lo, hi). */
#if defined(__SANITIZE_ADDRESS__)
#define FL_ASAN 1
void fl_stack_switch(void **save_sp, void *new_sp, const char *new_lo, const char *new_top);
void fl_stack_entered(const char **from_lo, const char **from_top);
void fl_stack_landed(const char *lo, const char *top);
void fl_stack_unpoison(const char *lo, const char *hi);
#else
#define FL_ASAN 0
static inline void fl_stack_switch(void **save_sp, void *new_sp, const char *new_lo, const char *new_top)
{
    (void)new_lo; (void)new_top;
    fl_ctx_switch(save_sp, new_sp);
}
static inline void fl_stack_entered(const char **from_lo, const char **from_top) { (void)from_lo; (void)from_top; }
static inline void fl_stack_landed(const char *lo, const char *top) { (void)lo; (void)top; }
static inline void fl_stack_unpoison(const char *lo, const char *hi) { (void)lo; (void)hi; }
#endif

/* ---- tasks: what sched.c, promise.c, chan.c and timer.c share ---- */
extern fl_catch *fl_catch_top;
extern const fl_builtin_def fl_chan_builtins[];     /* chan.c: chan send! recv! receive! close! */
extern const fl_builtin_def fl_promise_builtins[];  /* promise.c: spawn promise */
void fl_tasks_init(void);            /* fl_init, after fl_effect_init: defaults, printers */
void fl_promise_init(void);          /* promise.c: printer, async:*, concurrent:spawn/join */
void fl_chan_init(void);             /* chan.c: printer, concurrent:channel/send/receive/close */
void fl_timer_effects_init(void);    /* timer.c: time:sleep suspends the running task only */
/* Hooks of fl_run (error.c): the outermost run makes the program the main
 * task; leaving it turns a deadlock or unawaited task failures into the
 * outcome and frees every task. Nested runs (calls from Python handlers)
 * only count, because a task must not block under Python frames. */
void fl_sched_enter_run(int depth, fl_catch *run_frame, char *program_stack_top);
void fl_sched_leave_run(int depth, fl_outcome *out);
int fl_task_guard_hit(const void *addr);    /* async-signal-safe: in the running task's guard? */
/* The report fl_run would print for an error raised at loc (error.c), with its chain of calls. */
fl_value fl_error_report(fl_value error, int64_t loc, const fl_chain *chain);

typedef struct fl_task fl_task;
enum fl_wait_kind {
    FL_WAIT_NONE, FL_WAIT_RECV, FL_WAIT_RECEIVE, FL_WAIT_SEND, FL_WAIT_SELECT,
    FL_WAIT_AWAIT, FL_WAIT_SLEEP, FL_WAIT_FD
};
fl_task *fl_task_self(void);
/* Park the running task (what it waits on is kept for deadlock reports) until
 * fl_task_wake; other tasks run meanwhile. */
void fl_task_block(int32_t wait_kind, fl_value waits_on);
/* Raises unless the running task may block; call it before queueing a waiter. */
void fl_task_may_block(void);
void fl_task_wake(fl_task *t);
int64_t fl_task_block_serial(fl_task *t);   /* changes at every block: stale timers are ignored */
extern int64_t fl_sched_epoch;               /* changes after every run: older waiter queues are stale */
/* Promises, for the scheduler. */
fl_value fl_promise_for_task(int64_t task_id, int64_t spawn_loc);
void fl_promise_fail(fl_value p, fl_value error, int64_t loc);   /* reject with an error map */
int fl_promise_observed(fl_value p);   /* awaited, or chained on (then, all, race, adoption) */
void fl_promise_describe(fl_buf *b, fl_value p);  /* "promise of task 3 (spawned at f.fl:2:1)" */
int64_t fl_chan_loc(fl_value ch);
void fl_write_loc(fl_buf *b, int64_t loc);        /* "prog.fl:3:1" from a location id */
/* Timers and the poller (timer.c). */
int64_t fl_now_ns(void);
void fl_timer_wake_task(fl_task *t, int64_t deadline_ns);
void fl_timer_resolve(fl_value p, fl_value v, int64_t deadline_ns);
void fl_timers_fire_due(void);
int fl_idle_wait(void);       /* sleep until a timer or fd is due; 0: nothing to wait for */
void fl_timers_reset(void);

#endif
