/* The answers to an allowed INVITE the Python core forwarded, relayed in C while the core
 * keeps the transactions (RFC 3261 16.7, 17.1.1; sip_edge/core/responses.py is the
 * reference).
 *
 * When the core forwards a trunk's INVITE over UDP it hands the plane the call
 * (cp_owned_put): the plane then relays the carrier's plain answers itself and records each
 * one as an event (status, time, the bytes sent upstream):
 *   - 100 Trying: absorbed (16.7 step 3: the edge sent its own);
 *   - 101-199, 2xx: the carrier's answer with the INVITE's Vias and From as the customer
 *     sent them, spliced as the core's relay fast path writes it (`spliced_upstream`), to
 *     the trunk.
 * The core replays the events through its own transactions when it next touches the
 * call (a timer, a CANCEL, a retransmission, an answer the plane left to it), and so ends
 * in the state it would have reached by handling them itself; tests/sip/test_plane_owned.py
 * holds the two to the same bytes and states.
 *
 * The plane hands a call back ("returns" it: no more events, the core's from then on) when
 * it relays a 2xx (the set-up is over: the core counts it done at once), or when it
 * leaves any datagram of the call to the core (a final error, a CANCEL, a retransmitted
 * INVITE, a shape it does not take), so the core sees the call's messages in the order
 * they came. Returned calls wake nobody: the core takes them back before it handles
 * whatever it is woken for (its call order is then the plane's), and on its 50 ms tick.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fifo.h"
#include "plane.h"
#include "relay.h"

struct cp_owned {
    cp_fifo fifo;                 /* calls the plane answers for, by Call-ID */
    cp_owned_call *returned;      /* handed back, oldest first, until the core takes them */
    cp_owned_call *returned_last;
    size_t count;
};

static void call_free(cp_owned_call *c)
{
    free(c->bytes.data);
    free(c);
}

cp_owned *cp_owned_new(void)
{
    cp_owned *t = calloc(1, sizeof(cp_owned));
    if (t && cp_fifo_init(&t->fifo, 256) < 0) {
        free(t);
        return NULL;
    }
    return t;
}

void cp_owned_free(cp_owned *t)
{
    if (!t)
        return;
    while (t->fifo.oldest) {
        cp_owned_call *c = (cp_owned_call *)t->fifo.oldest;
        cp_fifo_unlink(&t->fifo, &c->node);
        call_free(c);
    }
    while (t->returned) {
        cp_owned_call *c = t->returned;
        t->returned = c->next;
        call_free(c);
    }
    cp_fifo_free(&t->fifo);
    free(t);
}

size_t cp_owned_count(const cp_plane *p)
{
    return p->owned ? p->owned->count : 0;
}

static uint64_t hash_of(cp_span call_id)
{
    return cp_hash2(call_id.p, call_id.n, "", 0);
}

static cp_owned_call *by_call_id(const cp_owned *t, cp_span call_id, uint64_t h)
{
    for (cp_node *n = cp_fifo_chain(&t->fifo, h); n; n = n->chain) {
        cp_owned_call *c = (cp_owned_call *)n;
        if (n->hash == h && c->call_id_len == call_id.n &&
            memcmp(c->text, call_id.p, call_id.n) == 0)
            return c;
    }
    return NULL;
}

static cp_owned_call *returned_by_call_id(const cp_owned *t, cp_span call_id)
{
    cp_owned_call *c = t->returned;
    while (c && !(c->call_id_len == call_id.n && memcmp(c->text, call_id.p, call_id.n) == 0))
        c = c->next;
    return c;
}

int cp_owned_put(cp_plane *p, cp_span call_id, cp_span branch, cp_span vias, cp_span from,
                 const struct sockaddr_in *trunk, int limits_slot)
{
    cp_owned *t = p->owned;
    if (!t || !p->relay)
        return 0;
    uint64_t h = hash_of(call_id);
    if (by_call_id(t, call_id, h) || returned_by_call_id(t, call_id))
        return 0; /* one INVITE per Call-ID: another stays the core's alone */
    if (cp_fifo_reserve(&t->fifo) < 0)
        return -1;
    size_t n = call_id.n + branch.n + vias.n + from.n;
    cp_owned_call *c = calloc(1, sizeof(cp_owned_call) + n);
    if (!c)
        return -1;
    c->node.hash = h;
    c->call_id_len = call_id.n;
    c->branch_len = branch.n;
    c->vias_len = vias.n;
    c->from_len = from.n;
    char *at = c->text;
    memcpy(at, call_id.p, call_id.n);
    memcpy(at += call_id.n, branch.p, branch.n);
    memcpy(at += branch.n, vias.p, vias.n);
    memcpy(at + vias.n, from.p, from.n);
    c->trunk = *trunk;
    c->limits_slot = limits_slot;
    cp_fifo_link(&t->fifo, &c->node);
    t->count++;
    return 1;
}

