/* The edge's UDP data plane in C: the refused call end to end, and what a call relays
 * once answered, without Python objects.
 *
 * One plane per worker. Its thread (cp_plane_start) reads batches with recvmmsg(2) from
 * the worker's shared port and its private port, and handles, for each datagram, what it
 * can decide alone:
 *   - a trunk's INVITE the policy refuses -> the refusal built and queued, remembered
 *     for Timer H (64*T1) by (branch, Call-ID), as the Python core's `_answered`;
 *   - a retransmission of such an INVITE -> the same answer again;
 *   - the ACK of any refusal (the core's too) -> absorbed (RFC 3261 8.2.7, 17.2.1);
 *   - a request inside a dialog the edge record-routed, and a response to one -> relayed
 *     (relay.c, relay.h);
 *   - the carrier's 100-299 answers to an INVITE the core forwarded -> absorbed or relayed,
 *     and kept as events the core replays through its transactions (owned.c).
 * Everything else is marked for the Python core, which is the reference (sip_edge/proxy.py):
 * the plane declines any message whose shape it does not take for sure, before any
 * effect, so a decline costs nothing but the scan. cp_plane_flush() sends the queued
 * answers with sendmmsg(2).
 *
 * Decisions come from decide.h (cp_decide); the per-account power-dialer counters
 * (clause 7.2) live in cp_limits, shared with the Python core through _plane.pyx's
 * CLimits, so both paths count in the same table.
 */
#ifndef CP_PLANE_H
#define CP_PLANE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "buf.h"
#include "fifo.h"
#include "decide.h"
#include "lex.h"

/* ---- power-dialer counters (sip_edge/limits.py is the reference) ------------------- */

typedef struct cp_limit {
    double *stamps;      /* ring of the last `rate` admitted attempt times */
    int cap, head, count;
    int concurrent;
    long long attempts, rejected;
    int live;            /* in the LRU list (the Python OrderedDict's keys) */
    int prev, next;      /* LRU list links (-1: none) */
} cp_limit;

typedef struct cp_limits {
    /* Guards everything a plane's thread and Python share: these counters and the
     * plane's tables (a plane points at the limits it counts in, so the lock lives here). */
    pthread_mutex_t lock;
    cp_limit *slots;
    int nslots, capslots;
    int lru_head, lru_tail, nlive;
    int max_accounts;
    int rate, concurrent;
    double window_seconds;
    double window_end;
    int window_open;     /* 0: nothing counted since the last window closed */
} cp_limits;

enum { CP_ADMIT = 0, CP_LIMIT_RATE = 1, CP_LIMIT_CONCURRENT = 2 };

int cp_limits_init(cp_limits *l, int rate, int concurrent, double window, int max_accounts);
void cp_limits_free(cp_limits *l);
int cp_limits_new_slot(cp_limits *l);
void cp_limits_touch(cp_limits *l, int slot);      /* _get(): make live, most recent */
int cp_limits_admit(cp_limits *l, int slot, int throttle, double now);
void cp_limits_reject(cp_limits *l, int slot, double now);
void cp_limits_unlink(cp_limits *l, int slot);     /* forget its counts (evict, idle) */
void cp_limits_expire_stamps(cp_limit *a, double now);

/* ---- the plane ---------------------------------------------------------------------- */

/* One refusal, rendered once per rules snapshot (row of the decision table). */
typedef struct cp_refusal {
    char *status_line;   /* "SIP/2.0 403 Forbidden\r\n" */
    size_t status_len;
    char *extra;         /* "Reason: ...\r\n" and the other fixed header lines */
    size_t extra_len;
    int counter;         /* index into the plane's counters */
    char *log_tail;      /* its decision-log line from "verdict" to the end (and "\n") */
    size_t log_tail_len;
} cp_refusal;

/* A trunk account the plane answers for. */
typedef struct cp_trunk {
    const cp_account *account;  /* NULL: the Python core decides (unknown, suspended) */
    int limits_slot;
    int throttle;
    char *account_json;         /* the account id as a JSON string, for the log */
    size_t account_json_len;
} cp_trunk;

/* The decision log's lines, written in C (logline.c) as policy's DecisionEventV1 encodes:
 * the parts that depend on the node, the rules, the account or the row are rendered once by
 * Python (msgspec) and copied; the id, time, dial and number are written per call. */
typedef struct cp_logfmt {
    char *head;        /* {"schema":1,"id":"<node>-<start>- */
    size_t head_len;
    char *middle;      /* ,"node":"..","revision":"..","account": */
    size_t middle_len;
    int mask_digits;   /* trailing digits of dial and number written as X */
    double wall_offset;  /* the loop's clock + this = Unix time (the line's ts) */
} cp_logfmt;

