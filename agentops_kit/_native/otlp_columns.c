/* OTLP/JSON lines -> canonical step columns, without a Python object per span.
 *
 * The compiled twin of readers/otlp.py + Conventions.step/hints for the common case. It is strict: any
 * line it cannot turn into exactly the rows the Python reader would produce (bad JSON, an unexpected
 * type, an empty id, a timestamp in the wrong unit, a string that would need Unicode case folding...)
 * is handed back to Python untouched, which reads it (and rejects what must be rejected) as before.
 * Conventions stay defined in Python: the attribute keys and value tables arrive in a "spec".
 *
 * Columns are built in Arrow layout (columns.h) and handed to polars through the Arrow C data
 * interface (arrow_export.h); attribute values are written as JSON text the way orjson writes it
 * (json_text.h).
 */
#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrow_export.h"
#include "columns.h"
#include "json_text.h"
#include "yyjson/yyjson.h"

#define MIN_NS 978307200000000000LL  /* 2001-01-01: see readers/spans.py check_ns */
#define MAX_NS 4102444800000000000LL /* 2100-01-01 */
#define MAX_DEPTH 64
#define MAX_ATTRS 256 /* per span, and per kvlist: duplicate keys are found by a linear scan, so more go to Python */

/* ------------------------------------------------------------------ the spec (conventions from Python) */

enum { /* attribute key lists, in the order the Python side passes them */
    F_KIND, F_DECISION, F_APPROVER, F_TOOL, F_MODEL, F_IN_TOK, F_OUT_TOK, F_CACHED, F_COST_TOTAL,
    F_COST_PAIRS, F_ERROR, F_MODE, F_OUTCOME, F_AGENT, F_AGENT_VERSION, F_WORKFLOW, F_FALLBACK,
    F_TOOL_INPUT, F_INPUT, F_OUTPUT, F_OI_KIND, F_GENAI_OP, F_SESSION, F_PROVIDER, F_CACHE_WRITE, F_REASONING,
    /* value tables */
    T_STEP_KINDS, T_APPROVAL_NAMES, T_OI_FROM, T_OI_TO, T_OP_FROM, T_OP_TO, T_FLAGS, N_LISTS
};

typedef struct { const char *s; size_t n; uint64_t fp; int id; } Str; /* id: slot of a looked-up key, or -1 */

/* A cheap fingerprint of a key (its length and first and last 8 bytes): compared before the bytes. */
static inline uint64_t fingerprint(const char *s, size_t n) {
    uint64_t head = 0, tail = 0;
    memcpy(&head, s, n < 8 ? n : 8);
    if (n > 8) memcpy(&tail, s + n - 8, 8);
    return (head * 0x9E3779B97F4A7C15ULL) ^ (tail + n) * 0xC2B2AE3D27D4EB4FULL;
}

typedef struct { Str *items; Py_ssize_t n; } List;


/* Every attribute key the conventions look up gets an id, found by fingerprint in an open-addressing
 * table: a span records where each such key sits as its attributes are read, so look-ups are O(1). */
typedef struct { List l[N_LISTS]; int has_action_patterns; void *decoder; Str **table; size_t mask; int n_keys; } Spec;

static int key_id(const Spec *sp, uint64_t fp, const char *s, size_t n) {
    for (size_t i = fp & sp->mask;; i = (i + 1) & sp->mask) {
        const Str *k = sp->table[i];
        if (!k) return -1;
        if (k->fp == fp && k->n == n && memcmp(k->s, s, n) == 0) return k->id;
    }
}

static int index_keys(Spec *sp) {
    size_t total = 0, size = 16;
    for (int i = 0; i < T_STEP_KINDS; i++) total += (size_t)sp->l[i].n;
    while (size < 4 * total) size *= 2;
    sp->table = calloc(size, sizeof *sp->table);
    if (!sp->table) return -1;
    sp->mask = size - 1;
    for (int i = 0; i < N_LISTS; i++)
        for (Py_ssize_t j = 0; j < sp->l[i].n; j++) {
            Str *k = &sp->l[i].items[j];
            k->id = -1;
            if (i >= T_STEP_KINDS) continue; /* value tables, not keys */
            k->id = key_id(sp, k->fp, k->s, k->n);
            if (k->id >= 0) continue;
            size_t at = k->fp & sp->mask;
            while (sp->table[at]) at = (at + 1) & sp->mask;
            sp->table[at] = k;
            k->id = sp->n_keys++;
        }
    return 0;
}

static void decoder_free(void *decoder);

static void spec_free(PyObject *capsule) {
    Spec *spec = PyCapsule_GetPointer(capsule, "otlp_columns.spec");
    if (!spec) return;
    decoder_free(spec->decoder);
    free(spec->table);
    for (int i = 0; i < N_LISTS; i++) {
        for (Py_ssize_t j = 0; j < spec->l[i].n; j++) free((char *)spec->l[i].items[j].s);
        free(spec->l[i].items);
    }
    free(spec);
}

static PyObject *make_spec(PyObject *self, PyObject *args) {
    PyObject *lists;
    if (!PyArg_ParseTuple(args, "O!", &PyTuple_Type, &lists)) return NULL;
    if (PyTuple_GET_SIZE(lists) != N_LISTS) {
        PyErr_Format(PyExc_ValueError, "spec needs %d key lists, got %zd", N_LISTS, PyTuple_GET_SIZE(lists));
        return NULL;
    }
    Spec *spec = calloc(1, sizeof *spec);
    if (!spec) return PyErr_NoMemory();
    PyObject *capsule = PyCapsule_New(spec, "otlp_columns.spec", spec_free);
    if (!capsule) { free(spec); return NULL; }
    for (int i = 0; i < N_LISTS; i++) {
        PyObject *items = PyTuple_GET_ITEM(lists, i);
        if (!PyTuple_Check(items)) {
            PyErr_SetString(PyExc_TypeError, "each spec entry must be a tuple of str");
            Py_DECREF(capsule);
            return NULL;
        }
        Py_ssize_t n = PyTuple_GET_SIZE(items);
        spec->l[i].items = calloc((size_t)n + 1, sizeof(Str));
        if (!spec->l[i].items) { Py_DECREF(capsule); return PyErr_NoMemory(); }
        for (Py_ssize_t j = 0; j < n; j++) {
            Py_ssize_t len;
            const char *s = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(items, j), &len);
            if (!s) { Py_DECREF(capsule); return NULL; }
            char *copy = malloc((size_t)len + 1);
            if (!copy) { Py_DECREF(capsule); return PyErr_NoMemory(); }
            memcpy(copy, s, (size_t)len + 1);
            spec->l[i].items[j].s = copy;
            spec->l[i].items[j].n = (size_t)len;
            spec->l[i].items[j].fp = fingerprint(s, (size_t)len);
            spec->l[i].n = j + 1;
        }
    }
    spec->has_action_patterns = spec->l[T_FLAGS].n > 0;
    if (index_keys(spec)) { Py_DECREF(capsule); return PyErr_NoMemory(); }
    return capsule;
}

