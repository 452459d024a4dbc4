/* What the plane remembers by (branch, Call-ID): the refusals answered, for Timer H
 * (64*T1), as the Python core's `_answered` (sip_edge/refusals.py), and the server
 * transactions the core holds (calls it forwarded), whose messages are the core's.
 * One table for both paths: the core puts its own refusals here too (elsewhere.remember).
 */
#include <stdlib.h>
#include <string.h>

#include "plane.h"

typedef struct entry {
    struct entry *chain;          /* bucket chain */
    struct entry *older, *newer;  /* insertion order: expiry and eviction (FIFO) */
    uint64_t hash;
    double until;
    struct sockaddr_in dest;
    size_t key_len, answer_len;
    char *answer;
    char key[];                   /* branch NUL Call-ID, then the answer (one block) */
} entry;

struct cp_answered {
    entry **buckets;
    size_t nbuckets, count;
    entry *oldest, *newest;
};

static uint64_t fnv(const char *a, size_t an, const char *b, size_t bn)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < an; i++)
        h = (h ^ (unsigned char)a[i]) * 1099511628211ULL;
    h = (h ^ 0xffu) * 1099511628211ULL;
    for (size_t i = 0; i < bn; i++)
        h = (h ^ (unsigned char)b[i]) * 1099511628211ULL;
    return h;
}

static entry *find(cp_answered *t, const cp_span *branch, const cp_span *call_id, uint64_t h)
{
    size_t n = branch->n + 1 + call_id->n;
    for (entry *e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->chain)
        if (e->hash == h && e->key_len == n && memcmp(e->key, branch->p, branch->n) == 0 &&
            memcmp(e->key + branch->n + 1, call_id->p, call_id->n) == 0)
            return e;
    return NULL;
}

