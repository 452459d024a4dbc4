/* The edge's UDP data plane: a batch in, the refused calls answered and the dialogs'
 * messages relayed (relay.c), a batch out.
 * See plane.h for what it handles and README.md for how it sits beside the Python core.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "plane.h"
#include "scan.h"

/* ---- refusals remembered for Timer H: (branch, Call-ID) -> answer ------------------ */

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

typedef struct cp_answered {
    entry **buckets;
    size_t nbuckets, count;
    entry *oldest, *newest;
} cp_answered;

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

/* ---- peers -------------------------------------------------------------------------- */

static uint64_t peer_key(uint32_t addr, uint16_t port)
{
    return ((uint64_t)addr << 17) | ((uint64_t)port << 1) | 1u;
}

static size_t peer_slot(const cp_plane *p, uint64_t key)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 32) & (p->peer_cap - 1);
}

int cp_plane_set_peer(cp_plane *p, uint32_t addr, uint16_t port, int trunk)
{
    uint64_t key = peer_key(addr, port);
    size_t i = peer_slot(p, key);
    if ((p->peer_used + 1) * 2 > p->peer_cap) {
        size_t cap = p->peer_cap * 2;
        uint64_t *keys = calloc(cap, sizeof(uint64_t));
        int *vals = calloc(cap, sizeof(int));
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return -1;
        }
        uint64_t *old_keys = p->peer_keys;
        int *old_vals = p->peer_vals;
        size_t old_cap = p->peer_cap;
        p->peer_keys = keys;
        p->peer_vals = vals;
        p->peer_cap = cap;
        for (size_t k = 0; k < old_cap; k++) {
            if (!old_keys[k])
                continue;
            size_t j = peer_slot(p, old_keys[k]);
            while (keys[j])
                j = (j + 1) & (cap - 1);
            keys[j] = old_keys[k];
            vals[j] = old_vals[k];
        }
        free(old_keys);
        free(old_vals);
        i = peer_slot(p, key);
    }
    while (p->peer_keys[i] && p->peer_keys[i] != key)
        i = (i + 1) & (p->peer_cap - 1);
    p->peer_used += p->peer_keys[i] == 0;
    p->peer_keys[i] = key;
    p->peer_vals[i] = trunk;
    return 0;
}

void cp_plane_clear_peers(cp_plane *p)
{
    memset(p->peer_keys, 0, p->peer_cap * sizeof(uint64_t));
    p->peer_used = 0;
}

/* The trunk a source is, -1 for another peer, or CP_NO_PEER: exact (address, port) entries first, as the Python
 * core's peer table (carriers and the PSAP there are -1), then the address alone. */
static int trunk_of(const cp_plane *p, const struct sockaddr_in *src)
{
    uint32_t addr = ntohl(src->sin_addr.s_addr);
    uint16_t port = ntohs(src->sin_port);
    uint64_t keys[2] = {peer_key(addr, port), peer_key(addr, 0)};
    for (int k = 0; k < 2; k++) {
        size_t i = peer_slot(p, keys[k]);
        while (p->peer_keys[i]) {
            if (p->peer_keys[i] == keys[k])
                return p->peer_vals[i];
            i = (i + 1) & (p->peer_cap - 1);
        }
    }
    return CP_NO_PEER;
}

/* ---- answers ------------------------------------------------------------------------- */

int cp_plane_queue(cp_plane *p, size_t start, const struct sockaddr_in *dest)
{
    if (p->nout == p->out_slots) {
        unsigned n = p->out_slots * 2;
        size_t *off = realloc(p->out_off, n * sizeof(size_t));
        if (off)
            p->out_off = off;
        size_t *len = realloc(p->out_len_each, n * sizeof(size_t));
        if (len)
            p->out_len_each = len;
        struct sockaddr_in *d = realloc(p->out_dest, n * sizeof(struct sockaddr_in));
        if (d)
            p->out_dest = d;
        if (!off || !len || !d)
            return -1;
        p->out_slots = n;
    }
    p->out_off[p->nout] = start;
    p->out_len_each[p->nout] = p->out.len - start;
    p->out_dest[p->nout] = *dest;
    p->nout++;
    return 0;
}