/* Hand `c` back to the core: out of the table, onto the returned list. */
static void hand_back(cp_plane *p, cp_owned_call *c)
{
    cp_owned *t = p->owned;
    cp_fifo_unlink(&t->fifo, &c->node);
    c->returned = 1;
    c->next = NULL;
    if (t->returned_last)
        t->returned_last->next = c;
    else
        t->returned = c;
    t->returned_last = c;
}

cp_owned_call *cp_owned_find(cp_plane *p, cp_span call_id, cp_span branch)
{
    cp_owned *t = p->owned;
    if (!t)
        return NULL;
    cp_owned_call *live = by_call_id(t, call_id, hash_of(call_id));
    cp_owned_call *back = returned_by_call_id(t, call_id);
    cp_owned_call *both[2] = {live, back};
    for (int k = 0; k < 2; k++) {
        cp_owned_call *c = both[k];
        if (c && c->branch_len == branch.n &&
            memcmp(c->text + c->call_id_len, branch.p, branch.n) == 0)
            return c;
    }
    return NULL;
}

void cp_owned_clear(cp_owned_call *c)
{
    c->nevents = 0;
    c->bytes.len = 0;
}

void cp_owned_call_free(cp_owned_call *c)
{
    call_free(c);
}

cp_owned_call *cp_owned_copy(const cp_owned_call *c)
{
    size_t n = c->call_id_len + c->branch_len + c->vias_len + c->from_len;
    cp_owned_call *copy = malloc(sizeof(cp_owned_call) + n);
    if (!copy)
        return NULL;
    memcpy(copy, c, sizeof(cp_owned_call) + n);
    copy->next = NULL;
    memset(&copy->bytes, 0, sizeof(copy->bytes));
    if (c->bytes.len && (cp_buf_reserve(&copy->bytes, c->bytes.len) < 0)) {
        free(copy);
        return NULL;
    }
    if (c->bytes.len)
        cp_buf_put(&copy->bytes, c->bytes.data, c->bytes.len);
    return copy;
}

cp_owned_call *cp_owned_detach_returned(cp_plane *p)
{
    cp_owned *t = p->owned;
    if (!t)
        return NULL;
    cp_owned_call *head = t->returned;
    for (cp_owned_call *c = head; c; c = c->next)
        t->count--;
    t->returned = t->returned_last = NULL;
    return head;
}

void cp_owned_detach(cp_plane *p, cp_owned_call *c)
{
    cp_owned *t = p->owned;
    if (c->returned) {
        cp_owned_call **link = &t->returned, *prev = NULL;
        while (*link && *link != c) {
            prev = *link;
            link = &(*link)->next;
        }
        if (*link)
            *link = c->next;
        if (t->returned_last == c)
            t->returned_last = prev;
    } else {
        cp_fifo_unlink(&t->fifo, &c->node);
    }
    t->count--;
}

/* The Call-ID of any message, as the core reads it (a header named Call-ID or i, any
 * case): empty if none is found. Only for datagrams the plane declines. */
static cp_span call_id_of(const char *data, size_t len)
{
    cp_span none = {NULL, 0};
    const char *end = data + len, *line = memchr(data, '\n', len);
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol || eol == line || (eol == line + 1 && *line == '\r'))
            return none; /* the end of the headers */
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon) {
            const char *name_end = colon;
            while (name_end > line && (name_end[-1] == ' ' || name_end[-1] == '\t'))
                name_end--;
            size_t n = (size_t)(name_end - line);
            if ((n == 7 && strncasecmp(line, "call-id", 7) == 0) ||
                (n == 1 && (*line == 'i' || *line == 'I'))) {
                const char *v = colon + 1, *e = eol;
                while (v < e && (*v == ' ' || *v == '\t'))
                    v++;
                while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
                    e--;
                cp_span s = {v, (size_t)(e - v)};
                return s;
            }
        }
        line = eol;
    }
    return none;
}

void cp_owned_declined(cp_plane *p, const char *data, size_t len)
{
    if (!p->owned || !p->owned->count)
        return;
    cp_span call_id = call_id_of(data, len);
    if (!call_id.n)
        return;
    cp_owned_call *c = by_call_id(p->owned, call_id, hash_of(call_id));
    if (c)
        hand_back(p, c); /* the core's from here on, in the order its messages came */
}