static Py_ssize_t list_find(const List *l, const char *s, size_t n) {
    for (Py_ssize_t i = 0; i < l->n; i++)
        if (l->items[i].n == n && memcmp(l->items[i].s, s, n) == 0) return i;
    return -1;
}

/* ------------------------------------------------------------------ decoded attribute values */

enum { A_NONE, A_STR, A_INT, A_DBL, A_BOOL, A_ARR, A_KV };

typedef struct { const char *k; size_t kn; uint64_t fp; int t; yyjson_val *x; int64_t i; double d; } Attr;
typedef struct {
    Attr *a;
    size_t n, cap;
    const Spec *sp;       /* set for a span's merged attributes: where/stamp index its known keys */
    int32_t *where;       /* key id -> index in a, valid where stamp[id] == gen */
    uint32_t *stamp, gen;
} Attrs;

#define BAIL (-2) /* this line goes back to the Python reader */
#define KEY_IS(key, literal) yyjson_equals_strn(key, literal, sizeof(literal) - 1) /* length first: NUL-safe */

static int falsy(yyjson_val *v) {
    if (!v) return 1;
    switch (yyjson_get_type(v)) {
        case YYJSON_TYPE_NULL: return 1;
        case YYJSON_TYPE_BOOL: return !yyjson_get_bool(v);
        case YYJSON_TYPE_NUM:
            if (yyjson_is_real(v)) return yyjson_get_real(v) == 0.0;
            return yyjson_get_uint(v) == 0;
        case YYJSON_TYPE_STR: return yyjson_get_len(v) == 0;
        case YYJSON_TYPE_ARR: return yyjson_arr_size(v) == 0;
        case YYJSON_TYPE_OBJ: return yyjson_obj_size(v) == 0;
        default: return 0;
    }
}

static int is_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

/* int(x) for a decimal string, as Python would give it for the strings exporters write. */
static int parse_int_text(const char *s, size_t n, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    if (n && s[0] == '-') { neg = 1; i = 1; }
    if (i == n || n - i > 19) return BAIL; /* empty, or beyond int64: Python decides */
    uint64_t v = 0; /* 19 digits fit */
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return BAIL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX) return BAIL;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int as_int64(yyjson_val *v, int64_t *out) {
    if (yyjson_is_sint(v)) { *out = yyjson_get_sint(v); return 0; }
    if (yyjson_is_uint(v)) {
        uint64_t u = yyjson_get_uint(v);
        if (u > INT64_MAX) return BAIL;
        *out = (int64_t)u;
        return 0;
    }
    if (yyjson_is_str(v)) return parse_int_text(yyjson_get_str(v), yyjson_get_len(v), out);
    return BAIL;
}

static int check_any(yyjson_val *v, int depth);

/* OTLP AnyValue -> Attr, as readers/otlp.py any_value does it; depth < 0: already checked. */
static int any_value(yyjson_val *v, Attr *a, int depth) {
    a->t = A_NONE;
    a->x = NULL;
    if (falsy(v)) return 0; /* `kv.get("value") or {}` */
    if (!yyjson_is_obj(v) || yyjson_obj_size(v) != 1) return BAIL; /* one kind per value; others: Python */
    yyjson_obj_iter it = yyjson_obj_iter_with(v);
    yyjson_val *key = yyjson_obj_iter_next(&it);
    yyjson_val *x = yyjson_obj_iter_get_val(key);
    if (KEY_IS(key, "stringValue") || KEY_IS(key, "bytesValue")) {
        if (!yyjson_is_str(x)) return BAIL;
        a->t = A_STR;
        a->x = x;
    } else if (KEY_IS(key, "boolValue")) {
        if (!yyjson_is_bool(x)) return BAIL;
        a->t = A_BOOL;
        a->i = yyjson_get_bool(x);
    } else if (KEY_IS(key, "intValue")) {
        if (as_int64(x, &a->i)) return BAIL;
        a->t = A_INT;
    } else if (KEY_IS(key, "doubleValue")) {
        if (yyjson_is_real(x)) a->d = yyjson_get_real(x);
        else if (yyjson_is_sint(x)) a->d = (double)yyjson_get_sint(x);
        else if (yyjson_is_uint(x)) a->d = (double)yyjson_get_uint(x);
        else return BAIL;
        if (!isfinite(a->d)) return BAIL;
        a->t = A_DBL;
    } else if (KEY_IS(key, "arrayValue") || KEY_IS(key, "kvlistValue")) {
        if (!yyjson_is_obj(x)) return BAIL;
        a->t = KEY_IS(key, "arrayValue") ? A_ARR : A_KV;
        a->x = x;
        if (depth >= 0) return depth > MAX_DEPTH ? BAIL : check_any(v, depth);
    } /* an unknown kind alone: None */
    return 0;
}

static yyjson_val *values_of(yyjson_val *container) { /* `x.get("values") or ()` */
    yyjson_val *vals = NULL;
    yyjson_obj_iter it = yyjson_obj_iter_with(container);
    yyjson_val *key;
    while ((key = yyjson_obj_iter_next(&it)))
        if (yyjson_equals_str(key, "values")) vals = yyjson_obj_iter_get_val(key);
    return vals;
}

/* The "key" and "value" of a kvlist entry; anything else in it is left to Python. */
static int kv_fields(yyjson_val *item, yyjson_val **key, yyjson_val **value) {
    *key = *value = NULL;
    if (!yyjson_is_obj(item)) return BAIL;
    yyjson_val *k;
    yyjson_obj_iter it = yyjson_obj_iter_with(item);
    while ((k = yyjson_obj_iter_next(&it))) {
        yyjson_val **slot = yyjson_equals_str(k, "key") ? key : yyjson_equals_str(k, "value") ? value : NULL;
        if (!slot || *slot) return BAIL;
        *slot = yyjson_obj_iter_get_val(k);
    }
    return yyjson_is_str(*key) ? 0 : BAIL;
}

