/* The plane's reading threads: one per socket (the worker's shared port, and its private
 * port where the answers to the requests it forwards arrive), each blocked in recvmmsg(2)
 * on its own socket, so a wake-up costs one system call in and one out (sendmmsg). A batch
 * is handled under the lock the plane shares with Python (cp_limits.lock), then what the
 * plane leaves to the core is queued and the core woken through an eventfd. Never touches
 * Python: the GIL is not needed, so the threads run beside the interpreter.
 *
 * Read moderation (p->pause_ns, the longest pause): while datagrams come fast enough that
 * a pause of at most that gathers CP_PAUSE_GATHER of them (the rate measured over the last
 * CP_RATE_WINDOW), a thread sleeps after each read that found some (and less than a full
 * batch) just long enough for that many to arrive, so they are read, answered, sent and
 * handed to Python in one batch: one wake-up of the thread and of Python's loop for
 * several datagrams, where each datagram would otherwise cost both (the interrupt
 * moderation of network cards, NAPI). The faster they come, the shorter the pause. Slower,
 * a pause would cost more (a timer's wake-up) than the one or two datagrams it gathers
 * save, so the thread reads them as they come (benchmarks/RESULTS.md, "Read moderation").
 * A datagram waits at most the longest pause more.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "plane.h"

/* The plane's thread pauses only while the datagrams of the last CP_RATE_WINDOW seconds
 * came fast enough for a pause of at most `pause_ns` to gather CP_PAUSE_GATHER of them,
 * and then long enough to gather CP_PAUSE_AIM, if the longest pause allows. */
#define CP_RATE_WINDOW 0.05
#define CP_PAUSE_GATHER 4
#define CP_PAUSE_AIM 8

struct cp_rx {
    int fd;
    unsigned batch;
    size_t size;
    char *buffers;
    struct mmsghdr *msgs;
    struct iovec *iovs;
    struct sockaddr_in *names;  /* two per datagram: a sockaddr_in6 fits (the core's) */
    cp_plane *plane;
    pthread_t thread;
    int running;
};

cp_rx *cp_rx_new(int fd, unsigned batch, size_t size)
{
    cp_rx *r = calloc(1, sizeof(cp_rx));
    if (!r)
        return NULL;
    r->fd = fd;
    r->batch = batch;
    r->size = size;
    r->buffers = malloc((size_t)batch * size);
    r->msgs = calloc(batch, sizeof(struct mmsghdr));
    r->iovs = calloc(batch, sizeof(struct iovec));
    r->names = calloc(batch, sizeof(struct sockaddr_in) * 2);
    if (!r->buffers || !r->msgs || !r->iovs || !r->names) {
        cp_rx_free(r);
        return NULL;
    }
    for (unsigned i = 0; i < batch; i++) {
        r->iovs[i].iov_base = r->buffers + (size_t)i * size;
        r->iovs[i].iov_len = size;
        r->msgs[i].msg_hdr.msg_iov = &r->iovs[i];
        r->msgs[i].msg_hdr.msg_iovlen = 1;
        r->msgs[i].msg_hdr.msg_name = &r->names[2 * i];
    }
    return r;
}

void cp_rx_free(cp_rx *r)
{
    if (!r)
        return;
    free(r->buffers);
    free(r->msgs);
    free(r->iovs);
    free(r->names);
    free(r);
}

/* ---- the queue for Python ------------------------------------------------------------- */

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

cp_queued *cp_plane_take_queue(cp_plane *p, unsigned *n)
{
    cp_queued *q = p->queue;
    *n = p->nqueue;
    p->queue = NULL;
    p->nqueue = p->queue_cap = 0;
    return q;
}

/* Handle the n datagrams `r` read (the lock held): each answered by the plane or copied
 * into the queue for the core. */
static void process(cp_plane *p, cp_rx *r, int n, double now)
{
    p->counters[CP_C_RECEIVED] += (unsigned long long)n;
    for (int i = 0; i < n; i++) {
        const struct sockaddr_in *src = &r->names[2 * i];
        const char *data = r->buffers + (size_t)i * r->size;
        size_t len = r->msgs[i].msg_len;
        int ours = !(r->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) &&
                   cp_plane_handle(p, data, len, src, now);
        p->counters[ours ? CP_C_HANDLED : CP_C_DECLINED]++;
        if (ours)
            continue;
        char *copy = malloc(len ? len : 1);
        if (!copy) {
            p->queue_dropped++;
            continue;
        }
        memcpy(copy, data, len);
        if (cp_plane_enqueue(p, copy, len, src) < 0)
            free(copy);
    }
}

/* ---- read moderation ------------------------------------------------------------------ */

