/* The codec check and the bandwidth share of an SDP offer (sdp.h; reference:
 * sip_edge/core/sdp.py). One pass over the lines; each m= line is judged when the next one
 * starts or the body ends, once its a=rtpmap lines are known. */
#include <string.h>

#include "sdp.h"

typedef struct {
    const char *p;
    size_t n;
} span;

typedef struct {
    span media;
    int active;
    unsigned nformats;
    unsigned nmaps;
    span formats[CP_SDP_MAX_FORMATS];
    span pt[CP_SDP_MAX_RTPMAP];
    span value[CP_SDP_MAX_RTPMAP]; /* the encoding name, not yet lower-cased */
} media_line;

/* str.splitlines() ends a line at these (Latin-1: \x85 is NEL); "\r\n" is one end, which
 * only matters for empty lines, and those say nothing here. */
static int is_line_end(unsigned char c)
{
    return c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d ||
           c == 0x1e || c == 0x85;
}

/* str.isspace() over Latin-1 (strip() and split() without arguments). */
static int is_space(unsigned char c)
{
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0;
}

/* str.lower() over Latin-1: A-Z and the capitals U+00C0-U+00DE but the multiplication
 * sign; nothing else changes (checked over all 256 code points by the tests). */
static unsigned char lower(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 0xc0 && c <= 0xde && c != 0xd7))
        return (unsigned char)(c + 0x20);
    return c;
}