/* An array or kvlist must be renderable exactly as Python would: no duplicate keys, no odd types. */
static int check_any(yyjson_val *v, int depth) {
    Attr a;
    yyjson_obj_iter it = yyjson_obj_iter_with(v);
    yyjson_val *key = yyjson_obj_iter_next(&it);
    yyjson_val *x = yyjson_obj_iter_get_val(key);
    int is_kv = yyjson_equals_str(key, "kvlistValue");
    yyjson_val *vals = values_of(x);
    if (falsy(vals)) return 0;
    if (!yyjson_is_arr(vals) || (is_kv && yyjson_arr_size(vals) > MAX_ATTRS)) return BAIL;
    size_t i, max;
    yyjson_val *item;
    yyjson_arr_foreach(vals, i, max, item) {
        yyjson_val *inner = item, *k;
        if (is_kv) {
            if (kv_fields(item, &k, &inner)) return BAIL;
            yyjson_arr_iter earlier = yyjson_arr_iter_with(vals);
            for (size_t j = 0; j < i; j++) { /* dict semantics for duplicates: leave to Python */
                yyjson_val *other = yyjson_obj_get(yyjson_arr_iter_next(&earlier), "key");
                if (yyjson_equals_strn(other, yyjson_get_str(k), yyjson_get_len(k))) return BAIL;
            }
        } else if (!yyjson_is_obj(item)) {
            return BAIL; /* array elements get no `or {}` in Python */
        }
        int rc = any_value(inner, &a, depth + 1);
        if (rc) return rc;
    }
    return 0;
}


static int put_json(Buf *b, const Attr *a);

static int put_container(Buf *b, const Attr *a) {
    int is_kv = a->t == A_KV;
    yyjson_val *vals = values_of(a->x);
    if (buf_putc(b, is_kv ? '{' : '[')) return -1;
    if (!falsy(vals)) {
        size_t i, max;
        yyjson_val *item;
        yyjson_arr_foreach(vals, i, max, item) {
            Attr inner;
            if (i && buf_putc(b, ',')) return -1;
            if (is_kv) {
                yyjson_val *k = yyjson_obj_get(item, "key");
                if (put_escaped(b, yyjson_get_str(k), yyjson_get_len(k)) || buf_putc(b, ':')) return -1;
                item = yyjson_obj_get(item, "value");
            }
            any_value(item, &inner, -1);
            if (put_json(b, &inner)) return -1;
        }
    }
    return buf_putc(b, is_kv ? '}' : ']');
}

static int put_json(Buf *b, const Attr *a) {
    switch (a->t) {
        case A_STR: return put_escaped(b, yyjson_get_str(a->x), yyjson_get_len(a->x));
        case A_INT: return put_int(b, a->i);
        case A_DBL: return put_double(b, a->d);
        case A_BOOL: return a->i ? buf_put(b, "true", 4) : buf_put(b, "false", 5);
        case A_ARR: case A_KV: return put_container(b, a);
        default: return buf_put(b, "null", 4);
    }
}

/* `_text(value)`: strings as they are, anything else as JSON; NULL -> null. */
static int col_text(Col *c, const Attr *a) {
    if (!a) return col_null(c);
    if (a->t == A_STR) return col_str(c, yyjson_get_str(a->x), yyjson_get_len(a->x));
    return put_json(&c->data, a) || col_end(c, 1);
}

/* ------------------------------------------------------------------ attribute look-ups (conventions.py) */

static void attrs_index(Attrs *m, size_t i) {
    if (!m->where) return;
    int id = key_id(m->sp, m->a[i].fp, m->a[i].k, m->a[i].kn);
    if (id >= 0) { m->where[id] = (int32_t)i; m->stamp[id] = m->gen; }
}

static int attrs_put(Attrs *m, const char *k, size_t kn, const Attr *v) {
    if (m->n >= MAX_ATTRS) return BAIL;
    uint64_t fp = fingerprint(k, kn);
    for (size_t i = 0; i < m->n; i++)
        if (m->a[i].fp == fp && m->a[i].kn == kn && memcmp(m->a[i].k, k, kn) == 0) { /* dict: first position, last value */
            m->a[i] = *v;
            m->a[i].k = k;
            m->a[i].kn = kn;
            m->a[i].fp = fp;
            return 0;
        }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 32;
        Attr *a = realloc(m->a, cap * sizeof *a);
        if (!a) return -1;
        m->a = a;
        m->cap = cap;
    }
    m->a[m->n] = *v;
    m->a[m->n].k = k;
    m->a[m->n].kn = kn;
    m->a[m->n].fp = fp;
    attrs_index(m, m->n);
    m->n++;
    return 0;
}

static const Attr *get(const Attrs *m, const Str *key) {
    if (m->where && key->id >= 0)
        return m->stamp[key->id] == m->gen ? &m->a[m->where[key->id]] : NULL;
    for (size_t i = 0; i < m->n; i++)
        if (m->a[i].fp == key->fp && m->a[i].kn == key->n && memcmp(m->a[i].k, key->s, key->n) == 0)
            return &m->a[i];
    return NULL;
}

static const Attr *first(const Attrs *m, const List *keys) { /* first value not None and not "" */
    for (Py_ssize_t j = 0; j < keys->n; j++) {
        const Attr *a = get(m, &keys->items[j]);
        if (a && a->t != A_NONE && !(a->t == A_STR && yyjson_get_len(a->x) == 0)) return a;
    }
    return NULL;
}

/* The attribute list of a resource or span (`attributes(items)`), merged into m. */
static int read_attributes(Attrs *m, yyjson_val *items) {
    if (falsy(items)) return 0;
    if (!yyjson_is_arr(items)) return BAIL;
    size_t i, max;
    yyjson_val *kv;
    yyjson_arr_foreach(items, i, max, kv) {
        if (!yyjson_is_obj(kv)) return BAIL;
        yyjson_val *key = NULL, *value = NULL, *k;
        yyjson_obj_iter it = yyjson_obj_iter_with(kv);
        while ((k = yyjson_obj_iter_next(&it))) {
            if (yyjson_equals_str(k, "key")) key = yyjson_obj_iter_get_val(k);
            else if (yyjson_equals_str(k, "value")) value = yyjson_obj_iter_get_val(k);
        }
        if (!yyjson_is_str(key)) return BAIL;
        Attr a;
        int rc = any_value(value, &a, 0);
        if (rc) return rc;
        if ((rc = attrs_put(m, yyjson_get_str(key), yyjson_get_len(key), &a))) return rc;
    }
    return 0;
}

