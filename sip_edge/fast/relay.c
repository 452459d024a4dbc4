/* The plane's relay: requests inside a dialog the edge record-routed and the responses
 * to them, forwarded statelessly (RFC 3261 16.11, 16.7, 18.2.2) without Python.
 *
 * The reference is the core's relay fast path (sip_edge/fastpath.py `_in_dialog_fast`,
 * `_respond_fast`, with sip_edge/dialogs.py and branching.py): the same checks, the
 * same lines spliced into the bytes as received, the same counters. Each function takes
 * only the plain case and returns 0 before any effect otherwise, and the core decides.
 * tests/sip/test_plane_relay.py holds the two to the same bytes, places and state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "admission.h"
#include "blake2b.h"
#include "plane.h"
#include "relay.h"

/* RFC 3261 8.1.1.7's magic cookie and the edge's own mark (branching.MAGIC). */
#define MAGIC "z9hG4bKcpe"
#define MAGIC_LEN 10

/* dialogs.ALLOW, in the order of the plane's in-dialog counters (CP_C_IN_DIALOG + i). */
static const char *const METHODS[CP_IN_DIALOG_METHODS - 1] = {
    "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "UPDATE", "PRACK", "REFER", "NOTIFY",
};

static int is(cp_span s, const char *text)
{
    size_t n = strlen(text);
    return s.n == n && memcmp(s.p, text, n) == 0;
}

/* `host`:`port` as a destination: a known peer host written as an IPv4 address (the
 * core sends to any host it knows; the plane only to those it can address itself). */
static int dest_of(const cp_plane *p, cp_span host, long port, struct sockaddr_in *out)
{
    char text[INET_ADDRSTRLEN];
    if (host.n == 0 || host.n >= sizeof(text) || !cp_dests_has(&p->dests, host))
        return 0;
    memcpy(text, host.p, host.n);
    text[host.n] = '\0';
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, text, &out->sin_addr) == 1;
}

/* ---- requests inside a dialog -------------------------------------------------------- */

/* reader.uri_hostport of a URI the plane takes: "scheme:[user@]host[:port][;...]" with
 * no IPv6 reference and no spaces; port 5060 when none is written (dialogs._next_hop). */
static int uri_dest(cp_span uri, cp_span *host, long *port)
{
    const char *colon = memchr(uri.p, ':', uri.n);
    if (!colon || memchr(uri.p, ' ', uri.n))
        return 0;
    const char *rest = colon + 1, *end = uri.p + uri.n;
    for (const char *q = end; q > rest; q--)
        if (q[-1] == '@') {
            rest = q;
            break;
        }
    const char *stop = rest;
    while (stop < end && *stop != ';' && *stop != '?' && *stop != '>')
        stop++;
    if (stop == rest || *rest == '[')
        return 0;
    const char *pc = memchr(rest, ':', (size_t)(stop - rest));
    host->p = rest;
    host->n = (size_t)((pc ? pc : stop) - rest);
    *port = 5060;
    if (host->n == 0)
        return 0;
    if (pc && (!cp_digits(pc + 1, (size_t)(stop - pc - 1), 5, port) || *port < 1 || *port > 65535))
        return 0;
    return 1;
}

/* Where the request goes (dialogs._next_hop): through our Record-Route (as we wrote it),
 * to the next Route's URI or else the Request-URI, if that is a known peer. */
static int next_hop(const cp_plane *p, const cp_relay *r, struct sockaddr_in *dest)
{
    if (r->nroutes == 0 || r->routes[0].value.n != p->rr_len ||
        memcmp(r->routes[0].value.p, p->rr, p->rr_len) != 0)
        return 0; /* not routed through this edge, or spelled otherwise: the core's */
    cp_span uri = r->uri;
    if (r->nroutes > 1) {
        cp_span v = r->routes[1].value;
        const char *gt = memchr(v.p, '>', v.n);
        if (v.n < 2 || v.p[0] != '<' || !gt)
            return 0;
        uri.p = v.p + 1;
        uri.n = (size_t)(gt - v.p - 1);
    }
    cp_span host;
    long port;
    return uri_dest(uri, &host, &port) && dest_of(p, host, port, dest);
}

/* `n` bytes as 2n lower-case hex digits at `out` (hashlib's hexdigest). */
static void hex(char *out, const uint8_t *h, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[h[i] >> 4];
        out[2 * i + 1] = digits[h[i] & 15];
    }
}

/* Our Via (branching._dialog_via): the loop hash of From tag, Call-ID, CSeq number and
 * Request-URI keyed with the edge's secret (16.6 step 8), and a suffix from the top
 * branch, so a retransmission gets the same branch (16.11). 0: too long to hash. */