/* Lines waiting for Python past this many bytes are dropped (counted), not the calls. */
#define CP_LOG_MAX (8u << 20)
/* Masked digits the plane writes at most (decision_log.mask_digits beyond: the core's). */
#define CP_MASK_MAX 32

/* (branch, Call-ID) tables: refusals remembered, the core's transactions (remembered.c). */
typedef struct cp_answered cp_answered;
cp_answered *cp_answered_new(size_t nbuckets);
void cp_answered_free(cp_answered *t);

/* A datagram the thread leaves to the Python core (copied out of the batch). */
typedef struct cp_queued {
    char *data;
    size_t len;
    struct sockaddr_in src;
} cp_queued;

/* Hosts the plane may send to (the core's `_dests`: its peers' and trunks' hosts). */
typedef struct cp_dests {
    uint64_t *hash;  /* 0: empty slot */
    char **text;
    size_t cap;
} cp_dests;
int cp_dests_set(cp_dests *d, const char *const *hosts, const size_t *lens, size_t n);
void cp_dests_free(cp_dests *d);
int cp_dests_has(const cp_dests *d, cp_span host);

/* In-dialog counters: one per method of dialogs.ALLOW, and one for the others. */
#define CP_IN_DIALOG_METHODS 11
/* What cp_put_stamped adds to a Via at most: ";rport=65535;received=255.255.255.255". */
#define CP_STAMP_MAX 48

/* Datagrams queued for Python at most: past it Python is far behind and the datagram is
 * dropped (UDP: the sender retransmits), counted in queue_dropped. */
#define CP_QUEUE_MAX 16384


/* A source that is no peer at all (the core drops its datagrams). */
#define CP_NO_PEER (-2)

enum {
    CP_C_RECEIVED = 0,
    CP_C_HANDLED,           /* datagrams the plane answered or absorbed */
    CP_C_DECLINED,          /* handed to the Python core */
    CP_C_RETRANSMISSION,    /* "invite_retransmission" */
    CP_C_ACK_ABSORBED,      /* "ack_absorbed" */
    CP_C_EVICTED,           /* "evicted" */
    CP_C_DIALER,            /* refusals for the dialer limits (the dialer row's counter) */
    CP_C_RESPONSE_STATELESS, /* "response_stateless" (relay.c) */
    CP_C_IN_DIALOG,         /* "in_dialog_<method>": CP_IN_DIALOG_METHODS of them */
    CP_C_FIXED = CP_C_IN_DIALOG + CP_IN_DIALOG_METHODS /* refusal counters (cp_refusal.counter) */
};

typedef struct cp_plane {
    int fd;                  /* the shared port: read, and where the plane sends from */
    long pause_ns;           /* read moderation, the longest pause (readers.c run()): 0 = off */
    unsigned long long pauses;
    unsigned batch;
    size_t size;
    /* receive side: one per socket, each read by its own thread (readers.c) */
    struct cp_rx *rx[2];
    /* send side: answers queued by this batch */
    cp_buf out;              /* the answers of this batch, back to back */
    size_t *out_off, *out_len_each;
    struct sockaddr_in *out_dest;
    unsigned nout, out_slots;
    /* policy */
    const cp_rules *rules;
    cp_refusal *refusals;    /* by decision row; status_line NULL: not a refusal */
    int nrefusals;
    cp_refusal dialer;       /* the power-dialer refusal (its own row) */
    cp_trunk *trunks;
    int ntrunks;
    /* peers: IPv4 (addr, port) -> trunk (>= 0) or -1 (another peer: the core's) */
    uint64_t *peer_keys;     /* addr << 17 | port << 1 | 1; 0 = empty */
    int *peer_vals;
    size_t peer_cap, peer_used;
    /* the relay (relay.c): off until the core gave its Record-Route, secret and hosts */
    int relay;
    char rr[256];            /* our Record-Route value as the core writes it */
    size_t rr_len;
    unsigned char secret[64]; /* the key of the loop hash in our branches */
    size_t secret_len;
    cp_dests dests;
    struct cp_admission *admission; /* site holds shared with the core (NULL: none) */
    struct cp_owned *owned;  /* the answers of INVITEs the core forwarded (owned.c) */
    /* the edge's own Via sent-by ("host:port"): a request carrying it loops (482) */
    char via_host[128];
    size_t via_host_len;
    /* identifiers shared with the Python core */
    unsigned long long next_id;        /* To tags and branches (EdgeCore._ids) */
    unsigned long long next_decision;  /* decision ids (IdSource) */
    char tag_prefix[32];               /* "cpe<instance>x" */
    size_t tag_prefix_len;
    char decision_prefix[96];          /* "<node>-<start>-"; empty: no decision ids */
    size_t decision_prefix_len;
    /* state */
    struct cp_answered *answered;
    struct cp_answered *held;   /* (branch, Call-ID) of the core's server transactions */
    double t1;
    size_t max_answered;
    cp_limits *limits;
    cp_logfmt log;
    cp_buf lines;            /* decision-log lines not yet taken by Python (max CP_LOG_MAX) */
    unsigned long long log_dropped;
    unsigned long long counters[CP_C_FIXED + 64];
    size_t max_message;
    int enabled;             /* 0: every datagram goes to Python (no rules yet) */
    /* the plane's threads (cp_plane_start): read without the GIL, queue for Python */
    int running;
    int stop;
    int wake_fd;             /* an eventfd Python watches: datagrams are queued for it */
    cp_queued *queue;
    unsigned nqueue, queue_cap;
    unsigned long long queue_dropped, sent, send_errors;
} cp_plane;

