/* Per-site call admission in C tables (admission.h); sip_edge/admission.py is the
 * reference, tests/sip/test_cadmission.py holds the two together. */
#include <stdlib.h>
#include <string.h>

#include "admission.h"

static uint64_t hash2(const char *a, size_t an, const char *b, size_t bn)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < an; i++)
        h = (h ^ (unsigned char)a[i]) * 1099511628211ULL;
    h = (h ^ 0xffu) * 1099511628211ULL;
    for (size_t i = 0; i < bn; i++)
        h = (h ^ (unsigned char)b[i]) * 1099511628211ULL;
    return h;
}

int cp_admission_init(cp_admission *a, size_t max_calls)
{
    memset(a, 0, sizeof(*a));
    a->nbuckets = 1024;
    a->nsites = 256;
    a->buckets = calloc(a->nbuckets, sizeof(cp_hold *));
    a->sites = calloc(a->nsites, sizeof(cp_site *));
    a->max_calls = max_calls;
    a->next_serial = 1;
    if (!a->buckets || !a->sites) {
        free(a->buckets);
        free(a->sites);
        a->buckets = NULL;
        a->sites = NULL;
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
    cp_site *s = site_find(a, site, n, hash2(site, n, "", 0));
    return s ? s->used : 0;
}

static cp_hold *hold_find(const cp_admission *a, const char *call_id, size_t cn,
                          const char *tag, size_t tn, uint64_t h)
{
    for (cp_hold *e = a->buckets[h & (a->nbuckets - 1)]; e; e = e->chain)
        if (e->hash == h && e->call_n == cn && e->tag_n == tn &&
            memcmp(e->key, call_id, cn) == 0 && memcmp(e->key + cn, tag, tn) == 0)
            return e;
    return NULL;
}

/* SiteAdmission.release: out of the table, its bit/s off its site. */
static void hold_drop(cp_admission *a, cp_hold *e)
{
    cp_hold **pp = &a->buckets[e->hash & (a->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    if (e->older)
        e->older->newer = e->newer;
    else
        a->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        a->newest = e->older;
    e->site->used -= e->bps;
    site_put(a, e->site);
    free(e);
    a->count--;
}

void cp_admission_free(cp_admission *a)
{
    while (a->oldest)
        hold_drop(a, a->oldest);
    free(a->buckets);
    free(a->sites);
    a->buckets = NULL;
    a->sites = NULL;
}

void cp_admission_expire(cp_admission *a, double now)
{
    /* In the order taken: with one timeout they expire from the front. */
    while (a->oldest && a->oldest->until <= now) {
        hold_drop(a, a->oldest);
        a->expired++;
    }
}

static int grow(cp_admission *a)
{
    size_t n = a->nbuckets * 2;
    cp_hold **b = calloc(n, sizeof(cp_hold *));
    if (!b)
        return -1;
    for (size_t i = 0; i < a->nbuckets; i++)
        for (cp_hold *e = a->buckets[i], *next; e; e = next) {
            next = e->chain;
            e->chain = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    free(a->buckets);
    a->buckets = b;
    a->nbuckets = n;
    return 0;
}

int cp_admission_take(cp_admission *a, const char *site, size_t sn, long long capacity,
                      long long bps, const char *call_id, size_t cn, const char *tag,
                      size_t tn, double now, double until, int force,
                      unsigned long long *serial)
{
    cp_admission_expire(a, now);
    uint64_t h = hash2(call_id, cn, tag, tn);
    cp_hold *old = hold_find(a, call_id, cn, tag, tn, h);
    if (old)
        hold_drop(a, old); /* the same dialog's INVITE again: counted once */
    uint64_t sh = hash2(site, sn, "", 0);
    cp_site *s = site_find(a, site, sn, sh);
    if (!force && capacity >= 0 && (s ? s->used : 0) + bps > capacity)
        return 0;
    if (a->count + 1 > a->nbuckets && grow(a) < 0)
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
    if (a->count >= a->max_calls && a->oldest) {
        s->holds++; /* kept while the oldest goes, even if it was the last of this site */
        hold_drop(a, a->oldest);
        s->holds--;
        a->evicted++;
    }
    e->hash = h;
    e->serial = a->next_serial++;
    e->bps = bps;
    e->until = until;
    e->site = s;
    e->call_n = cn;
    e->tag_n = tn;
    memcpy(e->key, call_id, cn);
    memcpy(e->key + cn, tag, tn);
    size_t k = h & (a->nbuckets - 1);
    e->chain = a->buckets[k];
    a->buckets[k] = e;
    e->newer = NULL;
    e->older = a->newest;
    if (a->newest)
        a->newest->newer = e;
    else
        a->oldest = e;
    a->newest = e;
    a->count++;
    s->holds++;
    s->used += bps;
    *serial = e->serial;
    return 1;
}

int cp_admission_release(cp_admission *a, const char *call_id, size_t cn, const char *tag,
                         size_t tn, unsigned long long serial)
{
    cp_hold *e = hold_find(a, call_id, cn, tag, tn, hash2(call_id, cn, tag, tn));
    if (!e || e->serial != serial)
        return 0;
    hold_drop(a, e);
    return 1;
}

const cp_hold *cp_admission_find(const cp_admission *a, const char *call_id, size_t cn,
                                 const char *tag, size_t tn)
{
    return hold_find(a, call_id, cn, tag, tn, hash2(call_id, cn, tag, tn));
}

int cp_admission_ended(cp_admission *a, const char *call_id, size_t cn, const char *tag1,
                       size_t t1n, const char *tag2, size_t t2n)
{
    cp_hold *e = hold_find(a, call_id, cn, tag1, t1n, hash2(call_id, cn, tag1, t1n));
    if (!e)
        e = hold_find(a, call_id, cn, tag2, t2n, hash2(call_id, cn, tag2, t2n));
    if (!e)
        return 0;
    hold_drop(a, e);
    return 1;
}
