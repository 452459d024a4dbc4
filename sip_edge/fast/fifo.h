/* A hash table whose entries also keep the order they came in (oldest first): what the
 * plane's (branch, Call-ID) tables (remembered.c) and the site holds (admission.c) both
 * are, as the Python core's OrderedDicts. Intrusive: an entry starts with a cp_node, and
 * the owner compares keys and frees entries; the table links, unlinks and grows. */
#ifndef CP_FIFO_H
#define CP_FIFO_H

#include <stddef.h>
#include <stdint.h>

typedef struct cp_node {
    struct cp_node *chain;          /* bucket chain */
    struct cp_node *older, *newer;  /* the order linked */
    uint64_t hash;
} cp_node;

typedef struct cp_fifo {
    cp_node **buckets;
    size_t nbuckets, count;         /* nbuckets: a power of two */
    cp_node *oldest, *newest;
} cp_fifo;

/* FNV-1a of two strings with a separator between them (so "ab"+"c" != "a"+"bc"). */
uint64_t cp_hash2(const char *a, size_t an, const char *b, size_t bn);
int cp_fifo_init(cp_fifo *t, size_t nbuckets);
/* The buckets only: the owner frees its entries first (unlinking each). */
void cp_fifo_free(cp_fifo *t);
/* The first entry of the chain `hash` falls in. */
static inline cp_node *cp_fifo_chain(const cp_fifo *t, uint64_t hash)
{
    return t->buckets[hash & (t->nbuckets - 1)];
}
/* Room for one more entry (the buckets grow with the count): 0, or -1. */
int cp_fifo_reserve(cp_fifo *t);
/* Link `n` (its hash set) as the newest; cp_fifo_reserve first. */
void cp_fifo_link(cp_fifo *t, cp_node *n);
void cp_fifo_unlink(cp_fifo *t, cp_node *n);

#endif
