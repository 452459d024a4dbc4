/* The refused call in C: a trunk's INVITE that the policy refuses, answered with the
 * bytes the core writes (`response_from`), remembered for Timer H; its retransmission
 * answered again; its ACK absorbed (RFC 3261 8.2.7, 17.2.1). The Python core's refusal
 * fast path (sip_edge/fastpath.py `_refuse_fast`) is the reference. */
#include <string.h>

#include "plane.h"
#include "scan.h"

/* response_from() of the request as scanned: the status line, the echoed lines with the
 * top Via stamped (RFC 3261 18.2.1, RFC 3581), To with our tag, the refusal's lines, its
 * decision id, and no body. Returns the answer's start in `out`. */
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

/* The ACK of our own refusal (RFC 3261 8.2.7): absorbed, from any peer. */
int cp_plane_absorb(cp_plane *p, const char *data, size_t len)
{
    cp_request r;
    if (!cp_scan(data, len, p->max_message, p->via_host, p->via_host_len, &r) ||
        r.method != CP_ACK)
        return 0;
    cp_key k = cp_key_of(r.via.branch, r.call_id);
    if (!cp_plane_was_answered(p, &k))
        return 0;
    p->counters[CP_C_ACK_ABSORBED]++;
    return 1;
}

/* A trunk's INVITE the policy refuses: answered, remembered for Timer H. */
int cp_plane_refuse(cp_plane *p, const char *data, size_t len, const struct sockaddr_in *src,
                    int trunk, double now)
{
    cp_request r;
    if (!cp_scan(data, len, p->max_message, p->via_host, p->via_host_len, &r) ||
        r.method != CP_INVITE)
        return 0;
    if (trunk < 0 || trunk >= p->ntrunks || !p->trunks[trunk].account)
        return 0;
    if (r.max_forwards == 0)
        return 0; /* 483 is the core's */
    cp_key k = cp_key_of(r.via.branch, r.call_id); /* hashed once for the three tables */
    int again = cp_plane_replay(p, &k, now);
    if (again < 0)
        return 0;
    if (again) {
        p->counters[CP_C_RETRANSMISSION]++;
        return 1;
    }
    if (cp_plane_is_held(p, &k))
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
        cp_plane_remember(p, &k, p->out.data + start, p->out.len - start, src, now) < 0) {
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

