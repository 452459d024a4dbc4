/* The plane's life: made and freed, each datagram sent where it belongs (the refusal,
 * the relay, or the Python core), batches read and written, and its own thread. See
 * plane.h for what it handles and README.md for how it sits beside the Python core. */
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

/* ---- batches ------------------------------------------------------------------------- */

cp_plane *cp_plane_new(int fd, unsigned batch, size_t size, double t1, size_t max_answered,
                       cp_limits *limits)
{
    cp_plane *p = calloc(1, sizeof(cp_plane));
    if (!p)
        return NULL;
    p->fd = fd;
    p->fd2 = -1;
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
    p->answered = cp_answered_new(1024);
    p->held = cp_answered_new(256);
    p->owned = cp_owned_new();
    if (!p->buffers || !p->msgs || !p->iovs || !p->names || !p->python || cp_buf_reserve(&p->out, 65536) < 0 ||
        !p->out_off || !p->out_len_each || !p->out_dest || !p->peer_keys || !p->peer_vals ||
        !p->answered || !p->held || !p->owned) {
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

size_t cp_plane_len(const cp_plane *p, unsigned i)
{
    return ((const struct mmsghdr *)p->msgs)[i].msg_len;
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

/* Read moderation (run()): the thread pauses only while the datagrams of the last
 * CP_RATE_WINDOW seconds came fast enough for a pause to gather CP_PAUSE_GATHER of them. */
#define CP_RATE_WINDOW 0.05
#define CP_PAUSE_GATHER 4

void cp_pace_init(cp_pace *c, double now)
{
    c->window_start = now;
    c->count = 0;
    c->busy = 0;
}

int cp_pace_after(cp_pace *c, double pause, double now, int read, int full)
{
    c->count += (unsigned long long)read;
    if (now - c->window_start >= CP_RATE_WINDOW) {
        c->busy = (double)c->count * pause >= CP_PAUSE_GATHER * (now - c->window_start);
        c->window_start = now;
        c->count = 0;
    }
    return c->busy && read > 0 && !full && pause > 0;
}

/* Read one batch waiting on `fd`, answer what the plane can and queue the rest for
 * Python (the lock held): the number of datagrams read. */
static int read_batch(cp_plane *p, int fd, double now)
{
    reset_names(p);
    int n = recvmmsg(fd, p->msgs, p->batch, MSG_DONTWAIT, NULL);
    if (n <= 0)
        return 0; /* nothing waiting, EINTR, or an ICMP error reported on the socket */
    process(p, n, now);
    for (int i = 0; i < n; i++)
        if (p->python[i])
            enqueue(p, (unsigned)i);
    return n;
}

/* Wait for datagrams on the plane's sockets, answer what the plane can, queue the rest
 * for Python and wake it. Never touches Python: the GIL is not needed, so the loop runs
 * beside the interpreter.
 *
 * Read moderation (p->pause_ns): while datagrams come fast enough that a pause gathers
 * CP_PAUSE_GATHER of them (measured over the last CP_RATE_WINDOW), the thread sleeps
 * `pause` after each read that found some (and less than a full batch from each socket),
 * so what arrives meanwhile is read, answered, sent and handed to Python in one batch: one
 * wake-up of the thread and of Python's loop for several datagrams, where each datagram
 * would otherwise cost both (the interrupt moderation of network cards, NAPI). Slower, a
 * pause would cost more (a timer's wake-up) than the one or two datagrams it gathers
 * save, so the thread reads them as they come (benchmarks/RESULTS.md, "Read moderation").
 * A datagram waits at most `pause` more. */
static void *run(void *arg)
{
    cp_plane *p = arg;
    pthread_setname_np(pthread_self(), "cp-plane"); /* top -H, perf and /proc tell it apart */
    struct pollfd fds[2] = {{.fd = p->fd, .events = POLLIN}, {.fd = p->fd2, .events = POLLIN}};
    nfds_t nfds = p->fd2 >= 0 ? 2 : 1;
    struct timespec pause = {.tv_sec = p->pause_ns / 1000000000L,
                             .tv_nsec = p->pause_ns % 1000000000L};
    double pause_s = (double)p->pause_ns / 1e9;
    cp_pace pace;
    cp_pace_init(&pace, monotonic());
    while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
        /* The poll's timeout bounds how late a stop is seen. */
        if (poll(fds, nfds, 50) <= 0)
            continue;
        double now = monotonic();
        pthread_mutex_lock(&p->limits->lock);
        unsigned before = p->nqueue;
        int read = 0, full = 0;
        for (nfds_t k = 0; k < nfds; k++) {
            if (!fds[k].revents)
                continue;
            int n = read_batch(p, fds[k].fd, now);
            read += n;
            full |= n == (int)p->batch;
        }
        unsigned long long sent = 0;
        if (p->nout)
            p->send_errors += (unsigned long long)cp_plane_flush(p, &sent);
        p->sent += sent;
        unsigned after = p->nqueue;
        int rest = cp_pace_after(&pace, pause_s, now, read, full);
        p->pauses += (unsigned long long)rest;
        pthread_mutex_unlock(&p->limits->lock);
        /* Calls handed back (owned.c) wake nobody: the core takes them before anything
         * it is woken for, and on its tick. */
        if (before == 0 && after > 0) {
            uint64_t one = 1;
            ssize_t w = write(p->wake_fd, &one, sizeof(one));
            (void)w; /* EAGAIN: the counter is already set, Python will wake */
        }
        if (rest)
            nanosleep(&pause, NULL);
    }
    return NULL;
}

int cp_plane_start(cp_plane *p, int wake_fd, int fd2, long pause_ns)
{
    if (p->running)
        return 0;
    p->wake_fd = wake_fd;
    p->fd2 = fd2;
    p->pause_ns = pause_ns > 0 ? pause_ns : 0;
    /* The sockets stay non-blocking: the thread waits in poll(2), and the Python core
     * sends on them too. */
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
}

cp_queued *cp_plane_take_queue(cp_plane *p, unsigned *n)
{
    cp_queued *q = p->queue;
    *n = p->nqueue;
    p->queue = NULL;
    p->nqueue = p->queue_cap = 0;
    return q;
}
