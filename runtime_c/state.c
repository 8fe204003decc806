/* state.c -- the default handlers of the state effect (LANGUAGE.md section 7).
 *
 * In:  state:get k, set k v, update k f, delete k, clear, and the nestable
 *      begin-transaction / commit-transaction / rollback-transaction.
 * Out: get: the value or nil; set: the previous value (nil if unset);
 *      update: the new value (f old); delete: the removed value (nil if
 *      unset); the others nil.
 *
 * The store is one immutable map (map.c, keys by structural equality), so a
 * transaction is a snapshot: begin pushes the current map, commit drops the
 * snapshot, rollback puts it back. Each costs O(1), whatever the store size.
 * The store and the snapshots live in .bss, where Boehm finds them.
 */
#include "fluentai.h"

#define DEFAULT(cname) \
    static fl_value cname(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)

static fl_value store;       /* the map */
static fl_value snapshots;   /* list of maps, innermost transaction first */

void fl_state_reset(void)
{
    store = fl_map_empty();
    snapshots = FL_EMPTY;
}

DEFAULT(state_get)
{
    fl_arity_check("state:get", argc, 1, 1);
    return fl_map_get(store, a0, FL_NIL);
}

DEFAULT(state_set)
{
    fl_arity_check("state:set", argc, 2, 2);
    fl_value previous = fl_map_get(store, a0, FL_NIL);
    store = fl_map_set(store, a0, a1);
    return previous;
}

/* The store is read again after f returns: f may itself use the state effect. */
DEFAULT(state_update)
{
    fl_arity_check("state:update", argc, 2, 2);
    if (!FL_IS_CLOSURE(a1))
        fl_type_fail("state:update", "a function", a1, FL_LOCOF(argc));
    fl_value updated = fl_call1(a1, argc, fl_map_get(store, a0, FL_NIL));
    store = fl_map_set(store, a0, updated);
    return updated;
}

DEFAULT(state_delete)
{
    fl_arity_check("state:delete", argc, 1, 1);
    fl_value previous = fl_map_get(store, a0, FL_NIL);
    store = fl_map_remove(store, a0);
    return previous;
}

DEFAULT(state_clear)
{
    fl_arity_check("state:clear", argc, 0, 0);
    store = fl_map_empty();
    return FL_NIL;
}

DEFAULT(state_begin)
{
    fl_arity_check("state:begin-transaction", argc, 0, 0);
    snapshots = fl_cons(store, snapshots, FL_LOCOF(argc));
    return FL_NIL;
}

static fl_value pop_snapshot(const char *op, int64_t argc)
{
    fl_arity_check(op, argc, 0, 0);
    if (snapshots == FL_EMPTY)
        fl_raise("value-error", FL_LOCOF(argc), "`%s` without a matching `state:begin-transaction`", op);
    fl_value snapshot = FL_PAIR(snapshots)->head;
    snapshots = FL_PAIR(snapshots)->tail;
    return snapshot;
}

DEFAULT(state_commit)
{
    pop_snapshot("state:commit-transaction", argc);
    return FL_NIL;
}

DEFAULT(state_rollback)
{
    store = pop_snapshot("state:rollback-transaction", argc);
    return FL_NIL;
}

void fl_state_effect_init(void)
{
    fl_state_reset();
    fl_effect_set_default("state:get", state_get);
    fl_effect_set_default("state:set", state_set);
    fl_effect_set_default("state:update", state_update);
    fl_effect_set_default("state:delete", state_delete);
    fl_effect_set_default("state:clear", state_clear);
    fl_effect_set_default("state:begin-transaction", state_begin);
    fl_effect_set_default("state:commit-transaction", state_commit);
    fl_effect_set_default("state:rollback-transaction", state_rollback);
}