/* Keep an event of `c` (the bytes sent upstream, if any): 0, or -1 (no room: the caller
 * leaves the answer to the core). */
static int keep(cp_owned_call *c, int status, double now, const char *sent, size_t n)
{
    if (c->nevents == CP_OWNED_EVENTS || cp_buf_reserve(&c->bytes, n) < 0)
        return -1;
    cp_owned_event *e = &c->events[c->nevents++];
    e->status = status;
    e->at = now;
    e->off = c->bytes.len;
    e->len = n;
    if (n) /* a 100 keeps none: no buffer yet, and memcpy to NULL is undefined */
        cp_buf_put(&c->bytes, sent, n);
    return 0;
}

int cp_owned_response(cp_plane *p, const char *data, size_t len, const cp_relay *r,
                      const cp_via *top, double now)
{
    cp_owned_call *c = p->owned && p->owned->count
                           ? by_call_id(p->owned, r->call_id, hash_of(r->call_id))
                           : NULL;
    if (!c || top->branch.n != c->branch_len ||
        memcmp(top->branch.p, c->text + c->call_id_len, c->branch_len) != 0 ||
        !(r->status >= 100 && r->status < 300) || r->from.end == 0 ||
        c->nevents == CP_OWNED_EVENTS)
        return 0; /* the core's (cp_owned_declined hands the call back with it) */
    /* Every Via as the core's parser reads it: a message it cannot parse it drops (and
     * the splice below removes them all, unread). */
    for (int k = 1; k < r->nvalues; k++) {
        cp_via v;
        if (!cp_via_parse(r->via_values[k], &v))
            return 0;
    }
    if (r->status == 100)
        return keep(c, 100, now, "", 0) == 0;
    /* spliced_upstream: every Via line out, the INVITE's Vias as received in after the
     * status line, its From in place of ours; the rest as received. */
    const char *vias = c->text + c->call_id_len + c->branch_len;
    const char *from = vias + c->vias_len;
    if (cp_buf_reserve(&p->out, len + c->vias_len + c->from_len) < 0)
        return 0;
    size_t start = p->out.len;
    cp_buf_put(&p->out, data, r->first_header);
    cp_buf_put(&p->out, vias, c->vias_len);
    size_t at = r->first_header;
    int v = 0, from_done = 0;
    for (;;) {
        const cp_line *edit = v < r->nvias ? &r->vias[v] : NULL;
        int is_from = !from_done && (!edit || r->from.start < edit->start);
        if (is_from)
            edit = &r->from;
        if (!edit)
            break;
        cp_buf_put(&p->out, data + at, edit->start - at);
        if (is_from) {
            /* respelled(): the line's name as received, the new value */
            size_t name = r->from.end - 2 - r->from.value.n - r->from.start;
            cp_buf_put(&p->out, data + r->from.start, name);
            cp_buf_put(&p->out, from, c->from_len);
            cp_buf_put(&p->out, "\r\n", 2);
            from_done = 1;
        } else {
            v++;
        }
        at = edit->end;
    }
    if (r->length_padded) {
        /* serialize(): "Content-Length: <n>" (the core's full path writes it so) */
        char digits[48];
        int k = snprintf(digits, sizeof(digits), "Content-Length: %.*s\r\n",
                         (int)r->length.value.n, r->length.value.p);
        if (k < 0 || (size_t)k >= sizeof(digits) || at > r->length.start) {
            p->out.len = start;
            return 0;
        }
        cp_buf_put(&p->out, data + at, r->length.start - at);
        cp_buf_put(&p->out, digits, (size_t)k);
        at = r->length.end;
    }
    cp_buf_put(&p->out, data + at, len - at);
    size_t n = p->out.len - start;
    /* Room for the event first: once queued, the answer must be on record. */
    if (cp_buf_reserve(&c->bytes, n) < 0 || cp_plane_queue(p, start, &c->trunk) < 0) {
        p->out.len = start;
        return 0;
    }
    keep(c, r->status, now, p->out.data + start, n);
    if (r->status >= 200) {
        /* The set-up is over. Its power-dialer count ends now, as the core's _final would
         * on this answer: a refusal the plane decides next reads the counts the core
         * would (Limits.ended). The rest (in flight, Timer L) when the core takes it. */
        if (c->limits_slot >= 0 && c->limits_slot < p->limits->nslots) {
            cp_limit *a = &p->limits->slots[c->limits_slot];
            if (a->live && a->concurrent > 0)
                a->concurrent--;
        }
        c->ended = 1;
        hand_back(p, c);
    }
    return 1;
}
