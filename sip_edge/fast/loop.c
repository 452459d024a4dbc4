/* The plane's life: made and freed, and each datagram sent where it belongs (the
 * refusal, the relay, the answers the core's INVITEs get, or the Python core); its
 * threads are in readers.c. See plane.h for what it handles and README.md for how it
 * sits beside the Python core. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "plane.h"

int cp_plane_handle(cp_plane *p, const char *data, size_t len, const struct sockaddr_in *src,
                    double now)
{
    if (!p->enabled || src->sin_family != AF_INET)
        return 0;
    int trunk = cp_plane_trunk_of(p, src);
    if (trunk == CP_NO_PEER)
        return 0; /* dropped and counted by the core */
    /* As the core's receive(): an INVITE is refused or the core's, a CANCEL the core's,
     * anything else relayed if it can be (relay.c). */
    int ours;
    if (len >= 4 && memcmp(data, "INVI", 4) == 0)
        ours = cp_plane_refuse(p, data, len, src, trunk, now);
    else if (len >= 4 && memcmp(data, "CANC", 4) == 0)
        ours = 0;
    else if (cp_plane_relay(p, data, len, src, now))
        ours = 1; /* an ACK of a refusal is absorbed there too, from one scan */
    else
        /* An ACK of a refusal in a shape the relay does not take (sipp pads its
         * Content-Length): the INVITE scanner's. */
        ours = len >= 4 && memcmp(data, "ACK ", 4) == 0 && cp_plane_absorb(p, data, len);
    if (!ours)
        cp_owned_declined(p, data, len); /* the core sees a call's messages in order */
    return ours;
}

/* ---- life ---------------------------------------------------------------------------- */

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
    p->rx[0] = cp_rx_new(fd, batch, size);
    p->lines.max = CP_LOG_MAX;
    p->out_slots = batch * 2;
    p->out_off = calloc(p->out_slots, sizeof(size_t));
    p->out_len_each = calloc(p->out_slots, sizeof(size_t));
    p->out_dest = calloc(p->out_slots, sizeof(struct sockaddr_in));
    p->peer_cap = 64;
    p->peer_keys = calloc(p->peer_cap, sizeof(uint64_t));
    p->peer_vals = calloc(p->peer_cap, sizeof(int));
    p->answered = cp_answered_new(1024);
    p->held = cp_answered_new(256);
    p->owned = cp_owned_new();
    if (!p->rx[0] || cp_buf_reserve(&p->out, 65536) < 0 || !p->out_off ||
        !p->out_len_each || !p->out_dest || !p->peer_keys || !p->peer_vals || !p->answered ||
        !p->held || !p->owned) {
        cp_plane_free(p);
        return NULL;
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
    cp_answered_free(p->answered);
    cp_answered_free(p->held);
    cp_owned_free(p->owned);
    cp_dests_free(&p->dests);
    free_refusals(p);
    free(p->dialer.status_line);
    free(p->dialer.extra);
    free(p->dialer.log_tail);
    for (int i = 0; i < p->ntrunks; i++)
        free(p->trunks[i].account_json);
    cp_rx_free(p->rx[0]);
    cp_rx_free(p->rx[1]);
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