static span strip(span s)
{
    while (s.n && is_space((unsigned char)s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n && is_space((unsigned char)s.p[s.n - 1]))
        s.n--;
    return s;
}

static int starts(span s, const char *prefix, size_t n)
{
    return s.n >= n && memcmp(s.p, prefix, n) == 0;
}

/* The next whitespace-separated word of *rest (str.split()); 0 when none is left. */
static int word(span *rest, span *out)
{
    const char *p = rest->p, *end = rest->p + rest->n;
    while (p < end && is_space((unsigned char)*p))
        p++;
    if (p == end)
        return 0;
    const char *w = p;
    while (p < end && !is_space((unsigned char)*p))
        p++;
    out->p = w;
    out->n = (size_t)(p - w);
    rest->p = p;
    rest->n = (size_t)(end - p);
    return 1;
}

static int same(span a, span b)
{
    return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

/* Whether lower(s) equals the (already lower-case) text[0..n). */
static int lower_equals(span s, const char *text, size_t n)
{
    if (s.n != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s.p[i]) != (unsigned char)text[i])
            return 0;
    return 1;
}

/* sdp.STATIC_PAYLOADS (RFC 3551 table 4 and 5): payload type -> encoding name. */
static const char *static_payload(span fmt)
{
    static const char *const names[35] = {
        [0] = "pcmu", [3] = "gsm",   [4] = "g723",  [5] = "dvi4",  [6] = "dvi4",
        [7] = "lpc",  [8] = "pcma",  [9] = "g722",  [10] = "l16",  [11] = "l16",
        [12] = "qcelp", [13] = "cn", [14] = "mpa",  [15] = "g728", [16] = "dvi4",
        [17] = "dvi4", [18] = "g729", [25] = "celb", [26] = "jpeg", [28] = "nv",
        [31] = "h261", [32] = "mpv", [33] = "mp2t", [34] = "h263",
    };
    /* The keys are the decimal spellings themselves: "08" is not "8". */
    if (fmt.n == 0 || fmt.n > 2 || (fmt.n == 2 && fmt.p[0] == '0'))
        return NULL;
    unsigned v = 0;
    for (size_t i = 0; i < fmt.n; i++) {
        if (fmt.p[i] < '0' || fmt.p[i] > '9')
            return NULL;
        v = v * 10 + (unsigned)(fmt.p[i] - '0');
    }
    return v < 35 ? names[v] : NULL;
}

static const cp_sdp_entry *find(const cp_sdp_rules *r, span media, span name)
{
    for (size_t i = 0; i < r->n; i++) {
        const cp_sdp_entry *e = &r->entries[i];
        if (lower_equals(media, e->media, e->media_len) && lower_equals(name, e->name, e->name_len))
            return e;
    }
    return NULL;
}

/* The format's name as sdp.py picks it: its rtpmap (the last one given for it) unless
 * empty, else its static name, else the format itself. */
static span format_name(const media_line *m, span fmt)
{
    for (unsigned i = m->nmaps; i-- > 0;) {
        if (same(m->pt[i], fmt)) {
            if (m->value[i].n)
                return m->value[i];
            break;
        }
    }
    const char *fixed = static_payload(fmt);
    if (fixed) {
        span s = {fixed, strlen(fixed)};
        return s;
    }
    return fmt;
}

static void judge(const cp_sdp_rules *r, const media_line *m, int *acceptable, int64_t *total)
{
    if (!m->active)
        return;
    int64_t most = 0;
    for (unsigned i = 0; i < m->nformats; i++) {
        const cp_sdp_entry *e = find(r, m->media, format_name(m, m->formats[i]));
        if (!e)
            continue;
        if (e->voice)
            *acceptable = 1;
        if (e->share > most)
            most = e->share;
    }
    *total += most;
}

/* An m= line (after "m="): <media> <port>[/<n>] <proto> <fmt> ...; 0: fewer than four
 * words (sdp.py skips it), -1: more formats than the limit. */
static int media_start(span rest, media_line *m)
{
    span port, proto, fmt;
    if (!word(&rest, &m->media) || !word(&rest, &port) || !word(&rest, &proto))
        return 0;
    m->nformats = m->nmaps = 0;
    while (word(&rest, &fmt)) {
        if (m->nformats == CP_SDP_MAX_FORMATS)
            return -1;
        m->formats[m->nformats++] = fmt;
    }
    if (!m->nformats)
        return 0;
    const char *slash = memchr(port.p, '/', port.n);
    size_t n = slash ? (size_t)(slash - port.p) : port.n;
    m->active = !(n == 1 && port.p[0] == '0');
    return 1;
}

/* An a=rtpmap line (after "a=rtpmap:"): "<pt> <encoding>/<clock>..." split at the first
 * space (str.partition), each side stripped, the encoding up to its first '/'. */
static int rtpmap(span rest, media_line *m)
{
    if (m->nmaps == CP_SDP_MAX_RTPMAP)
        return -1;
    const char *sp = memchr(rest.p, ' ', rest.n);
    span pt = {rest.p, sp ? (size_t)(sp - rest.p) : rest.n};
    span enc = {sp ? sp + 1 : rest.p + rest.n, sp ? rest.n - pt.n - 1 : 0};
    enc = strip(enc);
    const char *slash = memchr(enc.p, '/', enc.n);
    if (slash)
        enc.n = (size_t)(slash - enc.p);
    m->pt[m->nmaps] = strip(pt);
    m->value[m->nmaps] = enc;
    m->nmaps++;
    return 1;
}

int cp_sdp_check(const cp_sdp_rules *r, const char *body, size_t len, int *acceptable,
                 int64_t *share)
{
    media_line m;
    int open = 0, any = 0, ok = 0;
    int64_t total = 0;
    if (len > CP_SDP_MAX)
        len = CP_SDP_MAX;
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *q = p;
        while (q < end && !is_line_end((unsigned char)*q))
            q++;
        span line = {p, (size_t)(q - p)};
        p = q < end ? q + 1 : q;
        line = strip(line);
        if (starts(line, "m=", 2)) {
            media_line next;
            span rest = {line.p + 2, line.n - 2};
            int got = media_start(rest, &next);
            if (got < 0)
                return 0;
            if (got) {
                if (open)
                    judge(r, &m, &ok, &total);
                m = next;
                open = any = 1;
            }
        } else if (open && starts(line, "a=rtpmap:", 9)) {
            span rest = {line.p + 9, line.n - 9};
            if (rtpmap(rest, &m) < 0)
                return 0;
        }
    }
    if (!any) {
        *acceptable = 1; /* no offer in the INVITE: nothing to check here */
        *share = r->late_offer;
        return 1;
    }
    judge(r, &m, &ok, &total);
    *acceptable = ok;
    *share = total;
    return 1;
}