static int put_dialog_via(cp_plane *p, const cp_relay *r, cp_span from_tag, cp_span branch)
{
    char text[2048];
    const char *sp = memchr(r->cseq.p, ' ', r->cseq.n);
    size_t num = (size_t)(sp - r->cseq.p);
    size_t n = from_tag.n + 1 + r->call_id.n + 1 + num + 1 + r->uri.n;
    if (n > sizeof(text))
        return 0;
    size_t at = 0;
    if (from_tag.n) /* a From without a tag hashes as '' (memcpy wants a pointer) */
        memcpy(text + at, from_tag.p, from_tag.n), at += from_tag.n;
    text[at++] = '|';
    memcpy(text + at, r->call_id.p, r->call_id.n), at += r->call_id.n;
    text[at++] = '|';
    memcpy(text + at, r->cseq.p, num), at += num;
    text[at++] = '|';
    memcpy(text + at, r->uri.p, r->uri.n), at += r->uri.n;
    uint8_t loop[6], suffix[4];
    cp_blake2b(loop, 6, p->secret, p->secret_len, text, n);
    cp_blake2b(suffix, 4, NULL, 0, branch.p, branch.n);
    cp_buf_put(&p->out, "Via: SIP/2.0/UDP ", 17);
    cp_buf_put(&p->out, p->via_host, p->via_host_len);
    cp_buf_put(&p->out, ";branch=" MAGIC, 8 + MAGIC_LEN);
    hex(p->out.data + p->out.len, loop, 6);
    p->out.len += 12;
    cp_buf_put(&p->out, ".", 1);
    hex(p->out.data + p->out.len, suffix, 4);
    p->out.len += 8;
    cp_buf_put(&p->out, ";rport\r\n", 8);
    return 1;
}

static int in_dialog(cp_plane *p, const char *data, size_t len, const cp_relay *r,
                     const cp_via *top, const struct sockaddr_in *src)
{
    int ack = is(r->method, "ACK");
    cp_span to_tag = {NULL, 0};
    if (ack) {
        cp_key k = cp_key_of(top->branch, r->call_id);
        if (cp_plane_was_answered(p, &k)) {
            p->counters[CP_C_ACK_ABSORBED]++; /* ACK of our own refusal (RFC 3261 8.2.7) */
            return 1;
        }
        if (cp_plane_is_held(p, &k))
            return 0; /* maybe the ACK of a non-2xx, hop by hop: the core's */
    } else {
        for (int i = 0; i < r->nvias; i++)
            if (cp_contains(r->vias[i].value.p, r->vias[i].value.n, p->via_host, p->via_host_len))
                return 0; /* the loop check (482) is the core's */
        if (!cp_tag_of(r->to, &to_tag) || to_tag.n == 0)
            return 0; /* not inside a dialog */
    }
    long mf;
    if (!r->has_mf || !cp_digits(r->mf.value.p, r->mf.value.n, 10, &mf) || mf == 0)
        return 0; /* the core adds one, or answers 483 */
    struct sockaddr_in dest;
    cp_span from_tag;
    if (!next_hop(p, r, &dest) || !cp_tag_of(r->from.value, &from_tag))
        return 0;
    int m = CP_IN_DIALOG_METHODS - 1;
    for (int i = 0; i < CP_IN_DIALOG_METHODS - 1; i++)
        if (is(r->method, METHODS[i]))
            m = i;
    if (cp_buf_reserve(&p->out, len + p->via_host_len + 256) < 0)
        return 0;
    size_t start = p->out.len;
    const cp_line *via = &r->vias[0], *mfl = &r->mf, *route = &r->routes[0];
    /* The three edits in the order of their lines: our Via and the stamped top Via,
     * Max-Forwards less one, our Route out (16.6 steps 3 and 8, 16.12, 18.2.1). */
    const cp_line *at[3] = {via, mfl, route};
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (at[j]->start < at[i]->start) {
                const cp_line *t = at[i];
                at[i] = at[j];
                at[j] = t;
            }
    size_t from = 0;
    for (int i = 0; i < 3; i++) {
        cp_buf_put(&p->out, data + from, at[i]->start - from);
        if (at[i] == via) {
            if (!put_dialog_via(p, r, from_tag, top->branch)) {
                p->out.len = start;
                return 0;
            }
            cp_buf_put(&p->out, "Via: ", 5);
            cp_put_stamped(&p->out, via->value, top, src);
            cp_buf_put(&p->out, "\r\n", 2);
        } else if (at[i] == mfl) {
            char digits[12];
            size_t n = (size_t)snprintf(digits, sizeof(digits), "%ld", mf - 1);
            cp_buf_put(&p->out, "Max-Forwards: ", 14);
            cp_buf_put(&p->out, digits, n);
            cp_buf_put(&p->out, "\r\n", 2);
        }
        from = at[i]->end;
    }
    cp_buf_put(&p->out, data + from, len - from);
    if (cp_plane_queue(p, start, &dest) < 0) {
        p->out.len = start;
        return 0;
    }
    /* dialogs._site_bye: the session ends with the BYE, from either side, whatever its
     * answer (RFC 3261 15); the caller's tag is in From or To as either hangs up. */
    if (is(r->method, "BYE") && p->admission)
        cp_admission_ended(p->admission, r->call_id.p, r->call_id.n, from_tag.p, from_tag.n,
                           to_tag.p, to_tag.n);
    p->counters[CP_C_IN_DIALOG + m]++;
    return 1;
}