/* str(value).lower() for the values mapped through the user's tables; ASCII only (else Python decides). */
static int put_lower_text(Col *c, const Attr *a) {
    if (!a) return col_null(c);
    if (a->t == A_INT) return put_int(&c->data, a->i) || col_end(c, 1);
    if (a->t == A_BOOL) return col_str(c, a->i ? "true" : "false", a->i ? 4 : 5);
    if (a->t != A_STR) return BAIL;
    const char *s = yyjson_get_str(a->x);
    size_t n = yyjson_get_len(a->x);
    if (!is_ascii(s, n) || buf_reserve(&c->data, n)) return is_ascii(s, n) ? -1 : BAIL;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        c->data.p[c->data.len++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    return col_end(c, 1);
}

static int lower_in(const List *l, const char *s, size_t n, int upper) {
    char tmp[128];
    if (n > sizeof tmp) return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (upper) tmp[i] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
        else tmp[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    return (int)list_find(l, tmp, n);
}

static int token_count(const Attr *a, int64_t *out) { /* as_int */
    switch (a->t) {
        case A_INT: *out = a->i; return 0;
        case A_STR: return parse_int_text(yyjson_get_str(a->x), yyjson_get_len(a->x), out);
        case A_DBL:
            if (fabs(a->d) >= 9.2e18) return BAIL;
            *out = (int64_t)a->d; /* int(float) truncates */
            return 0;
        default: return BAIL;
    }
}

static int number(const Attr *a, double *out) { /* float(value) for int and float values only */
    if (a->t == A_INT) { *out = (double)a->i; return 0; }
    if (a->t == A_DBL) { *out = a->d; return 0; }
    return BAIL;
}

static int reported_cost(const Spec *sp, const Attrs *m, double *out, int *has) {
    const Attr *total = first(m, &sp->l[F_COST_TOTAL]);
    *has = 0;
    if (total) { *has = 1; return number(total, out); }
    const List *pairs = &sp->l[F_COST_PAIRS];
    for (Py_ssize_t j = 0; j + 1 < pairs->n; j += 2) {
        const Attr *x = get(m, &pairs->items[j]), *y = get(m, &pairs->items[j + 1]);
        if (!x && !y) continue;
        double sum = 0, part;
        const Attr *both[2] = {x, y};
        for (int k = 0; k < 2; k++) { /* float(attrs.get(a) or 0.0) */
            const Attr *p = both[k];
            if (!p || p->t == A_NONE || (p->t == A_INT && p->i == 0) || (p->t == A_DBL && p->d == 0)) continue;
            if (number(p, &part)) return BAIL;
            sum += part;
        }
        *has = 1;
        *out = sum;
        return 0;
    }
    return 0;
}

/* ------------------------------------------------------------------ one span -> one row */

enum {
    C_RUN, C_STEP, C_PARENT, C_NAME, C_KIND, C_TOOL, C_START, C_END, C_STATUS, C_STATUS_MSG, C_ERROR,
    C_MODEL, C_IN_TOK, C_OUT_TOK, C_CACHED, C_COST, C_INPUT, C_OUTPUT, C_DECISION, C_APPROVER, C_ATTRS,
    C_LINE, C_AGENT, C_AGENT_VERSION, C_WORKFLOW, C_MODE, C_OUTCOME, C_FALLBACK, C_SESSION, C_PROVIDER,
    C_CACHE_WRITE, C_REASONING, N_STEP_COLS
};
static const char *STEP_NAMES[N_STEP_COLS] = {
    "run_id", "step_id", "parent_id", "name", "kind", "tool_name", "started_ns", "ended_ns", "status_code",
    "status_message", "error", "model", "input_tokens", "output_tokens", "cached_input_tokens", "cost_usd",
    "input", "output", "decision_text", "approver", "attributes", "source_line", "hint_agent",
    "hint_agent_version", "hint_workflow", "mode_text", "outcome_text", "hint_agent_fallback", "hint_session_id",
    "provider", "cache_write_input_tokens", "reasoning_output_tokens",
};
static const char STEP_TYPES[N_STEP_COLS + 1] = "ssssssiiisssiiifsssssissssssssii";
enum { S_RUN, S_STEP, S_DOC, S_VERSION, S_SCORE, N_SRC_COLS };
static const char *SRC_NAMES[N_SRC_COLS] = {"run_id", "step_id", "document_id", "version", "score"};
static const char SRC_TYPES[N_SRC_COLS + 1] = "ssssf";

typedef struct {
    const Spec *sp;
    Col steps[N_STEP_COLS], srcs[N_SRC_COLS];
    Attrs resource, attrs;
    Buf scratch;
    yyjson_alc *alc;
} Decoder;

static void decoder_free(void *decoder) {
    Decoder *d = decoder;
    if (!d) return;
    for (int i = 0; i < N_STEP_COLS; i++) col_free(&d->steps[i]);
    for (int i = 0; i < N_SRC_COLS; i++) col_free(&d->srcs[i]);
    free(d->resource.a);
    free(d->attrs.a);
    free(d->attrs.where);
    free(d->attrs.stamp);
    free(d->scratch.p);
    if (d->alc) yyjson_alc_dyn_free(d->alc);
    free(d);
}

static Decoder *decoder_for(Spec *sp) {
    Decoder *d = sp->decoder;
    if (!d) {
        d = sp->decoder = calloc(1, sizeof *d);
        int rc = !d;
        for (int i = 0; !rc && i < N_STEP_COLS; i++) rc |= col_init(&d->steps[i], STEP_TYPES[i]);
        for (int i = 0; !rc && i < N_SRC_COLS; i++) rc |= col_init(&d->srcs[i], SRC_TYPES[i]);
        if (!rc) d->alc = yyjson_alc_dyn_new();
        if (!rc) {
            size_t keys = (size_t)sp->n_keys + 1;
            d->attrs.sp = sp;
            d->attrs.where = calloc(keys, sizeof *d->attrs.where);
            d->attrs.stamp = calloc(keys, sizeof *d->attrs.stamp);
            rc = !d->attrs.where || !d->attrs.stamp;
        }
        if (rc || !d->alc) { decoder_free(d); sp->decoder = NULL; return NULL; }
        d->sp = sp;
    }
    for (int i = 0; i < N_STEP_COLS; i++) col_reset(&d->steps[i]);
    for (int i = 0; i < N_SRC_COLS; i++) col_reset(&d->srcs[i]);
    return d;
}

/* Appends the lower-cased hex id to out and sets *len (0 for an empty id where that is allowed). */
static int hex_id(yyjson_val *v, Buf *out, size_t *len, int allow_empty) {
    *len = 0;
    if (!v || yyjson_is_null(v) || (yyjson_is_str(v) && yyjson_get_len(v) == 0)) return allow_empty ? 0 : BAIL;
    if (!yyjson_is_str(v)) return BAIL;
    const char *s = yyjson_get_str(v);
    size_t n = yyjson_get_len(v);
    if (buf_reserve(out, n)) return -1;
    char *to = out->p + out->len;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'F') c = (char)(c + 32);
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return BAIL;
        to[i] = c;
    }
    out->len += n;
    *len = n;
    return 0;
}

static int timestamp(yyjson_val *v, int64_t *out, int *has) {
    *has = 0;
    if (!v || yyjson_is_null(v)) return 0;
    if (as_int64(v, out)) return BAIL;
    if (*out != 0 && (*out < MIN_NS || *out >= MAX_NS)) return BAIL; /* Python rejects it, with the unit */
    *has = 1;
    return 0;
}

