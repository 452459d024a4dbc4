/* sdp.h: the codec check and the bandwidth share of an SDP offer in one pass, plain C99.
 *
 * The reference is sip_edge/core/sdp.py (offer_acceptable, offer_share: clause 2, RFC 4566
 * m= and a=rtpmap lines, RFC 3551 static payload types); cp_sdp_check() either answers
 * exactly as the two of them would, or returns 0 and the caller runs them.
 * tests/sip/test_sdp.py holds the two together on fixtures and generated bodies.
 *
 * The body is read as sdp.py reads it: its first CP_SDP_MAX bytes as Latin-1, split into
 * lines as str.splitlines() splits them, each stripped of what str.isspace() calls space,
 * names compared after str.lower(). No Python.h here: the data plane compiles it too.
 */
#ifndef CP_SDP_H
#define CP_SDP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CP_SDP_MAX 8192         /* sdp.MAX_SDP: bytes of a body examined */
#define CP_SDP_MAX_FORMATS 64   /* formats of one m= line; more: not sure (0) */
#define CP_SDP_MAX_RTPMAP 64    /* a=rtpmap lines of one m= line; more: not sure (0) */

/* What the rules say of one format name for one media type. */
typedef struct {
    const char *media;     /* the media type as the rules key it (Latin-1 bytes) */
    size_t media_len;
    const char *name;      /* format name, lower-case (Latin-1 bytes) */
    size_t name_len;
    int voice;             /* allowed for its media type and not ancillary (sdp.ANCILLARY) */
    int64_t share;         /* bit/s it may use of its site's bandwidth (0: none) */
} cp_sdp_entry;

typedef struct {
    const cp_sdp_entry *entries;
    size_t n;
    int64_t late_offer;    /* bit/s of an INVITE without an offer */
} cp_sdp_rules;

/* 1: decided, *acceptable (offer_acceptable) and *share (offer_share) set; 0: not sure
 * (an m= line with more formats or rtpmaps than the limits above), nothing set. Reads only
 * r and body[0..len); any thread, no lock. */
int cp_sdp_check(const cp_sdp_rules *r, const char *body, size_t len, int *acceptable,
                 int64_t *share);

#ifdef __cplusplus
}
#endif

#endif /* CP_SDP_H */
