/* The ordered hash table of fifo.h. */
#include <stdlib.h>

#include "fifo.h"

uint64_t cp_hash2(const char *a, size_t an, const char *b, size_t bn)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < an; i++)
        h = (h ^ (unsigned char)a[i]) * 1099511628211ULL;
    h = (h ^ 0xffu) * 1099511628211ULL;
    for (size_t i = 0; i < bn; i++)
        h = (h ^ (unsigned char)b[i]) * 1099511628211ULL;
    return h;
}

int cp_fifo_init(cp_fifo *t, size_t nbuckets)
{
    t->buckets = calloc(nbuckets, sizeof(cp_node *));
    t->nbuckets = nbuckets;
    t->count = 0;
    t->oldest = t->newest = NULL;
    return t->buckets ? 0 : -1;
}

void cp_fifo_free(cp_fifo *t)
{
    free(t->buckets);
    t->buckets = NULL;
}

int cp_fifo_reserve(cp_fifo *t)
{
    if (t->count + 1 <= t->nbuckets)
        return 0;
    size_t n = t->nbuckets * 2;
    cp_node **b = calloc(n, sizeof(cp_node *));
    if (!b)
        return -1;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (cp_node *e = t->buckets[i], *next; e; e = next) {
            next = e->chain;
            e->chain = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    return 0;
}

void cp_fifo_link(cp_fifo *t, cp_node *n)
{
    size_t k = n->hash & (t->nbuckets - 1);
    n->chain = t->buckets[k];
    t->buckets[k] = n;
    n->newer = NULL;
    n->older = t->newest;
    if (t->newest)
        t->newest->newer = n;
    else
        t->oldest = n;
    t->newest = n;
    t->count++;
}

void cp_fifo_unlink(cp_fifo *t, cp_node *n)
{
    cp_node **pp = &t->buckets[n->hash & (t->nbuckets - 1)];
    while (*pp != n)
        pp = &(*pp)->chain;
    *pp = n->chain;
    if (n->older)
        n->older->newer = n->newer;
    else
        t->oldest = n->newer;
    if (n->newer)
        n->newer->older = n->older;
    else
        t->newest = n->older;
    t->count--;
}
