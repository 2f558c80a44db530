/* Growable byte buffers, and columns in Arrow layout (validity bitmap, int64 offsets, data) built from them. */
#ifndef AGENTOPS_COLUMNS_H
#define AGENTOPS_COLUMNS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char *p; size_t len, cap; } Buf;

static inline int buf_grow(Buf *b, size_t extra) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline int buf_reserve(Buf *b, size_t extra) {
    return b->len + extra <= b->cap ? 0 : buf_grow(b, extra);
}

static inline int buf_put(Buf *b, const void *src, size_t n) {
    if (n == 0) return 0; /* memcpy with a null buffer is undefined even for 0 bytes */
    if (buf_reserve(b, n)) return -1;
    memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

static inline int buf_putc(Buf *b, char c) {
    if (buf_reserve(b, 1)) return -1;
    b->p[b->len++] = c;
    return 0;
}

typedef struct { Buf off, data, valid; int64_t n; char type; } Col; /* 's' string, 'i' int64, 'f' float64 */

static inline int col_init(Col *c, char type) {
    memset(c, 0, sizeof *c);
    c->type = type;
    int64_t zero = 0;
    return type == 's' ? buf_put(&c->off, &zero, 8) : 0;
}

static inline void col_free(Col *c) { free(c->off.p); free(c->data.p); free(c->valid.p); }

static inline int col_mark(Col *c, int valid) {
    size_t byte = (size_t)(c->n >> 3);
    if (byte >= c->valid.len) {
        if (buf_reserve(&c->valid, 1)) return -1;
        c->valid.p[c->valid.len++] = 0;
    }
    unsigned char bit = (unsigned char)(1u << (c->n & 7));
    if (valid) c->valid.p[byte] |= bit; else c->valid.p[byte] &= (char)~bit;
    c->n++;
    return 0;
}

/* A string value is written into c->data by the caller, then closed with col_end. */
static inline int col_end(Col *c, int valid) {
    int64_t end = (int64_t)c->data.len;
    if (buf_put(&c->off, &end, 8)) return -1;
    return col_mark(c, valid);
}

static inline int col_str(Col *c, const char *s, size_t n) { return buf_put(&c->data, s, n) || col_end(c, 1); }
static inline int col_null(Col *c) {
    if (c->type == 's') return col_end(c, 0);
    int64_t zero = 0;
    return buf_put(&c->data, &zero, 8) || col_mark(c, 0);
}
static inline int col_i64(Col *c, int64_t v) { return buf_put(&c->data, &v, 8) || col_mark(c, 1); }
static inline int col_f64(Col *c, double v) { return buf_put(&c->data, &v, 8) || col_mark(c, 1); }

static inline void col_reset(Col *c) {
    c->off.len = c->type == 's' ? 8 : 0; /* the leading 0 offset stays */
    c->data.len = c->valid.len = 0;
    c->n = 0;
}

static inline void col_truncate(Col *c, int64_t n) {
    if (c->type == 's') {
        c->off.len = (size_t)(n + 1) * 8;
        c->data.len = (size_t)((int64_t *)c->off.p)[n];
    } else {
        c->data.len = (size_t)n * 8;
    }
    c->n = n;
}

#endif
