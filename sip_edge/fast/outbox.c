/* What the plane sends: the answers and relayed messages of a batch, written back to
 * back into one buffer (cp_buf) and sent with sendmmsg(2) at the end of the batch. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "plane.h"

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