cp_plane *cp_plane_new(int fd, unsigned batch, size_t size, double t1, size_t max_answered,
                       cp_limits *limits);
void cp_plane_free(cp_plane *p);
/* Handle one datagram from `src` as the thread does (tests and twins call it directly):
 * 1 if the plane handled it, 0 if it is the Python core's. */
int cp_plane_handle(cp_plane *p, const char *data, size_t len, const struct sockaddr_in *src,
                    double now);
/* Who `src` is (peers.c): a trunk's index, -1 another peer, or CP_NO_PEER. */
int cp_plane_trunk_of(const cp_plane *p, const struct sockaddr_in *src);
/* A trunk's INVITE refused, or the ACK of a refusal absorbed (refuse.c): 1, else 0. */
int cp_plane_refuse(cp_plane *p, const char *data, size_t len, const struct sockaddr_in *src,
                    int trunk, double now);
int cp_plane_absorb(cp_plane *p, const char *data, size_t len);
/* (branch, Call-ID) with its hash, computed once per message (remembered.c). */
typedef struct cp_key {
    cp_span branch, call_id;
    uint64_t hash;
} cp_key;
cp_key cp_key_of(cp_span branch, cp_span call_id);
/* A retransmitted INVITE of a refusal remembered: 1 its answer queued again, 0 none (one
 * past Timer H is forgotten), -1 out of memory. */
int cp_plane_replay(cp_plane *p, const cp_key *k, double now);
/* A refusal is remembered for it / it is a server transaction of the core's. */
int cp_plane_was_answered(cp_plane *p, const cp_key *k);
int cp_plane_is_held(cp_plane *p, const cp_key *k);
/* Remember the refusal `answer` (not remembered yet) for Timer H: 0, or -1. */
int cp_plane_remember(cp_plane *p, const cp_key *k, const char *answer, size_t len,
                      const struct sockaddr_in *dest, double now);
/* Relay a request inside a dialog or a response to one (relay.c): 1 if it was, 0 if it is
 * the core's. */
int cp_plane_relay(cp_plane *p, const char *data, size_t len, const struct sockaddr_in *src,
                   double now);
/* Queue the bytes written to p->out since `start` for `dest`: 0, or -1 (out of memory). */
int cp_plane_queue(cp_plane *p, size_t start, const struct sockaddr_in *dest);
/* Queue `data` (malloc'd, now the queue's) for the Python core. */
int cp_plane_enqueue(cp_plane *p, char *data, size_t len, const struct sockaddr_in *src);
void cp_put_stamped(cp_buf *b, cp_span value, const cp_via *via, const struct sockaddr_in *src);
/* Send the queued answers; returns how many could not be sent. */
int cp_plane_flush(cp_plane *p, unsigned long long *sent);
/* ---- the answers of INVITEs the core forwarded (owned.c) ----------------------------- */

/* Events one call keeps at most before it is handed back to the core. */
#define CP_OWNED_EVENTS 8

typedef struct cp_owned_event {
    int status;
    double at;
    size_t off, len;   /* the bytes sent upstream, in the call's `bytes` (0: none) */
} cp_owned_event;

typedef struct cp_owned_call {
    cp_node node;                 /* first: the table's links, by Call-ID */
    struct cp_owned_call *next;   /* the returned list */
    struct sockaddr_in trunk;     /* where its answers go (the server transaction's source) */
    int limits_slot;              /* its account's power-dialer counters (-1: none) */
    int returned;
    int ended;                    /* its set-up was counted ended here (a 2xx relayed) */
    int nevents;
    cp_owned_event events[CP_OWNED_EVENTS];
    cp_buf bytes;
    size_t call_id_len, branch_len, vias_len, from_len;
    char text[];                  /* Call-ID, our branch, the upstream Via lines, its From */
} cp_owned_call;

typedef struct cp_owned cp_owned;
struct cp_relay;
cp_owned *cp_owned_new(void);
void cp_owned_free(cp_owned *t);
/* The core forwarded an INVITE of `call_id` with our `branch`; its answers go to `trunk`
 * with `vias` (the Via lines as received, CRLF each) and `from` (the From value as
 * received); its set-up counts in `limits_slot`: 1 the plane answers for it, 0 it does not
 * (relay off, the Call-ID taken), -1 out of memory. */