static void drop(cp_answered *t, entry *e)
{
    entry **pp = &t->buckets[e->hash & (t->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    if (e->older)
        e->older->newer = e->newer;
    else
        t->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        t->newest = e->older;
    free(e); /* its key and answer live in the same block */
    t->count--;
}

static int grow(cp_answered *t)
{
    size_t n = t->nbuckets * 2;
    entry **b = calloc(n, sizeof(entry *));
    if (!b)
        return -1;
    for (size_t i = 0; i < t->nbuckets; i++) {
        entry *e = t->buckets[i];
        while (e) {
            entry *next = e->chain;
            e->chain = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    return 0;
}

/* A new entry for (branch, Call-ID), `extra` bytes after its key, linked newest. */
static entry *add(cp_answered *t, uint64_t h, const char *branch, size_t bn,
                  const char *call_id, size_t cn, size_t extra)
{
    if (t->count + 1 > t->nbuckets && grow(t) < 0)
        return NULL;
    size_t n = bn + 1 + cn;
    entry *e = malloc(sizeof(entry) + n + extra);
    if (!e)
        return NULL;
    memset(e, 0, sizeof(entry));
    e->hash = h;
    e->key_len = n;
    memcpy(e->key, branch, bn);
    e->key[bn] = '\0';
    memcpy(e->key + bn + 1, call_id, cn);
    size_t k = h & (t->nbuckets - 1);
    e->chain = t->buckets[k];
    t->buckets[k] = e;
    e->older = t->newest;
    if (t->newest)
        t->newest->newer = e;
    else
        t->oldest = e;
    t->newest = e;
    t->count++;
    return e;
}

void cp_plane_clear_answered(cp_plane *p)
{
    while (p->answered->oldest)
        drop(p->answered, p->answered->oldest);
}

const char *cp_plane_answered_get(cp_plane *p, const char *branch, size_t bn,
                                  const char *call_id, size_t cn, double *until, size_t *len,
                                  struct sockaddr_in *dest)
{
    cp_span b = {branch, bn}, c = {call_id, cn};
    entry *e = find(p->answered, &b, &c, fnv(branch, bn, call_id, cn));
    if (!e)
        return NULL;
    *until = e->until;
    *len = e->answer_len;
    *dest = e->dest;
    return e->answer;
}

/* The core's own INVITE server transactions (calls it forwarded): the plane declines
 * their retransmissions, whatever the rules say now (a reload may block a number whose
 * call is in set-up: its retransmission is the transaction's, RFC 3261 17.2.1). */
int cp_plane_hold(cp_plane *p, const char *branch, size_t bn, const char *call_id, size_t cn)
{
    cp_answered *t = p->held;
    cp_span b = {branch, bn}, c = {call_id, cn};
    uint64_t h = fnv(branch, bn, call_id, cn);
    if (find(t, &b, &c, h))
        return 0;
    if (!add(t, h, branch, bn, call_id, cn, 0))
        return -1;
    if (t->count > p->max_answered) /* bounded as the core's table is */
        drop(t, t->oldest);
    return 0;
}

void cp_plane_release(cp_plane *p, const char *branch, size_t bn, const char *call_id,
                      size_t cn)
{
    cp_span b = {branch, bn}, c = {call_id, cn};
    entry *e = find(p->held, &b, &c, fnv(branch, bn, call_id, cn));
    if (e)
        drop(p->held, e);
}

void cp_plane_answered_forget(cp_plane *p, const char *branch, size_t bn, const char *call_id,
                              size_t cn)
{
    cp_span b = {branch, bn}, c = {call_id, cn};
    entry *e = find(p->answered, &b, &c, fnv(branch, bn, call_id, cn));
    if (e)
        drop(p->answered, e);
}

size_t cp_plane_answered_count(const cp_plane *p)
{
    return p->answered->count;
}

/* _remember_refusal: expire what Timer H let go, insert, evict the oldest past the bound.
 * The key is not there (the caller answered or dropped it before deciding), and one
 * allocation holds the entry, its key and its answer. */
static int put_answered(cp_plane *p, uint64_t h, cp_span branch, cp_span call_id,
                        const char *answer, size_t len, const struct sockaddr_in *dest,
                        double now)
{
    cp_answered *t = p->answered;
    while (t->oldest && t->oldest->until <= now)
        drop(t, t->oldest);
    entry *e = add(t, h, branch.p, branch.n, call_id.p, call_id.n, len);
    if (!e)
        return -1;
    e->answer = e->key + e->key_len;
    memcpy(e->answer, answer, len);
    e->answer_len = len;
    e->until = now + 64 * p->t1;
    e->dest = *dest;
    if (t->count > p->max_answered) {
        /* Bounded: evicted early, a retransmission is decided again and its ACK dropped. */
        drop(t, t->oldest);
        p->counters[CP_C_EVICTED]++;
    }
    return 0;
}

int cp_plane_answered_put(cp_plane *p, const char *branch, size_t bn, const char *call_id,
                          size_t cn, const char *answer, size_t len,
                          const struct sockaddr_in *dest, double now)
{
    cp_span b = {branch, bn}, c = {call_id, cn};
    uint64_t h = fnv(branch, bn, call_id, cn);
    entry *e = find(p->answered, &b, &c, h);
    if (e)
        drop(p->answered, e); /* the core decided it again (past Timer H) */
    return put_answered(p, h, b, c, answer, len, dest, now);
}

int cp_plane_answered_has(cp_plane *p, const char *branch, size_t bn, const char *call_id,
                          size_t cn)
{
    cp_span b = {branch, bn}, c = {call_id, cn};
    return find(p->answered, &b, &c, fnv(branch, bn, call_id, cn)) != NULL;
}

int cp_plane_held(cp_plane *p, const char *branch, size_t bn, const char *call_id, size_t cn)
{
    cp_span b = {branch, bn}, c = {call_id, cn};
    return p->held->count && find(p->held, &b, &c, fnv(branch, bn, call_id, cn)) != NULL;
}

int cp_plane_replay(cp_plane *p, cp_span branch, cp_span call_id, double now)
{
    entry *e = find(p->answered, &branch, &call_id, fnv(branch.p, branch.n, call_id.p, call_id.n));
    if (!e)
        return 0;
    if (e->until <= now) {
        /* Past Timer H: decided again as a new attempt (the core deletes it the same). */
        drop(p->answered, e);
        return 0;
    }
    if (cp_buf_reserve(&p->out, e->answer_len) < 0)
        return -1;
    size_t start = p->out.len;
    cp_buf_put(&p->out, e->answer, e->answer_len);
    return cp_plane_queue(p, start, &e->dest) < 0 ? -1 : 1;
}

cp_answered *cp_answered_new(size_t nbuckets)
{
    cp_answered *t = calloc(1, sizeof(cp_answered));
    if (!t)
        return NULL;
    t->nbuckets = nbuckets;
    t->buckets = calloc(nbuckets, sizeof(entry *));
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    return t;
}

void cp_answered_free(cp_answered *t)
{
    if (!t)
        return;
    while (t->oldest)
        drop(t, t->oldest);
    free(t->buckets);
    free(t);
}