typedef struct { int64_t n; const Attr *id, *score, *version, *meta; } Doc;

static int doc_cmp(const void *a, const void *b) {
    int64_t x = ((const Doc *)a)->n, y = ((const Doc *)b)->n;
    return (x > y) - (x < y);
}

static const char DOC_PREFIX[] = "retrieval.documents.";

/* `Conventions.retrieval_documents`: the documents of a retrieval span, in N order. */
static int retrieval_documents(Decoder *d, const Attrs *m, const char *run, size_t rn, const char *step, size_t sn) {
    Doc docs[64];
    size_t count = 0;
    const size_t plen = sizeof DOC_PREFIX - 1;
    for (size_t i = 0; i < m->n; i++) { /* ^retrieval\.documents\.(\d+)\.document\.(id|score|version|metadata)$ */
        const Attr *a = &m->a[i];
        if (a->kn <= plen || memcmp(a->k, DOC_PREFIX, plen) != 0) continue;
        if (!is_ascii(a->k, a->kn) || memchr(a->k, '\n', a->kn)) return BAIL; /* \d and $ as Python has them */
        const char *p = a->k + plen, *end = a->k + a->kn, *digits = p;
        int64_t n = 0;
        while (p < end && *p >= '0' && *p <= '9') { if (p - digits < 10) n = n * 10 + (*p - '0'); p++; }
        static const char mid[] = ".document.";
        size_t ml = sizeof mid - 1;
        if (p == digits || (size_t)(end - p) <= ml || memcmp(p, mid, ml) != 0) continue;
        const char *field = p + ml;
        size_t fn = (size_t)(end - field);
        int which = fn == 2 && !memcmp(field, "id", 2) ? 0 : fn == 5 && !memcmp(field, "score", 5) ? 1
                  : fn == 7 && !memcmp(field, "version", 7) ? 2 : fn == 8 && !memcmp(field, "metadata", 8) ? 3 : -1;
        if (which < 0) continue;
        if (p - digits > 9) return BAIL;
        size_t k;
        for (k = 0; k < count && docs[k].n != n; k++) {}
        if (k == count) {
            if (count == 64) return BAIL;
            memset(&docs[count], 0, sizeof docs[count]);
            docs[count++].n = n;
        }
        const Attr **slots[4] = {&docs[k].id, &docs[k].score, &docs[k].version, &docs[k].meta};
        *slots[which] = a;
    }
    qsort(docs, count, sizeof *docs, doc_cmp);
    yyjson_doc *parsed = NULL;
    int rc = 0;
    for (size_t k = 0; k < count && !rc; k++) {
        const Attr *version = docs[k].version && docs[k].version->t != A_NONE ? docs[k].version : NULL;
        Attr from_meta;
        const Attr *meta = docs[k].meta;
        if (!version && meta && meta->t != A_NONE) {
            if (meta->t != A_STR) return BAIL; /* a kvlist of metadata: Python reads it */
            parsed = yyjson_read(yyjson_get_str(meta->x), yyjson_get_len(meta->x), YYJSON_READ_NOFLAG);
            yyjson_val *root = parsed ? yyjson_doc_get_root(parsed) : NULL;
            if (root && yyjson_is_obj(root)) {
                yyjson_val *key, *v = NULL;
                yyjson_obj_iter it = yyjson_obj_iter_with(root);
                while ((key = yyjson_obj_iter_next(&it)))
                    if (yyjson_equals_str(key, "version")) v = yyjson_obj_iter_get_val(key);
                if (v && !yyjson_is_null(v)) {
                    if (yyjson_is_str(v)) from_meta.t = A_STR, from_meta.x = v;
                    else if ((yyjson_is_sint(v) || yyjson_is_uint(v)) && !as_int64(v, &from_meta.i)) from_meta.t = A_INT;
                    else rc = BAIL;
                    version = &from_meta;
                }
            } else if (parsed) { /* valid JSON that is not an object: Python's meta.get would fail */
                if (!(yyjson_is_null(root))) rc = BAIL;
            }
        }
        if (!rc && version && version->t != A_STR && version->t != A_INT) rc = BAIL; /* str() of others: Python */
        double score = 0;
        int has_score = docs[k].score && docs[k].score->t != A_NONE;
        if (!rc && has_score) rc = number(docs[k].score, &score);
        if (!rc) {
            Col *s = d->srcs;
            const Attr *id = docs[k].id && docs[k].id->t != A_NONE ? docs[k].id : NULL;
            if (col_str(&s[S_RUN], run, rn) || col_str(&s[S_STEP], step, sn) || col_text(&s[S_DOC], id) ||
                col_text(&s[S_VERSION], version) || (has_score ? col_f64(&s[S_SCORE], score) : col_null(&s[S_SCORE])))
                rc = -1;
        }
        if (parsed) { yyjson_doc_free(parsed); parsed = NULL; }
    }
    return rc;
}

/* Conventions.kind: the mapping's explicit kind, an approval, OpenInference's span kind, the GenAI
 * operation, else what the attributes show (a tool name; a model with token counts). */
/* A string value case-folded (ASCII only, else Python decides) and looked up in `from`: 1 and the kind
 * at the same place in `to` when found, 0 when not, BAIL. */
static int folded_kind(const Attr *a, const List *from, const List *to, int upper, Str *kind) {
    if (!a || a->t != A_STR) return 0;
    const char *s = yyjson_get_str(a->x);
    size_t n = yyjson_get_len(a->x);
    if (!is_ascii(s, n)) return BAIL;
    int hit = lower_in(from, s, n, upper);
    if (hit < 0) return 0;
    *kind = to->items[hit];
    return 1;
}

static int span_kind(const Spec *sp, const Attrs *m, const char *name, size_t name_len, int has_tool,
                     int has_model_and_tokens, Str *kind) {
    const List *l = sp->l;
    int rc = folded_kind(first(m, &l[F_KIND]), &l[T_STEP_KINDS], &l[T_STEP_KINDS], 0, kind);
    if (rc) return rc == 1 ? 0 : rc;
    int approval = first(m, &l[F_DECISION]) != NULL;
    if (!approval && name_len && l[T_APPROVAL_NAMES].n) {
        if (is_ascii(name, name_len)) approval = lower_in(&l[T_APPROVAL_NAMES], name, name_len, 0) >= 0;
        else if (memmem(name, name_len, "\xE2\x84\xAA", 3)) return BAIL; /* the Kelvin sign lowers to 'k' */
    }
    if (approval) { *kind = (Str){"approval", 8, 0, -1}; return 0; }
    rc = folded_kind(get(m, &l[F_OI_KIND].items[0]), &l[T_OI_FROM], &l[T_OI_TO], 1, kind);
    if (rc) return rc == 1 ? 0 : rc;
    const Attr *op = get(m, &l[F_GENAI_OP].items[0]);
    if (op && op->t == A_STR) {
        Py_ssize_t hit = list_find(&l[T_OP_FROM], yyjson_get_str(op->x), yyjson_get_len(op->x));
        if (hit >= 0) { *kind = l[T_OP_TO].items[hit]; return 0; }
    }
    *kind = has_tool ? (Str){"tool", 4, 0, -1}
          : has_model_and_tokens ? (Str){"llm", 3, 0, -1} : (Str){"other", 5, 0, -1};
    return 0;
}

