/* Per-site call admission by bandwidth (clause 2) in C: sip_edge/admission.py's
 * SiteAdmission over C tables, so the Python core and the data plane hold and release
 * in one table (the plane ends a call's hold when it relays the BYE, relay.c).
 *
 * Holds are keyed by (Call-ID, the caller's From tag) and kept in the order taken; each
 * has a serial, so a release names the very hold it took (the reference compares
 * objects). Not locked here: the owner's lock (cp_limits.lock) guards every call. */
#ifndef CP_ADMISSION_H
#define CP_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

#include "fifo.h"

struct cp_site;

typedef struct cp_hold {
    cp_node node;                   /* first: the table's links, in the order taken */
    unsigned long long serial;
    long long bps;
    double until;
    struct cp_site *site;
    size_t call_n, tag_n;
    char key[];                     /* the Call-ID, then the tag */
} cp_hold;

typedef struct cp_site {
    struct cp_site *chain;
    uint64_t hash;
    long long used;                 /* bit/s held */
    size_t holds;                   /* holds naming it (it goes with the last) */
    size_t n;
    char name[];
} cp_site;

typedef struct cp_admission {
    cp_fifo holds;                  /* cp_hold entries: expiry and eviction go oldest first */
    cp_site **sites;
    size_t nsites;                  /* site buckets (a power of two) */
    size_t max_calls;
    unsigned long long next_serial;
    unsigned long long evicted, expired;  /* site_hold_evicted, site_hold_expired */
} cp_admission;

int cp_admission_init(cp_admission *a, size_t max_calls);
void cp_admission_free(cp_admission *a);
long long cp_admission_used(const cp_admission *a, const char *site, size_t n);
/* Hold `bps` at `site` for (call_id, tag): 1 and *serial, 0 if it would exceed
 * `capacity` (< 0: no limit; `force`: held anyway), -1 out of memory. */
int cp_admission_take(cp_admission *a, const char *site, size_t sn, long long capacity,
                      long long bps, const char *call_id, size_t cn, const char *tag,
                      size_t tn, double now, double until, int force,
                      unsigned long long *serial);
/* Release the hold of (call_id, tag) if it is still the one with `serial`: 1, else 0. */
int cp_admission_release(cp_admission *a, const char *call_id, size_t cn, const char *tag,
                         size_t tn, unsigned long long serial);
/* The hold of (call_id, tag), NULL if none (valid until the table changes). */
const cp_hold *cp_admission_find(const cp_admission *a, const char *call_id, size_t cn,
                                 const char *tag, size_t tn);
/* The dialog ended (a BYE): release the hold under the first of the two tags that has
 * one (the caller's tag is in From or in To, as the caller or the callee hangs up).
 * 1 if one was released. */
int cp_admission_ended(cp_admission *a, const char *call_id, size_t cn, const char *tag1,
                       size_t t1n, const char *tag2, size_t t2n);
void cp_admission_expire(cp_admission *a, double now);

#endif
