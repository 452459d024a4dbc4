/* A growable byte buffer and the few writers the plane needs (answers, log lines).
 * Reserve once for a whole message, then write without checks: the writers assume room. */
#ifndef CP_BUF_H
#define CP_BUF_H

#include <stdlib.h>
#include <string.h>

typedef struct cp_buf {
    char *data;
    size_t len, cap;
    size_t max; /* 0: unbounded; else reserving past it fails (the caller drops, counts) */
} cp_buf;

/* Room for `more` bytes: 0, or -1 (out of memory, or past max). */
static inline int cp_buf_reserve(cp_buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    if (b->max && b->len + more > b->max)
        return -1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d)
        return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

static inline void cp_buf_put(cp_buf *b, const void *s, size_t n)
{
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

/* v in `base` (16: a To tag's number, 36: a decision id's), lower-case digits. */
static inline void cp_buf_digits(cp_buf *b, unsigned long long v, unsigned base)
{
    char t[24];
    int n = 0;
    do {
        t[n++] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % base];
        v /= base;
    } while (v);
    while (n)
        b->data[b->len++] = t[--n];
}

#endif