/* response_from() of the request as scanned: the status line, the echoed lines with the
 * top Via stamped (RFC 3261 18.2.1, RFC 3581), To with our tag, the refusal's lines, its
 * decision id, and no body. Returns the answer's start in `out`. */
/* Decimal text of v (no terminator); returns its length. */
static size_t utoa(char *b, unsigned v)
{
    char t[12];
    size_t n = 0, i;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = 0; i < n; i++)
        b[i] = t[n - 1 - i];
    return n;
}

/* inet_ntop(AF_INET) without the library's generic formatting (one per refusal). */
static size_t ip_text(char *b, const struct in_addr *a)
{
    const unsigned char *o = (const unsigned char *)&a->s_addr;
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        if (i)
            b[n++] = '.';
        n += utoa(b + n, o[i]);
    }
    b[n] = '\0';
    return n;
}

/* splice.stamped (RFC 3261 18.2.1, RFC 3581): the top Via's value with the source port
 * in an empty rport and, unless its host is the source address or it has one already,
 * received=. At most CP_STAMP_MAX bytes more than the value. */
void cp_put_stamped(cp_buf *b, cp_span value, const cp_via *via, const struct sockaddr_in *src)
{
    char ip[INET_ADDRSTRLEN], port[8];
    size_t ip_n = ip_text(ip, &src->sin_addr);
    size_t port_n = utoa(port, ntohs(src->sin_port));
    if (via->rport_empty) {
        cp_buf_put(b, value.p, via->rport_at);
        cp_buf_put(b, "=", 1);
        cp_buf_put(b, port, port_n);
        cp_buf_put(b, value.p + via->rport_at, value.n - via->rport_at);
    } else {
        cp_buf_put(b, value.p, value.n);
    }
    if (!via->has_received && !(via->host.n == ip_n && memcmp(via->host.p, ip, ip_n) == 0)) {
        cp_buf_put(b, ";received=", 10);
        cp_buf_put(b, ip, ip_n);
    }
}

