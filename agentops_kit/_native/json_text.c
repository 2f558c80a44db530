/* JSON text as orjson writes it: the attributes column must read the same whichever reader made it. */
#include "json_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* True when one of the 8 bytes of w is < 0x20, '"' or '\\' (the bytes JSON must escape). */
static inline int needs_escape(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t quote = w ^ (ones * '"'), slash = w ^ (ones * '\\');
    return ((((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) | ((slash - ones) & ~slash)) & high) != 0;
}

int put_escaped(Buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (buf_reserve(b, n + 2)) return -1;
    b->p[b->len++] = '"';
    size_t run = 0, i = 0;
    while (i < n) {
        uint64_t w;
        if (i + 8 <= n && (memcpy(&w, s + i, 8), !needs_escape(w))) { i += 8; continue; }
        unsigned char c = (unsigned char)s[i++];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        if (buf_put(b, s + run, i - 1 - run)) return -1;
        run = i;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t len = 2;
        switch (c) {
            case '"': esc[1] = '"'; break;
            case '\\': esc[1] = '\\'; break;
            case '\b': esc[1] = 'b'; break;
            case '\f': esc[1] = 'f'; break;
            case '\n': esc[1] = 'n'; break;
            case '\r': esc[1] = 'r'; break;
            case '\t': esc[1] = 't'; break;
            default:
                esc[1] = 'u'; esc[2] = '0'; esc[3] = '0'; esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
                len = 6;
        }
        if (buf_put(b, esc, len)) return -1;
    }
    return buf_put(b, s + run, n - run) || buf_putc(b, '"');
}

/* The shortest text that reads back as d, laid out as orjson does: positional for 1e-5 <= |d| < 1e16,
 * else d.ddde+X (no zero padding). */
int put_double(Buf *b, double d) {
    char sci[40], out[64], digits[24];
    for (int precision = 0; precision <= 17; precision++) {
        snprintf(sci, sizeof sci, "%.*e", precision, d);
        if (strtod(sci, NULL) == d) break;
    }
    const char *p = sci;
    size_t n = 0, o = 0;
    if (*p == '-') { out[o++] = '-'; p++; }
    for (; *p && *p != 'e'; p++) if (*p != '.') digits[n++] = *p;
    int exp = atoi(p + 1);
    while (n > 1 && digits[n - 1] == '0') n--;
    if (exp >= -5 && exp < 16) {
        if (exp < 0) {
            out[o++] = '0'; out[o++] = '.';
            for (int z = 0; z < -exp - 1; z++) out[o++] = '0';
            memcpy(out + o, digits, n); o += n;
        } else {
            for (int i = 0; i <= exp; i++) out[o++] = (size_t)i < n ? digits[i] : '0';
            out[o++] = '.';
            if ((size_t)exp + 1 < n) { memcpy(out + o, digits + exp + 1, n - exp - 1); o += n - exp - 1; }
            else out[o++] = '0';
        }
    } else {
        out[o++] = digits[0];
        if (n > 1) { out[o++] = '.'; memcpy(out + o, digits + 1, n - 1); o += n - 1; }
        o += (size_t)snprintf(out + o, sizeof out - o, "e%c%d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    return buf_put(b, out, o);
}

int put_int(Buf *b, int64_t v) {
    char text[24], *end = text + sizeof text, *p = end;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do { *--p = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) *--p = '-';
    return buf_put(b, p, (size_t)(end - p));
}