int cp_owned_put(cp_plane *p, cp_span call_id, cp_span branch, cp_span vias, cp_span from,
                 const struct sockaddr_in *trunk, int limits_slot);
/* The call (owned or handed back, not yet taken), NULL if none. */
cp_owned_call *cp_owned_find(cp_plane *p, cp_span call_id, cp_span branch);
/* Its events were taken; it stays owned. */
void cp_owned_clear(cp_owned_call *c);
/* Taken back by the core: out of the plane's tables (the caller frees it with
 * cp_owned_call_free). */
void cp_owned_detach(cp_plane *p, cp_owned_call *c);
void cp_owned_call_free(cp_owned_call *c);
/* A copy of `c` with its events (the caller frees it), NULL if out of memory. */
cp_owned_call *cp_owned_copy(const cp_owned_call *c);
/* Every call handed back, oldest first (linked by `next`), out of the plane's tables. */
cp_owned_call *cp_owned_detach_returned(cp_plane *p);
size_t cp_owned_count(const cp_plane *p);
/* A datagram the plane leaves to the core: if it is of an owned call, hand it back. */
void cp_owned_declined(cp_plane *p, const char *data, size_t len);
/* An answer to an owned INVITE: 1 relayed or absorbed (and kept as an event), 0 the core's. */
int cp_owned_response(cp_plane *p, const char *data, size_t len, const struct cp_relay *r,
                      const cp_via *top, double now);

/* Read moderation (readers.c run()): the recent arrival rate, and how long to pause. */
typedef struct cp_pace {
    double window_start;
    unsigned long long count;  /* datagrams read since window_start */
    double rate;               /* datagrams/s over the last whole window */
} cp_pace;
void cp_pace_init(cp_pace *c, double now);
/* After a read of `read` datagrams at `now` (`full`: a whole batch from a socket): how
 * long the thread should pause before it reads again, in seconds (0: not at all), at most
 * `longest`. */
double cp_pace_after(cp_pace *c, double longest, double now, int read, int full);

/* A socket's receive buffers for batches of `batch` datagrams of `size` bytes (readers.c). */
typedef struct cp_rx cp_rx;
cp_rx *cp_rx_new(int fd, unsigned batch, size_t size);
void cp_rx_free(cp_rx *r);

/* Start a thread on the plane's fd and one on `fd2` (-1: none), pausing at most `pause_ns`
 * between reads of a busy socket: 0, or an errno. Stop joins them. Both with the lock not
 * held. */
int cp_plane_start(cp_plane *p, int wake_fd, int fd2, long pause_ns);
void cp_plane_stop(cp_plane *p);
/* The queued datagrams: moved to the caller (who frees each data), count in *n. */
cp_queued *cp_plane_take_queue(cp_plane *p, unsigned *n);
int cp_plane_set_peer(cp_plane *p, uint32_t addr, uint16_t port, int trunk);
void cp_plane_clear_peers(cp_plane *p);
int cp_plane_set_refusals(cp_plane *p, int n);
void cp_plane_clear_answered(cp_plane *p);
size_t cp_plane_answered_count(const cp_plane *p);
/* A remembered refusal by (branch, Call-ID): its answer (NULL if none), until and dest. */
const char *cp_plane_answered_get(cp_plane *p, const char *branch, size_t bn,
                                  const char *call_id, size_t cn, double *until, size_t *len,
                                  struct sockaddr_in *dest);
/* Remember a refusal the core wrote (one store for both paths): 0, or -1. */
int cp_plane_answered_put(cp_plane *p, const char *branch, size_t bn, const char *call_id,
                          size_t cn, const char *answer, size_t len,
                          const struct sockaddr_in *dest, double now);
void cp_plane_answered_forget(cp_plane *p, const char *branch, size_t bn, const char *call_id,
                              size_t cn);
/* A server transaction of the core begins or ends (remembered.c). */
int cp_plane_hold(cp_plane *p, const char *branch, size_t bn, const char *call_id, size_t cn);
void cp_plane_release(cp_plane *p, const char *branch, size_t bn, const char *call_id,
                      size_t cn);
/* Append the decision-log line of one refusal (logline.c); 0, or -1 when it was dropped. */
int cp_log_line(cp_plane *p, const cp_trunk *t, const cp_refusal *ref,
                unsigned long long decision, double now, const char *dial, size_t dial_len,
                const char *digits, size_t ndigits);
/* Answer i of those queued, and dropping them all unsent (tests). */
void cp_plane_queued(const cp_plane *p, unsigned i, const char **data, size_t *n,
                     struct sockaddr_in *dest);
void cp_plane_drop_queued(cp_plane *p);

#endif
