/* Per-site call admission in C tables (admission.h); sip_edge/admission.py is the
 * reference, tests/sip/test_cadmission.py holds the two together. */
#include <stdlib.h>
#include <string.h>

#include "admission.h"

int cp_admission_init(cp_admission *a, size_t max_calls)
{
    memset(a, 0, sizeof(*a));
    a->nsites = 256;
    a->sites = calloc(a->nsites, sizeof(cp_site *));
    a->max_calls = max_calls;
    a->next_serial = 1;
    if (!a->sites || cp_fifo_init(&a->holds, 1024) < 0) {
        free(a->sites);
        a->sites = NULL;
        cp_fifo_free(&a->holds);
        return -1;
    }
    return 0;
}

static cp_site *site_find(const cp_admission *a, const char *name, size_t n, uint64_t h)
{
    for (cp_site *s = a->sites[h & (a->nsites - 1)]; s; s = s->chain)
        if (s->hash == h && s->n == n && memcmp(s->name, name, n) == 0)
            return s;
    return NULL;
}

static void site_put(cp_admission *a, cp_site *s)
{
    if (--s->holds)
        return;
    cp_site **pp = &a->sites[s->hash & (a->nsites - 1)];
    while (*pp != s)
        pp = &(*pp)->chain;
    *pp = s->chain;
    free(s);
}

long long cp_admission_used(const cp_admission *a, const char *site, size_t n)
{
    cp_site *s = site_find(a, site, n, cp_hash2(site, n, "", 0));
    return s ? s->used : 0;
}

static cp_hold *hold_find(const cp_admission *a, const char *call_id, size_t cn,
                          const char *tag, size_t tn, uint64_t h)
{
    for (cp_node *n = cp_fifo_chain(&a->holds, h); n; n = n->chain) {
        cp_hold *e = (cp_hold *)n;
        if (n->hash == h && e->call_n == cn && e->tag_n == tn &&
            memcmp(e->key, call_id, cn) == 0 && memcmp(e->key + cn, tag, tn) == 0)
            return e;
    }
    return NULL;
}

static cp_hold *oldest(const cp_admission *a)
{
    return (cp_hold *)a->holds.oldest;
}

/* SiteAdmission.release: out of the table, its bit/s off its site. */
static void hold_drop(cp_admission *a, cp_hold *e)
{
    cp_fifo_unlink(&a->holds, &e->node);
    e->site->used -= e->bps;
    site_put(a, e->site);
    free(e);
}

void cp_admission_free(cp_admission *a)
{
    while (oldest(a))
        hold_drop(a, oldest(a));
    cp_fifo_free(&a->holds);
    free(a->sites);
    a->sites = NULL;
}

void cp_admission_expire(cp_admission *a, double now)
{
    /* In the order taken: with one timeout they expire from the front. */
    while (oldest(a) && oldest(a)->until <= now) {
        hold_drop(a, oldest(a));
        a->expired++;
    }
}

int cp_admission_take(cp_admission *a, const char *site, size_t sn, long long capacity,
                      long long bps, const char *call_id, size_t cn, const char *tag,
                      size_t tn, double now, double until, int force,
                      unsigned long long *serial)
{
    cp_admission_expire(a, now);
    uint64_t h = cp_hash2(call_id, cn, tag, tn);
    cp_hold *old = hold_find(a, call_id, cn, tag, tn, h);
    if (old)
        hold_drop(a, old); /* the same dialog's INVITE again: counted once */
    uint64_t sh = cp_hash2(site, sn, "", 0);
    cp_site *s = site_find(a, site, sn, sh);
    if (!force && capacity >= 0 && (s ? s->used : 0) + bps > capacity)
        return 0;
    if (cp_fifo_reserve(&a->holds) < 0)
        return -1;
    cp_hold *e = malloc(sizeof(cp_hold) + cn + tn);
    if (!e)
        return -1;
    if (!s) {
        s = malloc(sizeof(cp_site) + sn);
        if (!s) {
            free(e);
            return -1;
        }
        s->hash = sh;
        s->used = 0;
        s->holds = 0;
        s->n = sn;
        memcpy(s->name, site, sn);
        s->chain = a->sites[sh & (a->nsites - 1)];
        a->sites[sh & (a->nsites - 1)] = s;
    }
    if (a->holds.count >= a->max_calls && oldest(a)) {
        s->holds++; /* kept while the oldest goes, even if it was the last of this site */
        hold_drop(a, oldest(a));
        s->holds--;
        a->evicted++;
    }
    e->node.hash = h;
    e->serial = a->next_serial++;
    e->bps = bps;
    e->until = until;
    e->site = s;
    e->call_n = cn;
    e->tag_n = tn;
    memcpy(e->key, call_id, cn);
    memcpy(e->key + cn, tag, tn);
    cp_fifo_link(&a->holds, &e->node);
    s->holds++;
    s->used += bps;
    *serial = e->serial;
    return 1;
}

int cp_admission_release(cp_admission *a, const char *call_id, size_t cn, const char *tag,
                         size_t tn, unsigned long long serial)
{
    cp_hold *e = hold_find(a, call_id, cn, tag, tn, cp_hash2(call_id, cn, tag, tn));
    if (!e || e->serial != serial)
        return 0;
    hold_drop(a, e);
    return 1;
}

const cp_hold *cp_admission_find(const cp_admission *a, const char *call_id, size_t cn,
                                 const char *tag, size_t tn)
{
    return hold_find(a, call_id, cn, tag, tn, cp_hash2(call_id, cn, tag, tn));
}

int cp_admission_ended(cp_admission *a, const char *call_id, size_t cn, const char *tag1,
                       size_t t1n, const char *tag2, size_t t2n)
{
    cp_hold *e = hold_find(a, call_id, cn, tag1, t1n, cp_hash2(call_id, cn, tag1, t1n));
    if (!e)
        e = hold_find(a, call_id, cn, tag2, t2n, cp_hash2(call_id, cn, tag2, t2n));
    if (!e)
        return 0;
    hold_drop(a, e);
    return 1;
}
