/* dom.c -- the default handlers of the dom effect: an HTML document tree
 * (LANGUAGE.md section 7, "The dom effect in detail").
 *
 * In:  dom:create-element tag, text s, h tag attrs children,
 *      set-attribute n k v, get-attribute n k, set-text n s, get-text n,
 *      append-child parent child, remove-child parent child, set-root n,
 *      get-root, query-selector sel, add-event-listener n event fn,
 *      dispatch n event data?, serialize n.
 * Out: nodes (FL_K_DOM_NODE values, written `#<dom-node div>`), strings,
 *      nil; the listeners' calls for dispatch.
 *
 * A node is a GC object like any other value: its tag, attributes (an
 * insertion-ordered persistent map of strings, map.c), listeners (a map from
 * event name to the list of functions in the order they were added), parent
 * and a growable child array, so appending is amortised O(1) and a 10^5-node
 * tree builds in linear time. A node has at most one parent: appending a node
 * that already has one moves it, as the browser DOM does. Every walk of a tree
 * (get-text, serialize, query-selector) uses an explicit stack, so a chain
 * 10^5 deep costs heap, not C stack. The document root is one per program run,
 * like the state store.
 */
#include <string.h>

#include "fluentai.h"

#define DEFAULT(cname) \
    static fl_value cname(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)

typedef struct dom_node {
    fl_header hdr;          /* aux: 1 for a text node */
    fl_value tag;           /* element: the tag (a string); text node: the text */
    fl_value attrs;         /* map string -> string, insertion order */
    fl_value listeners;     /* map event (string) -> list of functions, in the order added */
    fl_value parent;        /* the parent node, or FL_NIL */
    fl_value *children;     /* GC array of nodes */
    int64_t nchildren, capacity;
} dom_node;

#define NODE(v) ((dom_node *)FL_PTR(v))
#define IS_NODE(v) FL_IS_KIND(v, FL_K_DOM_NODE)
#define IS_TEXT(v) (NODE(v)->hdr.aux == 1)

static fl_value document_root;   /* .bss: Boehm scans it */

void fl_dom_reset(void)
{
    document_root = FL_NIL;
}

/* ---- argument checks ---- */

static fl_value node_arg(const char *op, fl_value v, int64_t argc)
{
    if (!IS_NODE(v))
        fl_type_fail(op, "a dom node", v, FL_LOCOF(argc));
    return v;
}

static fl_value element_arg(const char *op, fl_value v, int64_t argc)
{
    node_arg(op, v, argc);
    if (IS_TEXT(v))
        fl_raise("value-error", FL_LOCOF(argc), "`%s` expects an element, got a text node", op);
    return v;
}

static fl_value string_arg(const char *op, const char *what, fl_value v, int64_t argc)
{
    if (!FL_IS_STRING(v))
        fl_type_fail(op, what, v, FL_LOCOF(argc));
    return v;
}

