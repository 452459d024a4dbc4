/* BLAKE2b (RFC 7693), one-shot, keyed or not: the hash the core's branches use
 * (sip_edge/branching.py, hashlib.blake2b), so the plane writes the same Vias. */
#ifndef CP_BLAKE2B_H
#define CP_BLAKE2B_H

#include <stddef.h>
#include <stdint.h>

/* out: outlen (1..64) bytes; key: keylen (0..64) bytes. Returns 0, -1 for bad lengths. */
int cp_blake2b(uint8_t *out, size_t outlen, const void *key, size_t keylen, const void *in,
               size_t inlen);

#endif