void cp_pace_init(cp_pace *c, double now)
{
    c->window_start = now;
    c->count = 0;
    c->rate = 0.0;
}

double cp_pace_after(cp_pace *c, double longest, double now, int read, int full)
{
    c->count += (unsigned long long)read;
    if (now - c->window_start >= CP_RATE_WINDOW) {
        c->rate = (double)c->count / (now - c->window_start);
        c->window_start = now;
        c->count = 0;
    }
    if (read <= 0 || full || longest <= 0 || c->rate * longest < CP_PAUSE_GATHER)
        return 0.0;
    double aim = CP_PAUSE_AIM / c->rate;
    return aim < longest ? aim : longest;
}

/* ---- the threads ---------------------------------------------------------------------- */

/* The clock of the event loop (uvloop's loop.time(): libuv's monotonic clock). */
static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    cp_rx *r = arg;
    cp_plane *p = r->plane;
    pthread_setname_np(pthread_self(), "cp-plane"); /* top -H, perf and /proc tell it apart */
    double longest = (double)p->pause_ns / 1e9;
    cp_pace pace;
    cp_pace_init(&pace, monotonic());
    while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
        /* One system call per wake-up: block (the socket's receive timeout bounds how
         * late a stop is seen) until a datagram comes, then take what else is waiting. */
        for (unsigned i = 0; i < r->batch; i++) /* recvmmsg shortens each: restore */
            r->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in) * 2;
        int n = recvmmsg(r->fd, r->msgs, r->batch, MSG_WAITFORONE, NULL);
        if (n <= 0)
            continue; /* the timeout, EINTR, or an ICMP error reported on the socket */
        double now = monotonic();
        pthread_mutex_lock(&p->limits->lock);
        unsigned before = p->nqueue;
        process(p, r, n, now);
        unsigned long long sent = 0;
        if (p->nout)
            p->send_errors += (unsigned long long)cp_plane_flush(p, &sent);
        p->sent += sent;
        unsigned after = p->nqueue;
        double rest = cp_pace_after(&pace, longest, now, n, n == (int)r->batch);
        p->pauses += rest > 0;
        pthread_mutex_unlock(&p->limits->lock);
        /* Calls handed back (owned.c) wake nobody: the core takes them before anything
         * it is woken for, and on its tick. */
        if (before == 0 && after > 0) {
            uint64_t one = 1;
            ssize_t w = write(p->wake_fd, &one, sizeof(one));
            (void)w; /* EAGAIN: the counter is already set, Python will wake */
        }
        if (rest > 0) {
            long ns = (long)(rest * 1e9);
            struct timespec pause = {.tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L};
            nanosleep(&pause, NULL);
        }
    }
    return NULL;
}

/* The socket blocks (with a receive timeout) while a thread reads it; sends on it, the
 * thread's and the Python core's, all pass MSG_DONTWAIT. */
static int set_blocking(int fd, int on)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, on ? flags & ~O_NONBLOCK : flags | O_NONBLOCK) < 0)
        return errno;
    struct timeval tv = {.tv_sec = 0, .tv_usec = 50000};
    if (on && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
        return errno;
    return 0;
}

int cp_plane_start(cp_plane *p, int wake_fd, int fd2, long pause_ns)
{
    if (p->running)
        return 0;
    p->wake_fd = wake_fd;
    p->pause_ns = pause_ns > 0 ? pause_ns : 0;
    if (fd2 >= 0 && !p->rx[1] && !(p->rx[1] = cp_rx_new(fd2, p->batch, p->size)))
        return ENOMEM;
    if (p->rx[1])
        p->rx[1]->fd = fd2;
    __atomic_store_n(&p->stop, 0, __ATOMIC_RELEASE);
    for (int k = 0; k < 2; k++) {
        cp_rx *r = p->rx[k];
        if (!r || r->fd < 0)
            continue;
        r->plane = p;
        int err = set_blocking(r->fd, 1);
        if (!err)
            err = pthread_create(&r->thread, NULL, run, r);
        if (err) {
            set_blocking(r->fd, 0);
            p->running = 1;
            cp_plane_stop(p); /* the one started, if any */
            return err;
        }
        r->running = 1;
    }
    p->running = 1;
    return 0;
}

void cp_plane_stop(cp_plane *p)
{
    if (!p->running)
        return;
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
    for (int k = 0; k < 2; k++) {
        cp_rx *r = p->rx[k];
        if (!r || !r->running)
            continue;
        pthread_join(r->thread, NULL);
        r->running = 0;
        set_blocking(r->fd, 0); /* the caller's again, as it was */
    }
    p->running = 0;
}
