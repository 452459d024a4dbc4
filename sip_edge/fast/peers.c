/* Who the plane talks to: its peers by address and port (the core's peer table: a trunk,
 * or another peer whose messages are the core's), and the hosts it may send to (the
 * core's `_dests`). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "plane.h"

static uint64_t peer_key(uint32_t addr, uint16_t port)
{
    return ((uint64_t)addr << 17) | ((uint64_t)port << 1) | 1u;
}

static size_t peer_slot(const cp_plane *p, uint64_t key)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 32) & (p->peer_cap - 1);
}

int cp_plane_set_peer(cp_plane *p, uint32_t addr, uint16_t port, int trunk)
{
    uint64_t key = peer_key(addr, port);
    size_t i = peer_slot(p, key);
    if ((p->peer_used + 1) * 2 > p->peer_cap) {
        size_t cap = p->peer_cap * 2;
        uint64_t *keys = calloc(cap, sizeof(uint64_t));
        int *vals = calloc(cap, sizeof(int));
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return -1;
        }
        uint64_t *old_keys = p->peer_keys;
        int *old_vals = p->peer_vals;
        size_t old_cap = p->peer_cap;
        p->peer_keys = keys;
        p->peer_vals = vals;
        p->peer_cap = cap;
        for (size_t k = 0; k < old_cap; k++) {
            if (!old_keys[k])
                continue;
            size_t j = peer_slot(p, old_keys[k]);
            while (keys[j])
                j = (j + 1) & (cap - 1);
            keys[j] = old_keys[k];
            vals[j] = old_vals[k];
        }
        free(old_keys);
        free(old_vals);
        i = peer_slot(p, key);
    }
    while (p->peer_keys[i] && p->peer_keys[i] != key)
        i = (i + 1) & (p->peer_cap - 1);
    p->peer_used += p->peer_keys[i] == 0;
    p->peer_keys[i] = key;
    p->peer_vals[i] = trunk;
    return 0;
}

void cp_plane_clear_peers(cp_plane *p)
{
    memset(p->peer_keys, 0, p->peer_cap * sizeof(uint64_t));
    p->peer_used = 0;
}

/* The trunk a source is, -1 for another peer, or CP_NO_PEER: exact (address, port) entries first, as the Python
 * core's peer table (carriers and the PSAP there are -1), then the address alone. */
int cp_plane_trunk_of(const cp_plane *p, const struct sockaddr_in *src)
{
    uint32_t addr = ntohl(src->sin_addr.s_addr);
    uint16_t port = ntohs(src->sin_port);
    uint64_t keys[2] = {peer_key(addr, port), peer_key(addr, 0)};
    for (int k = 0; k < 2; k++) {
        size_t i = peer_slot(p, keys[k]);
        while (p->peer_keys[i]) {
            if (p->peer_keys[i] == keys[k])
                return p->peer_vals[i];
            i = (i + 1) & (p->peer_cap - 1);
        }
    }
    return CP_NO_PEER;
}

/* ---- the known destinations (the core's _dests: its peers' and trunks' hosts) ------ */

static uint64_t text_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h | 1; /* 0 marks an empty slot */
}

void cp_dests_free(cp_dests *d)
{
    for (size_t i = 0; i < d->cap; i++)
        free(d->text[i]);
    free(d->text);
    free(d->hash);
    memset(d, 0, sizeof(*d));
}

int cp_dests_set(cp_dests *d, const char *const *hosts, const size_t *lens, size_t n)
{
    cp_dests_free(d);
    size_t cap = 16;
    while (cap < 2 * n + 2)
        cap *= 2;
    d->hash = calloc(cap, sizeof(uint64_t));
    d->text = calloc(cap, sizeof(char *));
    if (!d->hash || !d->text) {
        free(d->hash);
        free(d->text);
        memset(d, 0, sizeof(*d));
        return -1;
    }
    d->cap = cap;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = text_hash(hosts[i], lens[i]);
        size_t k = h & (cap - 1);
        while (d->hash[k]) {
            if (d->hash[k] == h && strlen(d->text[k]) == lens[i] &&
                memcmp(d->text[k], hosts[i], lens[i]) == 0)
                break;
            k = (k + 1) & (cap - 1);
        }
        if (d->hash[k])
            continue; /* a repeat */
        d->text[k] = malloc(lens[i] + 1);
        if (!d->text[k])
            return -1;
        memcpy(d->text[k], hosts[i], lens[i]);
        d->text[k][lens[i]] = '\0';
        d->hash[k] = h;
    }
    return 0;
}

int cp_dests_has(const cp_dests *d, cp_span host)
{
    if (!d->cap)
        return 0;
    uint64_t h = text_hash(host.p, host.n);
    for (size_t k = h & (d->cap - 1); d->hash[k]; k = (k + 1) & (d->cap - 1))
        if (d->hash[k] == h && strlen(d->text[k]) == host.n &&
            memcmp(d->text[k], host.p, host.n) == 0)
            return 1;
    return 0;
}