/* ---- responses ------------------------------------------------------------------------ */

/* A response to a request the edge forwarded inside a dialog: our Via off, to the next
 * one (16.7, 18.2.2, RFC 3581). The core keeps INVITE and CANCEL responses (its
 * transactions), and so the plane takes a branch only if it is one `_dialog_via` wrote
 * for the next Via's branch: never one an emergency call left for its fallback. */
static int respond(cp_plane *p, const char *data, size_t len, const cp_relay *r,
                   const cp_via *top, double now)
{
    if (top->sent_by.n != p->via_host_len || memcmp(top->sent_by.p, p->via_host, p->via_host_len))
        return 0;
    if (is(r->cseq_method, "INVITE"))
        return cp_owned_response(p, data, len, r, top, now); /* owned.c, else the core's */
    if (is(r->cseq_method, "CANCEL") || r->nvalues < 2)
        return 0;
    cp_via next;
    if (!cp_via_parse(r->via_values[1], &next))
        return 0;
    cp_span b = top->branch;
    if (b.n != MAGIC_LEN + 12 + 1 + 8 || memcmp(b.p, MAGIC, MAGIC_LEN) != 0 ||
        b.p[MAGIC_LEN + 12] != '.')
        return 0;
    uint8_t suffix[4];
    char text[8];
    cp_blake2b(suffix, 4, NULL, 0, next.branch.p, next.branch.n);
    hex(text, suffix, 4);
    if (memcmp(b.p + MAGIC_LEN + 13, text, 8) != 0)
        return 0;
    /* responses._via_dest: received, else the host; rport, else the port, else 5060. */
    cp_span host = next.has_received ? next.received : next.host;
    long port = next.port ? next.port : 5060;
    if (next.rport.n && (!cp_digits(next.rport.p, next.rport.n, 5, &port) || port < 1 ||
                         port > 65535))
        return 0;
    struct sockaddr_in dest;
    if (!dest_of(p, host, port, &dest))
        return 0;
    if (cp_buf_reserve(&p->out, len + 5 * (size_t)r->nvalues) < 0)
        return 0;
    size_t start = p->out.len;
    if (r->nvalues == r->nvias) {
        /* One value per line: the top line out, the rest as received (the splice). */
        cp_buf_put(&p->out, data, r->vias[0].start);
        cp_buf_put(&p->out, data + r->vias[0].end, len - r->vias[0].end);
    } else {
        /* Folded Vias: what the core's full path writes (reader.py splits them, the
         * first goes, serialize() writes one value per line), the rest as received. */
        size_t from = 0;
        for (int line = 0; line < r->nvias; line++) {
            cp_buf_put(&p->out, data + from, r->vias[line].start - from);
            for (int k = line == 0 ? 1 : 0; k < r->nvalues; k++) {
                if (r->via_line_of[k] != line)
                    continue;
                cp_buf_put(&p->out, "Via: ", 5);
                cp_buf_put(&p->out, r->via_values[k].p, r->via_values[k].n);
                cp_buf_put(&p->out, "\r\n", 2);
            }
            from = r->vias[line].end;
        }
        cp_buf_put(&p->out, data + from, len - from);
    }
    if (cp_plane_queue(p, start, &dest) < 0) {
        p->out.len = start;
        return 0;
    }
    p->counters[CP_C_RESPONSE_STATELESS]++;
    return 1;
}

int cp_plane_relay(cp_plane *p, const char *data, size_t len, const struct sockaddr_in *src,
                   double now)
{
    cp_relay r;
    cp_via top;
    if (!p->relay || !cp_scan_relay(data, len, p->max_message, &r) ||
        !cp_via_parse(r.via_values[0], &top))
        return 0;
    /* A padded Content-Length is spelled out again only by the owned answers' writer
     * (owned.c); the relay's writers copy it, so such a message is the core's there. */
    if (r.length_padded && (!r.status || !is(r.cseq_method, "INVITE")))
        return 0;
    if (r.status)
        return respond(p, data, len, &r, &top, now);
    if (is(r.method, "INVITE") || is(r.method, "CANCEL"))
        return 0; /* the core's (the refusal path takes the plane's INVITEs) */
    return in_dialog(p, data, len, &r, &top, src);
}