static yyjson_val *member(yyjson_val *obj, const char *name);

/* Span events the conventions read (an exception, an evaluation result), or events not shaped as a list of
 * objects, send the line to Python; other events are not read. */
static int events_for_python(yyjson_val *events) {
    if (falsy(events)) return 0;
    if (!yyjson_is_arr(events)) return BAIL;
    size_t i, n;
    yyjson_val *event;
    yyjson_arr_foreach(events, i, n, event) {
        if (!yyjson_is_obj(event)) return BAIL;
        yyjson_val *name = member(event, "name");
        if (name && (yyjson_equals_str(name, "exception") || yyjson_equals_str(name, "gen_ai.evaluation.result")))
            return BAIL;
    }
    return 0;
}

static int read_span(Decoder *d, yyjson_val *span, yyjson_val *scope_name, int64_t line) {
    const Spec *sp = d->sp;
    int rc;
    if (!yyjson_is_obj(span)) return BAIL;
    yyjson_val *trace = NULL, *sid = NULL, *parent = NULL, *name = NULL, *start = NULL, *end = NULL,
               *attributes = NULL, *status = NULL, *events = NULL, *key;
    yyjson_obj_iter it = yyjson_obj_iter_with(span);
    while ((key = yyjson_obj_iter_next(&it))) {
        yyjson_val *v = yyjson_obj_iter_get_val(key);
        if (KEY_IS(key, "traceId")) trace = v;
        else if (KEY_IS(key, "spanId")) sid = v;
        else if (KEY_IS(key, "parentSpanId")) parent = v;
        else if (KEY_IS(key, "name")) name = v;
        else if (KEY_IS(key, "startTimeUnixNano")) start = v;
        else if (KEY_IS(key, "endTimeUnixNano")) end = v;
        else if (KEY_IS(key, "attributes")) attributes = v;
        else if (KEY_IS(key, "status")) status = v;
        else if (KEY_IS(key, "events")) events = v;
    }
    if ((rc = events_for_python(events))) return rc;
    Col *c = d->steps;
    Buf *ids = &d->scratch; /* run id, then step id, then parent id, back to back */
    size_t run_len, step_len, parent_len;
    ids->len = 0;
    if ((rc = hex_id(trace, ids, &run_len, 0)) || (rc = hex_id(sid, ids, &step_len, 0)) ||
        (rc = hex_id(parent, ids, &parent_len, 1)))
        goto out;
    const char *run = ids->p, *step = ids->p + run_len, *parent_id = step + step_len;

    const char *nm = "";
    size_t nn = 0;
    if (!falsy(name)) {
        if (!yyjson_is_str(name)) { rc = BAIL; goto out; }
        nm = yyjson_get_str(name);
        nn = yyjson_get_len(name);
    }
    int64_t t0 = 0, t1 = 0, code = 0;
    int has0, has1;
    if ((rc = timestamp(start, &t0, &has0)) || (rc = timestamp(end, &t1, &has1))) goto out;
    yyjson_val *message = NULL;
    if (!falsy(status)) {
        if (!yyjson_is_obj(status)) { rc = BAIL; goto out; }
        yyjson_val *code_val = NULL;
        yyjson_obj_iter sit = yyjson_obj_iter_with(status);
        int has_code = 0;
        while ((key = yyjson_obj_iter_next(&sit))) {
            if (yyjson_equals_str(key, "code")) { code_val = yyjson_obj_iter_get_val(key); has_code = 1; }
            else if (yyjson_equals_str(key, "message")) message = yyjson_obj_iter_get_val(key);
        }
        if (has_code && !yyjson_is_null(code_val)) {
            if (yyjson_is_str(code_val)) {
                code = yyjson_equals_str(code_val, "STATUS_CODE_OK") ? 1 : yyjson_equals_str(code_val, "STATUS_CODE_ERROR") ? 2 : 0;
            } else if (yyjson_is_uint(code_val)) {
                uint64_t u = yyjson_get_uint(code_val);
                code = u == 1 ? 1 : u == 2 ? 2 : 0;
            } else if (yyjson_is_sint(code_val)) {
                code = 0; /* negative: STATUS.get(code, "unset") */
            } else { rc = BAIL; goto out; }
        }
        if (message && yyjson_is_null(message)) message = NULL;
        if (message && !yyjson_is_str(message)) { rc = BAIL; goto out; }
    }

    Attrs *m = &d->attrs;
    m->n = 0;
    if (++m->gen == 0) { /* wrapped: forget every stamp */
        memset(m->stamp, 0, (size_t)d->sp->n_keys * sizeof *m->stamp);
        m->gen = 1;
    }
    for (size_t i = 0; i < d->resource.n; i++)
        if ((rc = attrs_put(m, d->resource.a[i].k, d->resource.a[i].kn, &d->resource.a[i]))) goto out;
    if ((rc = read_attributes(m, attributes))) goto out;
    Str scope_key = {"otel.scope.name", 15, fingerprint("otel.scope.name", 15), -1};
    if (scope_name && !get(m, &scope_key)) { /* attrs.setdefault("otel.scope.name", scope["name"]) */
        Attr a = {.t = A_STR, .x = scope_name};
        if ((rc = attrs_put(m, scope_key.s, scope_key.n, &a))) goto out;
    }

    const Attr *tool = first(m, &sp->l[F_TOOL]);
    const Attr *model = first(m, &sp->l[F_MODEL]);
    const Attr *in_tok = first(m, &sp->l[F_IN_TOK]);
    Str kind;
    if ((rc = span_kind(sp, m, nm, nn, tool != NULL, model && in_tok, &kind))) goto out;
    int plain_tool = kind.n == 4 && memcmp(kind.s, "tool", 4) == 0; /* may still become "action" (fnmatch, in Python) */
    int is_tool = plain_tool || (kind.n == 6 && memcmp(kind.s, "action", 6) == 0);
    if (plain_tool && tool && tool->t != A_STR && sp->has_action_patterns) { rc = BAIL; goto out; }
    int is_approval = kind.n == 8 && memcmp(kind.s, "approval", 8) == 0;

    const Attr *in_attr = first(m, &sp->l[is_tool ? F_TOOL_INPUT : F_INPUT]);
    const Attr *out_attr = first(m, &sp->l[F_OUTPUT]);
    int64_t tokens[5];
    const Attr *tok[5] = {in_tok, first(m, &sp->l[F_OUT_TOK]), first(m, &sp->l[F_CACHED]),
                          first(m, &sp->l[F_CACHE_WRITE]), first(m, &sp->l[F_REASONING])};
    for (int i = 0; i < 5; i++)
        if (tok[i] && (rc = token_count(tok[i], &tokens[i]))) goto out;
    const Attr *provider = first(m, &sp->l[F_PROVIDER]);
    double cost = 0;
    int has_cost;
    if ((rc = reported_cost(sp, m, &cost, &has_cost))) goto out;
    const Attr *fallback = first(m, &sp->l[F_FALLBACK]);
    if (fallback && fallback->t == A_STR && yyjson_get_len(fallback->x) >= 15 &&
        memcmp(yyjson_get_str(fallback->x), "unknown_service", 15) == 0)
        fallback = NULL;

    /* all checks that can send the line back are done above or in column writers returning BAIL */
    if (col_str(&c[C_RUN], run, run_len) || col_str(&c[C_STEP], step, step_len) ||
        (parent_len ? col_str(&c[C_PARENT], parent_id, parent_len) : col_null(&c[C_PARENT])) ||
        col_str(&c[C_NAME], nm, nn) || col_str(&c[C_KIND], kind.s, kind.n)) { rc = -1; goto out; }
    if (tool) rc = col_text(&c[C_TOOL], tool);
    else if (plain_tool && nn >= 13 && memcmp(nm, "execute_tool ", 13) == 0) rc = col_str(&c[C_TOOL], nm + 13, nn - 13);
    else rc = col_null(&c[C_TOOL]);
    if (rc) goto out;
    if ((has0 ? col_i64(&c[C_START], t0) : col_null(&c[C_START])) ||
        (has1 ? col_i64(&c[C_END], t1) : col_null(&c[C_END])) || col_i64(&c[C_STATUS], code) ||
        (message ? col_str(&c[C_STATUS_MSG], yyjson_get_str(message), yyjson_get_len(message)) : col_null(&c[C_STATUS_MSG])) ||
        col_text(&c[C_ERROR], first(m, &sp->l[F_ERROR])) || col_text(&c[C_MODEL], model)) { rc = -1; goto out; }
    for (int i = 0; i < 3; i++)
        if (tok[i] ? col_i64(&c[C_IN_TOK + i], tokens[i]) : col_null(&c[C_IN_TOK + i])) { rc = -1; goto out; }
    if ((has_cost ? col_f64(&c[C_COST], cost) : col_null(&c[C_COST])) || col_text(&c[C_INPUT], in_attr) ||
        col_text(&c[C_OUTPUT], out_attr)) { rc = -1; goto out; }
    if ((rc = put_lower_text(&c[C_DECISION], is_approval ? first(m, &sp->l[F_DECISION]) : NULL))) goto out;
    if (col_text(&c[C_APPROVER], is_approval ? first(m, &sp->l[F_APPROVER]) : NULL)) { rc = -1; goto out; }

    /* attributes as JSON, without the two texts already stored as input and output */
    Buf *b = &c[C_ATTRS].data;
    int any = 0;
    if (buf_putc(b, '{')) { rc = -1; goto out; }
    for (size_t i = 0; i < m->n; i++) {
        const Attr *a = &m->a[i];
        if (a == in_attr || a == out_attr) continue;
        if ((any++ && buf_putc(b, ',')) || put_escaped(b, a->k, a->kn) || buf_putc(b, ':') || put_json(b, a)) { rc = -1; goto out; }
    }
    if (buf_putc(b, '}') || col_end(&c[C_ATTRS], 1) || col_i64(&c[C_LINE], line)) { rc = -1; goto out; }
    const Attr *workflow = first(m, &sp->l[F_WORKFLOW]);
    if (col_text(&c[C_AGENT], first(m, &sp->l[F_AGENT])) ||
        col_text(&c[C_AGENT_VERSION], first(m, &sp->l[F_AGENT_VERSION]))) { rc = -1; goto out; }
    if (workflow) rc = col_text(&c[C_WORKFLOW], workflow); /* else the name of an "invoke_workflow NAME" span */
    else if (nn > 16 && memcmp(nm, "invoke_workflow ", 16) == 0) rc = col_str(&c[C_WORKFLOW], nm + 16, nn - 16);
    else rc = col_null(&c[C_WORKFLOW]);
    if (rc) { rc = -1; goto out; }
    if ((rc = put_lower_text(&c[C_MODE], first(m, &sp->l[F_MODE]))) ||
        (rc = put_lower_text(&c[C_OUTCOME], first(m, &sp->l[F_OUTCOME])))) goto out;
    if (col_text(&c[C_FALLBACK], fallback) || col_text(&c[C_SESSION], first(m, &sp->l[F_SESSION])) ||
        col_text(&c[C_PROVIDER], provider)) { rc = -1; goto out; }
    for (int i = 3; i < 5; i++)
        if (tok[i] ? col_i64(&c[C_CACHE_WRITE + i - 3], tokens[i]) : col_null(&c[C_CACHE_WRITE + i - 3])) { rc = -1; goto out; }
    if (kind.n == 9 && memcmp(kind.s, "retrieval", 9) == 0)
        rc = retrieval_documents(d, m, run, run_len, step, step_len);
out:
    return rc;
}