static int build(cp_plane *p, const cp_request *r, const cp_refusal *ref,
                 const struct sockaddr_in *src, unsigned long long decision, size_t *start)
{
    size_t need = ref->status_len + ref->extra_len + r->to.n + p->tag_prefix_len +
                  p->decision_prefix_len + CP_STAMP_MAX + 160;
    for (int i = 0; i < r->necho; i++)
        need += r->echo[i].n + 2;
    if (cp_buf_reserve(&p->out, need) < 0)
        return -1;
    *start = p->out.len;
    cp_buf_put(&p->out, ref->status_line, ref->status_len);
    for (int i = 0; i < r->necho; i++) {
        if (i != r->top) {
            cp_buf_put(&p->out, r->echo[i].p, r->echo[i].n);
            cp_buf_put(&p->out, "\r\n", 2);
            continue;
        }
        cp_buf_put(&p->out, "Via: ", 5);
        cp_put_stamped(&p->out, r->top_value, &r->via, src);
        cp_buf_put(&p->out, "\r\n", 2);
    }
    cp_buf_put(&p->out, "To: ", 4);
    cp_buf_put(&p->out, r->to.p, r->to.n);
    cp_buf_put(&p->out, ";tag=", 5);
    cp_buf_put(&p->out, p->tag_prefix, p->tag_prefix_len);
    cp_buf_digits(&p->out, p->next_id++, 16);
    cp_buf_put(&p->out, "\r\n", 2);
    cp_buf_put(&p->out, ref->extra, ref->extra_len);
    if (p->decision_prefix_len) {
        cp_buf_put(&p->out, "Callpolicy-Decision: ", 21);
        cp_buf_put(&p->out, p->decision_prefix, p->decision_prefix_len);
        cp_buf_digits(&p->out, decision, 36);
        cp_buf_put(&p->out, "\r\n", 2);
    }
    cp_buf_put(&p->out, "Content-Length: 0\r\n\r\n", 21);
    return 0;
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

static int remember(cp_plane *p, const cp_request *r, uint64_t h, size_t start,
                    const struct sockaddr_in *dest, double now)
{
    return put_answered(p, h, r->via.branch, r->call_id, p->out.data + start,
                        p->out.len - start, dest, now);
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

static int resend(cp_plane *p, const entry *e)
{
    if (cp_buf_reserve(&p->out, e->answer_len) < 0)
        return -1;
    size_t start = p->out.len;
    cp_buf_put(&p->out, e->answer, e->answer_len);
    return cp_plane_queue(p, start, &e->dest);
}

/* The ACK of our own refusal (RFC 3261 8.2.7): absorbed, from any peer. */
static int absorb(cp_plane *p, const char *data, size_t len)
{
    cp_request r;
    if (!cp_scan(data, len, p->max_message, p->via_host, p->via_host_len, &r) ||
        r.method != CP_ACK ||
        !cp_plane_answered_has(p, r.via.branch.p, r.via.branch.n, r.call_id.p, r.call_id.n))
        return 0;
    p->counters[CP_C_ACK_ABSORBED]++;
    return 1;
}

static int refuse(cp_plane *p, const char *data, size_t len, const struct sockaddr_in *src,
                  int trunk, double now);

int cp_plane_handle(cp_plane *p, const char *data, size_t len, const struct sockaddr_in *src,
                    double now)
{
    if (!p->enabled || src->sin_family != AF_INET)
        return 0;
    int trunk = trunk_of(p, src);
    if (trunk == CP_NO_PEER)
        return 0; /* dropped and counted by the core */
    /* As the core's receive(): an INVITE is refused or the core's, a CANCEL the core's,
     * anything else relayed if it can be (relay.c). */
    if (len >= 4 && memcmp(data, "INVI", 4) == 0)
        return refuse(p, data, len, src, trunk, now);
    if (len >= 4 && memcmp(data, "CANC", 4) == 0)
        return 0;
    if (len >= 4 && memcmp(data, "ACK ", 4) == 0 && absorb(p, data, len))
        return 1;
    return cp_plane_relay(p, data, len, src);
}

/* A trunk's INVITE the policy refuses: answered, remembered for Timer H. */
static int refuse(cp_plane *p, const char *data, size_t len, const struct sockaddr_in *src,
                  int trunk, double now)
{
    cp_request r;
    if (!cp_scan(data, len, p->max_message, p->via_host, p->via_host_len, &r) ||
        r.method != CP_INVITE)
        return 0;
    uint64_t h = fnv(r.via.branch.p, r.via.branch.n, r.call_id.p, r.call_id.n);
    entry *e = find(p->answered, &r.via.branch, &r.call_id, h);
    if (trunk < 0 || trunk >= p->ntrunks || !p->trunks[trunk].account)
        return 0;
    if (r.max_forwards == 0)
        return 0; /* 483 is the core's */
    if (e) {
        if (e->until > now) {
            if (resend(p, e) < 0)
                return 0;
            p->counters[CP_C_RETRANSMISSION]++;
            return 1;
        }
        /* Past Timer H: decided again as a new attempt (the core deletes it the same). */
        drop(p->answered, e);
    }
    if (p->held->count && find(p->held, &r.via.branch, &r.call_id, h))
        return 0; /* a retransmission of a call the core forwarded: its transaction's */
    const cp_trunk *t = &p->trunks[trunk];
    cp_decision d;
    if (cp_decide(p->rules, t->account, r.user.p, r.user.n, &d) != CP_REFUSE)
        return 0;
    if ((int)d.row >= p->nrefusals || !p->refusals[d.row].status_line)
        return 0;
    const cp_refusal *ref = &p->refusals[d.row];
    int row = (int)d.row;
    if (cp_limits_admit(p->limits, t->limits_slot, t->throttle, now) != CP_ADMIT) {
        ref = &p->dialer;
        row = -1;
    }
    unsigned long long decision = p->decision_prefix_len ? p->next_decision++ : 0;
    size_t start;
    if (build(p, &r, ref, src, decision, &start) < 0 || cp_plane_queue(p, start, src) < 0 ||
        remember(p, &r, h, start, src, now) < 0) {
        /* Out of memory after counting: answered next time by the core, as a retransmission
         * would be; nothing half-sent. */
        return 0;
    }
    p->counters[ref->counter]++;
    if (p->decision_prefix_len && p->log.head)
        cp_log_line(p, t, ref, decision, now, r.user.p, r.user.n, row >= 0 ? d.digits : "",
                    row >= 0 ? d.ndigits : 0);
    return 1;
}

/* ---- batches ------------------------------------------------------------------------- */

cp_plane *cp_plane_new(int fd, unsigned batch, size_t size, double t1, size_t max_answered,
                       cp_limits *limits)
{
    cp_plane *p = calloc(1, sizeof(cp_plane));
    if (!p)
        return NULL;
    p->fd = fd;
    p->batch = batch;
    p->size = size;
    p->t1 = t1;
    p->max_answered = max_answered;
    p->max_message = size;
    p->limits = limits;
    p->next_id = 1;
    p->next_decision = 1;
    p->buffers = malloc((size_t)batch * size);
    p->msgs = calloc(batch, sizeof(struct mmsghdr));
    p->iovs = calloc(batch, sizeof(struct iovec));
    p->names = calloc(batch, sizeof(struct sockaddr_in) * 2);
    p->python = calloc(batch, 1);
    p->lines.max = CP_LOG_MAX;
    p->out_slots = batch * 2;
    p->out_off = calloc(p->out_slots, sizeof(size_t));
    p->out_len_each = calloc(p->out_slots, sizeof(size_t));
    p->out_dest = calloc(p->out_slots, sizeof(struct sockaddr_in));
    p->peer_cap = 64;
    p->peer_keys = calloc(p->peer_cap, sizeof(uint64_t));
    p->peer_vals = calloc(p->peer_cap, sizeof(int));
    p->answered = calloc(1, sizeof(cp_answered));
    if (p->answered) {
        p->answered->nbuckets = 1024;
        p->answered->buckets = calloc(1024, sizeof(entry *));
    }
    p->held = calloc(1, sizeof(cp_answered));
    if (p->held) {
        p->held->nbuckets = 256;
        p->held->buckets = calloc(256, sizeof(entry *));
    }
    if (!p->buffers || !p->msgs || !p->iovs || !p->names || !p->python || cp_buf_reserve(&p->out, 65536) < 0 ||
        !p->out_off || !p->out_len_each || !p->out_dest || !p->peer_keys || !p->peer_vals ||
        !p->answered || !p->answered->buckets || !p->held || !p->held->buckets) {
        cp_plane_free(p);
        return NULL;
    }
    struct mmsghdr *m = p->msgs;
    struct iovec *v = p->iovs;
    for (unsigned i = 0; i < batch; i++) {
        v[i].iov_base = p->buffers + (size_t)i * size;
        v[i].iov_len = size;
        m[i].msg_hdr.msg_iov = &v[i];
        m[i].msg_hdr.msg_iovlen = 1;
        /* sockaddr_in6 fits in two sockaddr_in: such a source is simply the core's. */
        m[i].msg_hdr.msg_name = &p->names[2 * i];
    }
    return p;
}

static void free_refusals(cp_plane *p)
{
    for (int i = 0; i < p->nrefusals; i++) {
        free(p->refusals[i].status_line);
        free(p->refusals[i].extra);
        free(p->refusals[i].log_tail);
    }
    free(p->refusals);
    p->refusals = NULL;
    p->nrefusals = 0;
}

int cp_plane_set_refusals(cp_plane *p, int n)
{
    free_refusals(p);
    p->refusals = calloc((size_t)(n > 0 ? n : 1), sizeof(cp_refusal));
    if (!p->refusals)
        return -1;
    p->nrefusals = n;
    return 0;
}

void cp_plane_free(cp_plane *p)
{
    if (!p)
        return;
    cp_plane_stop(p);
    for (unsigned i = 0; i < p->nqueue; i++)
        free(p->queue[i].data);
    free(p->queue);
    if (p->answered) {
        if (p->answered->buckets)
            cp_plane_clear_answered(p);
        free(p->answered->buckets);
        free(p->answered);
    }
    if (p->held) {
        while (p->held->buckets && p->held->oldest)
            drop(p->held, p->held->oldest);
        free(p->held->buckets);
        free(p->held);
    }
    cp_dests_free(&p->dests);
    free_refusals(p);
    free(p->dialer.status_line);
    free(p->dialer.extra);
    free(p->dialer.log_tail);
    for (int i = 0; i < p->ntrunks; i++)
        free(p->trunks[i].account_json);
    free(p->buffers);
    free(p->msgs);
    free(p->iovs);
    free(p->names);
    free(p->python);
    free(p->out.data);
    free(p->out_off);
    free(p->out_len_each);
    free(p->out_dest);
    free(p->peer_keys);
    free(p->peer_vals);
    free(p->trunks);
    free(p->lines.data);
    free(p->log.head);
    free(p->log.middle);
    free(p);
}

static void reset_names(cp_plane *p)
{
    struct mmsghdr *m = p->msgs;
    /* recvmmsg shortens msg_namelen to each source's length: restore them all. */
    for (unsigned i = 0; i < p->batch; i++)
        m[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in) * 2;
}

/* Handle the n datagrams the last recvmmsg read; python[i] marks those left to Python. */
static void process(cp_plane *p, int n, double now)
{
    struct mmsghdr *m = p->msgs;
    p->counters[CP_C_RECEIVED] += (unsigned long long)n;
    for (int i = 0; i < n; i++) {
        const struct sockaddr_in *src = &p->names[2 * i];
        int ours = !(m[i].msg_hdr.msg_flags & MSG_TRUNC) &&
                   cp_plane_handle(p, p->buffers + (size_t)i * p->size, m[i].msg_len, src, now);
        p->python[i] = (unsigned char)!ours;
        p->counters[ours ? CP_C_HANDLED : CP_C_DECLINED]++;
    }
}

int cp_plane_flush(cp_plane *p, unsigned long long *sent)
{
    struct mmsghdr out[64];
    struct iovec iov[64];
    int failed = 0;
    unsigned at = 0;
    while (at < p->nout) {
        unsigned k = p->nout - at < 64 ? p->nout - at : 64;
        memset(out, 0, k * sizeof(struct mmsghdr));
        for (unsigned i = 0; i < k; i++) {
            iov[i].iov_base = p->out.data + p->out_off[at + i];
            iov[i].iov_len = p->out_len_each[at + i];
            out[i].msg_hdr.msg_iov = &iov[i];
            out[i].msg_hdr.msg_iovlen = 1;
            out[i].msg_hdr.msg_name = &p->out_dest[at + i];
            out[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
        }
        int n = sendmmsg(p->fd, out, k, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* The first one failed (a full buffer): lost, as UDP may; the peer retransmits. */
            failed++;
            at++;
            continue;
        }
        at += (unsigned)n;
        *sent += (unsigned long long)n;
    }
    p->nout = 0;
    p->out.len = 0;
    return failed;
}

size_t cp_plane_len(const cp_plane *p, unsigned i)
{
    return ((const struct mmsghdr *)p->msgs)[i].msg_len;
}

void cp_plane_queued(const cp_plane *p, unsigned i, const char **data, size_t *n,
                     struct sockaddr_in *dest)
{
    *data = p->out.data + p->out_off[i];
    *n = p->out_len_each[i];
    *dest = p->out_dest[i];
}

void cp_plane_drop_queued(cp_plane *p)
{
    p->nout = 0;
    p->out.len = 0;
}

/* ---- the plane's thread ------------------------------------------------------------ */

/* The clock of the event loop (uvloop's loop.time(): libuv's monotonic clock). */
static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cp_plane_enqueue(cp_plane *p, char *data, size_t len, const struct sockaddr_in *src)
{
    if (p->nqueue >= CP_QUEUE_MAX) {
        p->queue_dropped++;
        return -1;
    }
    if (p->nqueue == p->queue_cap) {
        unsigned cap = p->queue_cap ? p->queue_cap * 2 : 256;
        cp_queued *q = realloc(p->queue, cap * sizeof(cp_queued));
        if (!q) {
            p->queue_dropped++;
            return -1;
        }
        p->queue = q;
        p->queue_cap = cap;
    }
    cp_queued *q = &p->queue[p->nqueue++];
    q->data = data;
    q->len = len;
    q->src = *src;
    return 0;
}

static void enqueue(cp_plane *p, unsigned i)
{
    size_t len = ((const struct mmsghdr *)p->msgs)[i].msg_len;
    char *data = malloc(len ? len : 1);
    if (!data) {
        p->queue_dropped++;
        return;
    }
    memcpy(data, p->buffers + (size_t)i * p->size, len);
    if (cp_plane_enqueue(p, data, len, &p->names[2 * i]) < 0)
        free(data);
}

/* Wait for datagrams, answer what the plane can, queue the rest for Python and wake it.
 * Never touches Python: the GIL is not needed, so the loop runs beside the interpreter. */
static void *run(void *arg)
{
    cp_plane *p = arg;
    pthread_setname_np(pthread_self(), "cp-plane"); /* top -H, perf and /proc tell it apart */
    while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
        /* One system call per wake-up: block (the socket's receive timeout bounds how
         * late a stop is seen) until a datagram comes, then take what else is waiting. */
        reset_names(p);
        int n = recvmmsg(p->fd, p->msgs, p->batch, MSG_WAITFORONE, NULL);
        if (n <= 0)
            continue; /* the timeout, EINTR, or an ICMP error reported on the socket */
        pthread_mutex_lock(&p->limits->lock);
        unsigned before = p->nqueue;
        process(p, n, monotonic());
        for (int i = 0; i < n; i++)
            if (p->python[i])
                enqueue(p, (unsigned)i);
        unsigned long long sent = 0;
        if (p->nout)
            p->send_errors += (unsigned long long)cp_plane_flush(p, &sent);
        p->sent += sent;
        unsigned after = p->nqueue;
        pthread_mutex_unlock(&p->limits->lock);
        if (before == 0 && after > 0) {
            uint64_t one = 1;
            ssize_t w = write(p->wake_fd, &one, sizeof(one));
            (void)w; /* EAGAIN: the counter is already set, Python will wake */
        }
    }
    return NULL;
}

int cp_plane_start(cp_plane *p, int wake_fd)
{
    if (p->running)
        return 0;
    p->wake_fd = wake_fd;
    /* The thread blocks in recvmmsg: the socket becomes blocking with a receive timeout.
     * Sends on it (the thread's and the Python core's) all pass MSG_DONTWAIT. */
    struct timeval tv = {.tv_sec = 0, .tv_usec = 50000};
    int flags = fcntl(p->fd, F_GETFL);
    if (flags < 0 || fcntl(p->fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
        setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
        return errno;
    __atomic_store_n(&p->stop, 0, __ATOMIC_RELEASE);
    int err = pthread_create(&p->thread, NULL, run, p);
    if (err == 0)
        p->running = 1;
    return err;
}

void cp_plane_stop(cp_plane *p)
{
    if (!p->running)
        return;
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
    pthread_join(p->thread, NULL);
    p->running = 0;
    int flags = fcntl(p->fd, F_GETFL);
    if (flags >= 0)
        fcntl(p->fd, F_SETFL, flags | O_NONBLOCK); /* the caller's again, as it was */
}

cp_queued *cp_plane_take_queue(cp_plane *p, unsigned *n)
{
    cp_queued *q = p->queue;
    *n = p->nqueue;
    p->queue = NULL;
    p->nqueue = p->queue_cap = 0;
    return q;
}