/* Tag names and the names in selectors: letters, digits, '-' and '_', not empty. */
static int is_name(const char *s, int64_t n)
{
    if (n == 0)
        return 0;
    for (int64_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* ---- nodes ---- */

static fl_value new_node(fl_value tag, int text)
{
    dom_node *n = fl_alloc(sizeof *n);
    n->hdr.kind = FL_K_DOM_NODE;
    n->hdr.aux = (uint32_t)text;
    n->tag = tag;
    n->attrs = fl_map_empty();
    n->listeners = fl_map_empty();
    n->parent = FL_NIL;
    n->children = NULL;
    return FL_HEAP(n);
}

static fl_value new_element(const char *op, fl_value tag, int64_t argc)
{
    string_arg(op, "a tag name (a string)", tag, argc);
    if (!is_name(FL_STR(tag)->bytes, FL_STR(tag)->nbytes))
        fl_raise("value-error", FL_LOCOF(argc), "`%s`: %s is not a valid tag name", op,
                 FL_STR(fl_show(tag))->bytes);
    return new_node(tag, 0);
}

static void detach(fl_value child)
{
    dom_node *p = NODE(child)->parent == FL_NIL ? NULL : NODE(NODE(child)->parent);
    if (!p)
        return;
    for (int64_t i = 0; i < p->nchildren; i++) {
        if (p->children[i] == child) {
            memmove(&p->children[i], &p->children[i + 1], (size_t)(p->nchildren - i - 1) * sizeof(fl_value));
            p->children[--p->nchildren] = 0;
            break;
        }
    }
    NODE(child)->parent = FL_NIL;
}

/* Appending `child` under `parent` must not make a cycle. Only a node with
 * children can be an ancestor, so building a tree top-down or bottom-up never
 * walks the ancestors: the check is O(1) there and O(depth) otherwise. */
static void append(const char *op, fl_value parent, fl_value child, int64_t argc)
{
    if (child == parent)
        fl_raise("value-error", FL_LOCOF(argc), "`%s`: cannot append a node to itself", op);
    if (NODE(child)->nchildren > 0) {
        for (fl_value a = NODE(parent)->parent; a != FL_NIL; a = NODE(a)->parent)
            if (a == child)
                fl_raise("value-error", FL_LOCOF(argc), "`%s`: cannot append a node to its own descendant", op);
    }
    detach(child);
    dom_node *p = NODE(parent);
    if (p->nchildren == p->capacity) {
        int64_t capacity = p->capacity ? p->capacity * 2 : 4;
        fl_value *grown = fl_alloc(capacity * (int64_t)sizeof(fl_value));
        if (p->nchildren)
            memcpy(grown, p->children, (size_t)p->nchildren * sizeof(fl_value));
        p->children = grown;
        p->capacity = capacity;
    }
    p->children[p->nchildren++] = child;
    NODE(child)->parent = parent;
}

static void remove_all_children(fl_value parent)
{
    dom_node *p = NODE(parent);
    for (int64_t i = 0; i < p->nchildren; i++)
        NODE(p->children[i])->parent = FL_NIL;
    p->children = NULL;
    p->nchildren = p->capacity = 0;
}

/* ---- walks with an explicit stack ---- */

/* A stack of (node, next child index) for pre-order walks. */
typedef struct walk_frame { fl_value node; int64_t next; } walk_frame;
typedef struct walk { walk_frame *frames; int64_t len, cap; } walk;

static void walk_push(walk *w, fl_value node)
{
    if (w->len == w->cap) {
        int64_t cap = w->cap ? w->cap * 2 : 16;
        walk_frame *grown = fl_alloc(cap * (int64_t)sizeof *grown);
        if (w->len)
            memcpy(grown, w->frames, (size_t)w->len * sizeof *grown);
        w->frames = grown;
        w->cap = cap;
    }
    w->frames[w->len].node = node;
    w->frames[w->len].next = 0;
    w->len++;
}

static void collect_text(fl_buf *b, fl_value root)
{
    walk w = {0};
    walk_push(&w, root);
    while (w.len) {
        walk_frame *f = &w.frames[w.len - 1];
        dom_node *n = NODE(f->node);
        if (n->hdr.aux == 1) {
            fl_buf_put(b, FL_STR(n->tag)->bytes, FL_STR(n->tag)->nbytes);
            w.len--;
        } else if (f->next < n->nchildren) {
            walk_push(&w, n->children[f->next++]);
        } else {
            w.len--;
        }
    }
}

static void put_escaped(fl_buf *b, fl_value s, int attribute)
{
    const char *p = FL_STR(s)->bytes;
    int64_t n = FL_STR(s)->nbytes, start = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *entity = NULL;
        switch (p[i]) {
        case '&': entity = "&amp;"; break;
        case '<': entity = "&lt;"; break;
        case '>': entity = "&gt;"; break;
        case '"': entity = attribute ? "&quot;" : NULL; break;
        }
        if (entity) {
            fl_buf_put(b, p + start, i - start);
            fl_buf_puts(b, entity);
            start = i + 1;
        }
    }
    fl_buf_put(b, p + start, n - start);
}

static void open_tag(fl_buf *b, dom_node *n)
{
    fl_buf_put(b, "<", 1);
    fl_buf_put(b, FL_STR(n->tag)->bytes, FL_STR(n->tag)->nbytes);
    int64_t nattrs = fl_map_size(n->attrs);
    for (int64_t i = 0; i < nattrs; i++) {
        fl_value k = fl_map_key_at(n->attrs, i);
        fl_buf_put(b, " ", 1);
        fl_buf_put(b, FL_STR(k)->bytes, FL_STR(k)->nbytes);
        fl_buf_put(b, "=\"", 2);
        put_escaped(b, fl_map_value_at(n->attrs, i), 1);
        fl_buf_put(b, "\"", 1);
    }
    fl_buf_put(b, ">", 1);
}

static void serialize(fl_buf *b, fl_value root)
{
    walk w = {0};
    walk_push(&w, root);
    while (w.len) {
        walk_frame *f = &w.frames[w.len - 1];
        dom_node *n = NODE(f->node);
        if (n->hdr.aux == 1) {
            put_escaped(b, n->tag, 0);
            w.len--;
            continue;
        }
        if (f->next == 0)
            open_tag(b, n);
        if (f->next < n->nchildren) {
            walk_push(&w, n->children[f->next++]);
        } else {
            fl_buf_put(b, "</", 2);
            fl_buf_put(b, FL_STR(n->tag)->bytes, FL_STR(n->tag)->nbytes);
            fl_buf_put(b, ">", 1);
            w.len--;
        }
    }
}

/* ---- selectors: `tag`, `#id`, `.class` ---- */

typedef struct selector { char kind; const char *name; int64_t len; } selector;

static int has_class(dom_node *n, const selector *s)
{
    static fl_value class_key;
    if (!class_key)
        class_key = fl_string_from_cstr("class");
    fl_value classes = fl_map_get(n->attrs, class_key, FL_NIL);
    if (classes == FL_NIL)
        return 0;
    const char *p = FL_STR(classes)->bytes, *end = p + FL_STR(classes)->nbytes;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f'))
            p++;
        const char *word = p;
        while (p < end && !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f'))
            p++;
        if (p - word == s->len && memcmp(word, s->name, (size_t)s->len) == 0)
            return 1;
    }
    return 0;
}

static int matches(dom_node *n, const selector *s)
{
    if (n->hdr.aux == 1)
        return 0;
    if (s->kind == 't')
        return FL_STR(n->tag)->nbytes == s->len && memcmp(FL_STR(n->tag)->bytes, s->name, (size_t)s->len) == 0;
    if (s->kind == '#') {
        static fl_value id_key;
        if (!id_key)
            id_key = fl_string_from_cstr("id");
        fl_value id = fl_map_get(n->attrs, id_key, FL_NIL);
        return id != FL_NIL && FL_STR(id)->nbytes == s->len && memcmp(FL_STR(id)->bytes, s->name, (size_t)s->len) == 0;
    }
    return has_class(n, s);
}

static fl_value query(fl_value root, const selector *s)
{
    walk w = {0};
    walk_push(&w, root);
    if (matches(NODE(root), s))
        return root;
    while (w.len) {
        walk_frame *f = &w.frames[w.len - 1];
        dom_node *n = NODE(f->node);
        if (f->next < n->nchildren) {
            fl_value child = n->children[f->next++];
            if (matches(NODE(child), s))
                return child;
            walk_push(&w, child);
        } else {
            w.len--;
        }
    }
    return FL_NIL;
}

/* ---- the operations ---- */

DEFAULT(dom_create_element)
{
    fl_arity_check("dom:create-element", argc, 1, 1);
    return new_element("dom:create-element", a0, argc);
}

DEFAULT(dom_text)
{
    fl_arity_check("dom:text", argc, 1, 1);
    string_arg("dom:text", "a string", a0, argc);
    return new_node(a0, 1);
}

static void set_attribute(const char *op, fl_value node, fl_value k, fl_value v, int64_t argc)
{
    string_arg(op, "an attribute name (a string)", k, argc);
    if (!is_name(FL_STR(k)->bytes, FL_STR(k)->nbytes))
        fl_raise("value-error", FL_LOCOF(argc), "`%s`: %s is not a valid attribute name", op,
                 FL_STR(fl_show(k))->bytes);
    string_arg(op, "an attribute value (a string)", v, argc);
    NODE(node)->attrs = fl_map_set(NODE(node)->attrs, k, v);
}

/* (dom:h tag attrs children): children are nodes, or strings as text nodes. */
DEFAULT(dom_h)
{
    fl_arity_check("dom:h", argc, 3, 3);
    fl_value node = new_element("dom:h", a0, argc);
    if (!FL_IS_KIND(a1, FL_K_MAP))
        fl_type_fail("dom:h", "a map of attributes", a1, FL_LOCOF(argc));
    int64_t nattrs = fl_map_size(a1);
    for (int64_t i = 0; i < nattrs; i++)
        set_attribute("dom:h", node, fl_map_key_at(a1, i), fl_map_value_at(a1, i), argc);
    if (!FL_IS_LIST(a2))
        fl_type_fail("dom:h", "a list of children", a2, FL_LOCOF(argc));
    for (fl_value xs = a2; xs != FL_EMPTY; xs = FL_PAIR(xs)->tail) {
        fl_value child = FL_PAIR(xs)->head;
        if (FL_IS_STRING(child))
            child = new_node(child, 1);
        else if (!IS_NODE(child))
            fl_type_fail("dom:h", "children that are dom nodes or strings", child, FL_LOCOF(argc));
        append("dom:h", node, child, argc);
    }
    return node;
}

DEFAULT(dom_set_attribute)
{
    fl_arity_check("dom:set-attribute", argc, 3, 3);
    element_arg("dom:set-attribute", a0, argc);
    set_attribute("dom:set-attribute", a0, a1, a2, argc);
    return FL_NIL;
}

DEFAULT(dom_get_attribute)
{
    fl_arity_check("dom:get-attribute", argc, 2, 2);
    element_arg("dom:get-attribute", a0, argc);
    string_arg("dom:get-attribute", "an attribute name (a string)", a1, argc);
    return fl_map_get(NODE(a0)->attrs, a1, FL_NIL);
}

DEFAULT(dom_set_text)
{
    fl_arity_check("dom:set-text", argc, 2, 2);
    node_arg("dom:set-text", a0, argc);
    string_arg("dom:set-text", "a string", a1, argc);
    if (IS_TEXT(a0)) {
        NODE(a0)->tag = a1;
        return FL_NIL;
    }
    remove_all_children(a0);
    append("dom:set-text", a0, new_node(a1, 1), argc);
    return FL_NIL;
}

DEFAULT(dom_get_text)
{
    fl_arity_check("dom:get-text", argc, 1, 1);
    node_arg("dom:get-text", a0, argc);
    fl_buf b;
    fl_buf_init(&b);
    collect_text(&b, a0);
    return fl_buf_to_string(&b);
}

DEFAULT(dom_append_child)
{
    fl_arity_check("dom:append-child", argc, 2, 2);
    element_arg("dom:append-child", a0, argc);
    node_arg("dom:append-child", a1, argc);
    append("dom:append-child", a0, a1, argc);
    return a1;
}

DEFAULT(dom_remove_child)
{
    fl_arity_check("dom:remove-child", argc, 2, 2);
    element_arg("dom:remove-child", a0, argc);
    node_arg("dom:remove-child", a1, argc);
    if (NODE(a1)->parent != a0)
        fl_raise("value-error", FL_LOCOF(argc), "`dom:remove-child`: the node is not a child of this parent");
    detach(a1);
    return a1;
}

DEFAULT(dom_set_root)
{
    fl_arity_check("dom:set-root", argc, 1, 1);
    document_root = node_arg("dom:set-root", a0, argc);
    return FL_NIL;
}

DEFAULT(dom_get_root)
{
    fl_arity_check("dom:get-root", argc, 0, 0);
    return document_root;
}

DEFAULT(dom_query_selector)
{
    fl_arity_check("dom:query-selector", argc, 1, 1);
    string_arg("dom:query-selector", "a selector (a string)", a0, argc);
    const char *text = FL_STR(a0)->bytes;
    int64_t n = FL_STR(a0)->nbytes;
    selector s = {'t', text, n};
    if (n > 0 && (text[0] == '#' || text[0] == '.')) {
        s.kind = text[0];
        s.name = text + 1;
        s.len = n - 1;
    }
    if (!is_name(s.name, s.len))
        fl_raise("value-error", FL_LOCOF(argc),
                 "`dom:query-selector`: bad selector %s (expected `tag`, `#id` or `.class`)",
                 FL_STR(fl_show(a0))->bytes);
    if (document_root == FL_NIL)
        return FL_NIL;
    return query(document_root, &s);
}

DEFAULT(dom_add_event_listener)
{
    fl_arity_check("dom:add-event-listener", argc, 3, 3);
    node_arg("dom:add-event-listener", a0, argc);
    string_arg("dom:add-event-listener", "an event name (a string)", a1, argc);
    if (!FL_IS_CLOSURE(a2))
        fl_type_fail("dom:add-event-listener", "a function", a2, FL_LOCOF(argc));
    dom_node *n = NODE(a0);
    fl_list_builder b;
    fl_list_builder_init(&b);
    for (fl_value xs = fl_map_get(n->listeners, a1, FL_EMPTY); xs != FL_EMPTY; xs = FL_PAIR(xs)->tail)
        fl_list_builder_push(&b, FL_PAIR(xs)->head);
    fl_list_builder_push(&b, a2);
    n->listeners = fl_map_set(n->listeners, a1, b.head);
    return FL_NIL;
}

/* The listeners are those registered when the dispatch starts: one added by
 * a listener runs from the next dispatch on. */
DEFAULT(dom_dispatch)
{
    fl_arity_check("dom:dispatch", argc, 2, 3);
    node_arg("dom:dispatch", a0, argc);
    string_arg("dom:dispatch", "an event name (a string)", a1, argc);
    fl_value data = FL_NARGS(argc) == 3 ? a2 : FL_NIL;
    fl_value event = fl_map_empty();
    event = fl_map_set(event, fl_string_from_cstr("type"), a1);
    event = fl_map_set(event, fl_string_from_cstr("target"), a0);
    event = fl_map_set(event, fl_string_from_cstr("data"), data);
    for (fl_value xs = fl_map_get(NODE(a0)->listeners, a1, FL_EMPTY); xs != FL_EMPTY; xs = FL_PAIR(xs)->tail)
        fl_call1(FL_PAIR(xs)->head, FL_ARGC(1, FL_LOCOF(argc)), event);
    return FL_NIL;
}

DEFAULT(dom_serialize)
{
    fl_arity_check("dom:serialize", argc, 1, 1);
    node_arg("dom:serialize", a0, argc);
    fl_buf b;
    fl_buf_init(&b);
    serialize(&b, a0);
    return fl_buf_to_string(&b);
}

static void print_node(fl_buf *b, fl_value v)
{
    fl_buf_puts(b, "#<dom-node ");
    if (IS_TEXT(v))
        fl_buf_puts(b, "#text");
    else
        fl_buf_put(b, FL_STR(NODE(v)->tag)->bytes, FL_STR(NODE(v)->tag)->nbytes);
    fl_buf_puts(b, ">");
}

void fl_dom_effect_init(void)
{
    fl_dom_reset();
    fl_set_printer(FL_K_DOM_NODE, print_node);
    fl_effect_set_default("dom:create-element", dom_create_element);
    fl_effect_set_default("dom:text", dom_text);
    fl_effect_set_default("dom:h", dom_h);
    fl_effect_set_default("dom:set-attribute", dom_set_attribute);
    fl_effect_set_default("dom:get-attribute", dom_get_attribute);
    fl_effect_set_default("dom:set-text", dom_set_text);
    fl_effect_set_default("dom:get-text", dom_get_text);
    fl_effect_set_default("dom:append-child", dom_append_child);
    fl_effect_set_default("dom:remove-child", dom_remove_child);
    fl_effect_set_default("dom:set-root", dom_set_root);
    fl_effect_set_default("dom:get-root", dom_get_root);
    fl_effect_set_default("dom:query-selector", dom_query_selector);
    fl_effect_set_default("dom:add-event-listener", dom_add_event_listener);
    fl_effect_set_default("dom:dispatch", dom_dispatch);
    fl_effect_set_default("dom:serialize", dom_serialize);
}