/* ------------------------------------------------------------------ one line, then a whole chunk */

static yyjson_val *member(yyjson_val *obj, const char *name) { /* dict semantics: the last one wins */
    yyjson_val *key, *found = NULL;
    yyjson_obj_iter it = yyjson_obj_iter_with(obj);
    while ((key = yyjson_obj_iter_next(&it)))
        if (yyjson_equals_str(key, name)) found = yyjson_obj_iter_get_val(key);
    return found;
}

static yyjson_val *truthy_member(yyjson_val *obj, const char *a, const char *b) { /* get(a) or get(b) */
    yyjson_val *v = member(obj, a);
    return falsy(v) ? member(obj, b) : v;
}

static int read_line(Decoder *d, const char *text, size_t len, int64_t line, const yyjson_alc *alc) {
    /* yyjson's defaults are orjson's: integers beyond 64 bits become doubles, an infinite double is an error */
    yyjson_doc *doc = yyjson_read_opts((char *)text, len, YYJSON_READ_NOFLAG, alc, NULL);
    if (!doc) return BAIL; /* Python says what is wrong with it */
    int rc = 0;
    yyjson_val *root = yyjson_doc_get_root(doc), *rss, *rs;
    if (!yyjson_is_obj(root) || !yyjson_obj_getn(root, "resourceSpans", 13)) { rc = BAIL; goto done; }
    rss = member(root, "resourceSpans");
    if (falsy(rss)) goto done;
    if (!yyjson_is_arr(rss)) { rc = BAIL; goto done; }
    size_t i, imax;
    yyjson_arr_foreach(rss, i, imax, rs) {
        if (!yyjson_is_obj(rs)) { rc = BAIL; goto done; }
        yyjson_val *resource = member(rs, "resource");
        d->resource.n = 0;
        if (!falsy(resource)) {
            if (!yyjson_is_obj(resource)) { rc = BAIL; goto done; }
            if ((rc = read_attributes(&d->resource, member(resource, "attributes")))) goto done;
        }
        yyjson_val *sss = truthy_member(rs, "scopeSpans", "instrumentationLibrarySpans"), *ss;
        if (falsy(sss)) continue;
        if (!yyjson_is_arr(sss)) { rc = BAIL; goto done; }
        size_t j, jmax;
        yyjson_arr_foreach(sss, j, jmax, ss) {
            if (!yyjson_is_obj(ss)) { rc = BAIL; goto done; }
            yyjson_val *scope = truthy_member(ss, "scope", "instrumentationLibrary"), *scope_name = NULL;
            if (!falsy(scope)) {
                if (!yyjson_is_obj(scope)) { rc = BAIL; goto done; }
                scope_name = member(scope, "name");
                if (falsy(scope_name)) scope_name = NULL;
                else if (!yyjson_is_str(scope_name)) { rc = BAIL; goto done; }
            }
            yyjson_val *spans = member(ss, "spans"), *span;
            if (falsy(spans)) continue;
            if (!yyjson_is_arr(spans)) { rc = BAIL; goto done; }
            size_t k, kmax;
            yyjson_arr_foreach(spans, k, kmax, span)
                if ((rc = read_span(d, span, scope_name, line))) goto done;
        }
    }
done:
    yyjson_doc_free(doc);
    return rc;
}

