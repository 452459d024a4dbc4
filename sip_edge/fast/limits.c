/* Per-account power-dialer counters in C tables (clause 7.2).
 *
 * The same counting as sip_edge/limits.py, the reference, which tests/sip/test_plane.py
 * holds this to operation by operation: a sliding log of the last `rate` admitted
 * attempt times per account, set-ups in progress, and per-window totals. Accounts are
 * slots; the Python OrderedDict's order (least recently used first) is a linked list
 * over the live slots, so eviction at `max_accounts` and the window's totals come out
 * in the same order.
 */
#include <stdlib.h>
#include <string.h>

#include "plane.h"

int cp_limits_init(cp_limits *l, int rate, int concurrent, double window, int max_accounts)
{
    memset(l, 0, sizeof(*l));
    l->rate = rate;
    l->concurrent = concurrent;
    l->window_seconds = window;
    l->max_accounts = max_accounts;
    l->lru_head = l->lru_tail = -1;
    l->window_open = 0;
    return pthread_mutex_init(&l->lock, NULL);
}

void cp_limits_free(cp_limits *l)
{
    for (int i = 0; i < l->nslots; i++)
        free(l->slots[i].stamps);
    free(l->slots);
    l->slots = NULL;
    l->nslots = l->capslots = 0;
    pthread_mutex_destroy(&l->lock);
}

int cp_limits_new_slot(cp_limits *l)
{
    if (l->nslots == l->capslots) {
        int cap = l->capslots ? l->capslots * 2 : 64;
        cp_limit *s = realloc(l->slots, (size_t)cap * sizeof(cp_limit));
        if (!s)
            return -1;
        l->slots = s;
        l->capslots = cap;
    }
    cp_limit *a = &l->slots[l->nslots];
    memset(a, 0, sizeof(*a));
    a->prev = a->next = -1;
    return l->nslots++;
}

/* Forget the slot's counts and take it out of the live list (Python: del / popitem). */
void cp_limits_unlink(cp_limits *l, int slot)
{
    cp_limit *a = &l->slots[slot];
    if (!a->live)
        return;
    if (a->prev >= 0)
        l->slots[a->prev].next = a->next;
    else
        l->lru_head = a->next;
    if (a->next >= 0)
        l->slots[a->next].prev = a->prev;
    else
        l->lru_tail = a->prev;
    a->prev = a->next = -1;
    a->live = 0;
    a->head = a->count = 0;
    a->concurrent = 0;
    a->attempts = a->rejected = 0;
    l->nlive--;
}

static void append(cp_limits *l, int slot)
{
    cp_limit *a = &l->slots[slot];
    a->prev = l->lru_tail;
    a->next = -1;
    if (l->lru_tail >= 0)
        l->slots[l->lru_tail].next = slot;
    else
        l->lru_head = slot;
    l->lru_tail = slot;
}

void cp_limits_touch(cp_limits *l, int slot)
{
    cp_limit *a = &l->slots[slot];
    if (!a->live) {
        /* A new account: the oldest goes first when the table is full (a guard). */
        if (l->nlive >= l->max_accounts && l->lru_head >= 0)
            cp_limits_unlink(l, l->lru_head);
        a->live = 1;
        l->nlive++;
        append(l, slot);
        return;
    }
    if (l->lru_tail == slot)
        return;
    /* move_to_end */
    if (a->prev >= 0)
        l->slots[a->prev].next = a->next;
    else
        l->lru_head = a->next;
    l->slots[a->next].prev = a->prev;
    append(l, slot);
}

static void pop_front(cp_limit *a)
{
    a->head = (a->head + 1) % a->cap;
    a->count--;
}

static int push(cp_limit *a, double now)
{
    if (a->count == a->cap) {
        int cap = a->cap ? a->cap * 2 : 8;
        double *s = malloc((size_t)cap * sizeof(double));
        if (!s)
            return -1;
        for (int i = 0; i < a->count; i++)
            s[i] = a->stamps[(a->head + i) % a->cap];
        free(a->stamps);
        a->stamps = s;
        a->cap = cap;
        a->head = 0;
    }
    a->stamps[(a->head + a->count) % a->cap] = now;
    a->count++;
    return 0;
}

int cp_limits_admit(cp_limits *l, int slot, int throttle, double now)
{
    if (!l->window_open) {
        l->window_end = now + l->window_seconds;
        l->window_open = 1;
    }
    cp_limits_touch(l, slot);
    cp_limit *a = &l->slots[slot];
    a->attempts++;
    int rate = l->rate, concurrent = l->concurrent;
    if (throttle) {
        rate = rate / 2 > 1 ? rate / 2 : 1;
        concurrent = concurrent / 2 > 1 ? concurrent / 2 : 1;
    }
    while (a->count && now - a->stamps[a->head] >= 1.0)
        pop_front(a);
    int refusal = CP_ADMIT;
    if (a->count >= rate)
        refusal = CP_LIMIT_RATE;
    else if (a->concurrent >= concurrent)
        refusal = CP_LIMIT_CONCURRENT;
    if (refusal != CP_ADMIT) {
        a->rejected++;
        return refusal;
    }
    if (push(a, now) < 0)
        return CP_LIMIT_RATE; /* out of memory: refuse rather than count wrong */
    while (a->count > rate) /* limits lowered by a reload or throttle */
        pop_front(a);
    return CP_ADMIT;
}

void cp_limits_reject(cp_limits *l, int slot, double now)
{
    if (!l->window_open) {
        l->window_end = now + l->window_seconds;
        l->window_open = 1;
    }
    cp_limits_touch(l, slot);
    l->slots[slot].attempts++;
    l->slots[slot].rejected++;
}

void cp_limits_expire_stamps(cp_limit *a, double now)
{
    while (a->count && now - a->stamps[a->head] >= 1.0)
        pop_front(a);
}
