/* What the plane remembers by (branch, Call-ID): the refusals answered, for Timer H
 * (64*T1), as the Python core's `_answered` (sip_edge/refusals.py), and the server
 * transactions the core holds (calls it forwarded), whose messages are the core's.
 * One table for both paths: the core puts its own refusals here too (elsewhere.remember).
 */
#include <stdlib.h>
#include <string.h>

#include "fifo.h"
#include "plane.h"

typedef struct entry {
    cp_node node;                 /* first: the table's links */
    double until;
    struct sockaddr_in dest;
    size_t key_len, answer_len;
    char *answer;
    char key[];                   /* branch NUL Call-ID, then the answer (one block) */
} entry;

struct cp_answered {
    cp_fifo fifo;
};

static entry *find(cp_answered *t, const cp_span *branch, const cp_span *call_id, uint64_t h)
{
    size_t n = branch->n + 1 + call_id->n;
    for (cp_node *node = cp_fifo_chain(&t->fifo, h); node; node = node->chain) {
        entry *e = (entry *)node;
        if (node->hash == h && e->key_len == n && memcmp(e->key, branch->p, branch->n) == 0 &&
            memcmp(e->key + branch->n + 1, call_id->p, call_id->n) == 0)
            return e;
    }
    return NULL;
}

static entry *oldest(const cp_answered *t)
{
    return (entry *)t->fifo.oldest;
}

static void drop(cp_answered *t, entry *e)
{
    cp_fifo_unlink(&t->fifo, &e->node);
    free(e); /* its key and answer live in the same block */
}

/* A new entry for (branch, Call-ID), `extra` bytes after its key, linked newest. */
static entry *add(cp_answered *t, uint64_t h, const char *branch, size_t bn,
                  const char *call_id, size_t cn, size_t extra)
{
    if (cp_fifo_reserve(&t->fifo) < 0)
        return NULL;
    size_t n = bn + 1 + cn;
    entry *e = malloc(sizeof(entry) + n + extra);
    if (!e)
        return NULL;
    memset(e, 0, sizeof(entry));
    e->node.hash = h;
    e->key_len = n;
    memcpy(e->key, branch, bn);
    e->key[bn] = '\0';
    memcpy(e->key + bn + 1, call_id, cn);
    cp_fifo_link(&t->fifo, &e->node);
    return e;
}

void cp_plane_clear_answered(cp_plane *p)
{
    while (oldest(p->answered))
        drop(p->answered, oldest(p->answered));
}

cp_key cp_key_of(cp_span branch, cp_span call_id)
{
    cp_key k = {branch, call_id, cp_hash2(branch.p, branch.n, call_id.p, call_id.n)};
    return k;
}

/* The Python-facing calls name a key by its parts. */
static cp_key key_of(const char *branch, size_t bn, const char *call_id, size_t cn)
{
    cp_span b = {branch, bn}, c = {call_id, cn};
    return cp_key_of(b, c);
}

static entry *lookup(cp_answered *t, const cp_key *k)
{
    return t->fifo.count ? find(t, &k->branch, &k->call_id, k->hash) : NULL;
}

const char *cp_plane_answered_get(cp_plane *p, const char *branch, size_t bn,
                                  const char *call_id, size_t cn, double *until, size_t *len,
                                  struct sockaddr_in *dest)
{
    cp_key k = key_of(branch, bn, call_id, cn);
    entry *e = lookup(p->answered, &k);
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
    cp_key k = key_of(branch, bn, call_id, cn);
    if (lookup(t, &k))
        return 0;
    if (!add(t, k.hash, branch, bn, call_id, cn, 0))
        return -1;
    if (t->fifo.count > p->max_answered) /* bounded as the core's table is */
        drop(t, oldest(t));
    return 0;
}

/* Forget (branch, Call-ID) in `t` if it is there. */
static void forget(cp_answered *t, const cp_key *k)
{
    entry *e = lookup(t, k);
    if (e)
        drop(t, e);
}

void cp_plane_release(cp_plane *p, const char *branch, size_t bn, const char *call_id,
                      size_t cn)
{
    cp_key k = key_of(branch, bn, call_id, cn);
    forget(p->held, &k);
}

void cp_plane_answered_forget(cp_plane *p, const char *branch, size_t bn, const char *call_id,
                              size_t cn)
{
    cp_key k = key_of(branch, bn, call_id, cn);
    forget(p->answered, &k);
}

size_t cp_plane_answered_count(const cp_plane *p)
{
    return p->answered->fifo.count;
}

int cp_plane_remember(cp_plane *p, const cp_key *k, const char *answer, size_t len,
                      const struct sockaddr_in *dest, double now)
{
    /* _remember_refusal: expire what Timer H let go, insert, evict the oldest past the
     * bound; one allocation holds the entry, its key and its answer. */
    cp_answered *t = p->answered;
    while (oldest(t) && oldest(t)->until <= now)
        drop(t, oldest(t));
    entry *e = add(t, k->hash, k->branch.p, k->branch.n, k->call_id.p, k->call_id.n, len);
    if (!e)
        return -1;
    e->answer = e->key + e->key_len;
    memcpy(e->answer, answer, len);
    e->answer_len = len;
    e->until = now + 64 * p->t1;
    e->dest = *dest;
    if (t->fifo.count > p->max_answered) {
        /* Bounded: evicted early, a retransmission is decided again and its ACK dropped. */
        drop(t, oldest(t));
        p->counters[CP_C_EVICTED]++;
    }
    return 0;
}

int cp_plane_answered_put(cp_plane *p, const char *branch, size_t bn, const char *call_id,
                          size_t cn, const char *answer, size_t len,
                          const struct sockaddr_in *dest, double now)
{
    cp_key k = key_of(branch, bn, call_id, cn);
    forget(p->answered, &k); /* the core decided it again (past Timer H) */
    return cp_plane_remember(p, &k, answer, len, dest, now);
}

int cp_plane_was_answered(cp_plane *p, const cp_key *k)
{
    return lookup(p->answered, k) != NULL;
}

int cp_plane_is_held(cp_plane *p, const cp_key *k)
{
    return lookup(p->held, k) != NULL;
}

int cp_plane_replay(cp_plane *p, const cp_key *k, double now)
{
    entry *e = lookup(p->answered, k);
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
    cp_answered *t = malloc(sizeof(cp_answered));
    if (!t)
        return NULL;
    if (cp_fifo_init(&t->fifo, nbuckets) < 0) {
        free(t);
        return NULL;
    }
    return t;
}

void cp_answered_free(cp_answered *t)
{
    if (!t)
        return;
    while (oldest(t))
        drop(t, oldest(t));
    cp_fifo_free(&t->fifo);
    free(t);
}