/* {name: (schema capsule, array capsule)}: the columns through the Arrow C data interface; None when
 * they hold no rows. */
static PyObject *columns_dict(Col *cols, const char **names, int count) {
    if (cols[0].n == 0) Py_RETURN_NONE;
    PyObject *out = PyDict_New();
    if (!out) return NULL;
    for (int i = 0; i < count; i++) {
        Col *c = &cols[i];
        size_t valid_len = (size_t)((c->n + 7) / 8);
        if (c->valid.len < valid_len) valid_len = c->valid.len;
        int is_str = c->type == 's';
        PyObject *item = arrow_column(is_str ? "U" : c->type == 'i' ? "l" : "g", names[i], c->n, c->valid.p,
                                      valid_len, is_str ? c->off.p : NULL, is_str ? c->off.len : 0, c->data.p,
                                      c->data.len);
        if (!item || PyDict_SetItemString(out, names[i], item)) {
            Py_XDECREF(item);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(item);
    }
    return out;
}

static int is_blank(const char *s, size_t n) { /* bytes.strip() leaves nothing */
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\n\r\x0b\x0c", s[i]) || s[i] == '\0') return 0;
    return 1;
}

/* decode(spec, data, pos, line) -> (steps, sources, next_pos, next_line, bail); steps and sources map
 * column names to Arrow PyCapsule pairs (see arrow_export.h), or are None when no rows were read.
 * Reads the lines of data from byte pos (line numbers from `line`) until the end, or until a line that
 * only the Python reader can read exactly: bail is then (line number, start, end) of that line, whose
 * rows are not in the columns, and next_pos / next_line point after it. */
static PyObject *decode(PyObject *self, PyObject *args) {
    PyObject *capsule;
    Py_buffer data;
    Py_ssize_t pos;
    long long line;
    if (!PyArg_ParseTuple(args, "Oy*nL", &capsule, &data, &pos, &line)) return NULL;
    Spec *sp = PyCapsule_GetPointer(capsule, "otlp_columns.spec");
    if (!sp) { PyBuffer_Release(&data); return NULL; }
    Decoder *d = decoder_for(sp); /* the GIL stays held: one decode at a time uses these buffers */
    if (!d) { PyBuffer_Release(&data); return PyErr_NoMemory(); }
    int rc = 0;
    const char *text = data.buf;
    size_t size = (size_t)data.len, at = pos < 0 ? 0 : (size_t)pos;
    long long bail_line = -1;
    size_t bail_start = 0, bail_end = 0;
    while (!rc && at < size) {
        const char *nl = memchr(text + at, '\n', size - at);
        size_t eol = nl ? (size_t)(nl - text) : size, start = at, end = eol;
        long long number = line++;
        at = eol + 1;
        while (end > start && (text[end - 1] == '\r' || text[end - 1] == '\n')) end--;
        if (is_blank(text + start, end - start)) continue;
        int64_t marks[N_STEP_COLS + N_SRC_COLS];
        for (int i = 0; i < N_STEP_COLS; i++) marks[i] = d->steps[i].n;
        for (int i = 0; i < N_SRC_COLS; i++) marks[N_STEP_COLS + i] = d->srcs[i].n;
        rc = read_line(d, text + start, end - start, number, d->alc);
        if (rc) {
            for (int i = 0; i < N_STEP_COLS; i++) col_truncate(&d->steps[i], marks[i]);
            for (int i = 0; i < N_SRC_COLS; i++) col_truncate(&d->srcs[i], marks[N_STEP_COLS + i]);
            if (rc == BAIL) { bail_line = number; bail_start = start; bail_end = end; }
            break;
        }
    }
    PyBuffer_Release(&data);
    if (rc == -1) return PyErr_NoMemory();
    PyObject *steps = columns_dict(d->steps, STEP_NAMES, N_STEP_COLS);
    PyObject *srcs = steps ? columns_dict(d->srcs, SRC_NAMES, N_SRC_COLS) : NULL;
    if (!steps || !srcs) {
        Py_XDECREF(steps);
        Py_XDECREF(srcs);
        return NULL;
    }
    if (bail_line >= 0)
        return Py_BuildValue("(NNnL(Lnn))", steps, srcs, (Py_ssize_t)(at > size ? size : at), line, bail_line,
                             (Py_ssize_t)bail_start, (Py_ssize_t)bail_end);
    return Py_BuildValue("(NNnLO)", steps, srcs, (Py_ssize_t)size, line, Py_None);
}

static PyMethodDef METHODS[] = {
    {"make_spec", make_spec, METH_VARARGS, "make_spec(lists) -> spec: the conventions, as key lists and value tables."},
    {"decode", decode, METH_VARARGS, "decode(spec, data, pos, line) -> (steps, sources, next_pos, next_line, bail)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_otlp_columns", NULL, -1, METHODS, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__otlp_columns(void) { return PyModule_Create(&MODULE); }
