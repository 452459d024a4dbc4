/* A strict reader of the messages the plane relays (relay.h).
 *
 * Canonical form, as `scan_relay` (sip_edge/_wire.pyx) asks, narrowed: CRLF line breaks,
 * every header line `Name: value` with one space and no padding, printable text, one
 * value per Via (a request's), Route or Record-Route line, a plain Via, From and To that the core's
 * name-addr reader takes as written, each of From, To, Call-ID, CSeq and Max-Forwards at
 * most once, the canonical spelling of the headers the relay reads (a compact form or
 * another spelling is the core's), `CSeq: number method`, and `Content-Length` last,
 * exact and in its shortest spelling (after one space, or more: `length_padded`). A request names sip:, sips: or tel: and carries
 * no Require or Proxy-Require. Anything else returns 0 before any effect.
 */
#include <string.h>

#include "relay.h"

enum { K_OTHER, K_VIA, K_FROM, K_TO, K_CALL_ID, K_CSEQ, K_LENGTH, K_MF, K_ROUTE, K_RR, K_NO };

/* The header's kind: K_NO for a spelling or a header the plane leaves to the core. */
static int kind_of(const char *name, size_t n, int request)
{
    static const struct {
        const char *lower, *canonical;
        int kind;
    } known[] = {
        {"via", "Via", K_VIA},
        {"from", "From", K_FROM},
        {"to", "To", K_TO},
        {"call-id", "Call-ID", K_CALL_ID},
        {"cseq", "CSeq", K_CSEQ},
        {"content-length", "Content-Length", K_LENGTH},
        {"max-forwards", "Max-Forwards", K_MF},
        {"route", "Route", K_ROUTE},
        {"record-route", "Record-Route", K_RR},
    };
    if (n == 1) {
        /* Compact forms (RFC 3261 7.3.3) of the headers read here: the core's. */
        int c = cp_lower((unsigned char)name[0]);
        return (c == 'v' || c == 'f' || c == 't' || c == 'i' || c == 'l') ? K_NO : K_OTHER;
    }
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (cp_ieq(name, n, known[i].lower))
            return memcmp(name, known[i].canonical, n) == 0 ? known[i].kind : K_NO;
    if (request && (cp_ieq(name, n, "require") || cp_ieq(name, n, "proxy-require")))
        return K_NO; /* 420 is the core's (RFC 3261 8.2.2.3, 16.3) */
    return K_OTHER;
}

static int start_line(const char *p, size_t eol, cp_relay *r)
{
    memset(r, 0, sizeof(*r));
    if (eol >= 4 && memcmp(p, "SIP/", 4) == 0) {
        long status;
        if (eol < 13 || memcmp(p, "SIP/2.0 ", 8) != 0 || !cp_digits(p + 8, 3, 3, &status) ||
            status < 100 || status > 699 || p[11] != ' ' || !cp_printable(p + 12, eol - 12))
            return 0;
        r->status = (int)status;
        return 1;
    }
    const char *sp1 = memchr(p, ' ', eol);
    if (!sp1 || sp1 == p)
        return 0;
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(p + eol - sp1 - 1));
    if (!sp2 || sp2 == sp1 + 1 || p + eol - sp2 - 1 != 7 || memcmp(sp2 + 1, "SIP/2.0", 7) != 0)
        return 0;
    for (const char *q = p; q < sp1; q++)
        if (!cp_is_token((unsigned char)*q))
            return 0;
    r->method.p = p;
    r->method.n = (size_t)(sp1 - p);
    r->uri.p = sp1 + 1;
    r->uri.n = (size_t)(sp2 - sp1 - 1);
    for (size_t i = 0; i < r->uri.n; i++) {
        unsigned char c = (unsigned char)r->uri.p[i];
        if (c < 33 || c > 126 || c == '<' || c == '>' || c == '?')
            return 0;
    }
    const char *u = r->uri.p;
    size_t un = r->uri.n;
    return (un > 4 && (cp_ieq(u, 4, "sip:") || cp_ieq(u, 4, "tel:"))) ||
           (un > 5 && cp_ieq(u, 5, "sips:"));
}

/* "number method": up to 10 digits below 2^31, one space, a token. */
static int cseq(cp_span v, cp_relay *r)
{
    const char *sp = memchr(v.p, ' ', v.n);
    long num;
    if (!sp || !cp_digits(v.p, (size_t)(sp - v.p), 10, &num) || num >= 2147483648L)
        return 0;
    r->cseq_method.p = sp + 1;
    r->cseq_method.n = (size_t)(v.p + v.n - sp - 1);
    if (!r->cseq_method.n)
        return 0;
    for (size_t i = 0; i < r->cseq_method.n; i++)
        if (!cp_is_token((unsigned char)r->cseq_method.p[i]))
            return 0;
    return 1;
}

/* The values of a Via line: one, or (a response: a carrier may fold the Vias it echoes
 * into one line, RFC 3261 7.3.1) several separated by commas, each plain and not empty,
 * spaces around them stripped as the reference parser splits them (reader._split). */
static int via_values(cp_span v, int several, cp_relay *r)
{
    const char *p = v.p, *end = v.p + v.n;
    if (!several && memchr(p, ',', v.n))
        return 0;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        const char *a = p, *b = stop;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        cp_span value = {a, (size_t)(b - a)};
        if (r->nvalues == CP_RELAY_VIAS || !cp_via_plain(value))
            return 0;
        r->via_line_of[r->nvalues] = r->nvias;
        r->via_values[r->nvalues++] = value;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 1;
}

int cp_scan_relay(const char *data, size_t len, size_t max_size, cp_relay *r)
{
    const char *p = data;
    size_t head_end, eol;
    if (len > max_size || !cp_head(p, len, &head_end, &eol))
        return 0;
    if (!start_line(p, eol, r))
        return 0;
    r->first_header = eol + 2;
    int froms = 0, tos = 0, call_ids = 0, cseqs = 0, lengths = 0, lines = 0;
    size_t length_end = 0;
    long length = -1;
    size_t line = eol + 2;
    while (line < head_end + 2) {
        const char *end = memchr(p + line, '\r', head_end + 2 - line);
        size_t stop = (size_t)(end - p), colon = line;
        if (++lines > CP_RELAY_LINES)
            return 0;
        while (colon < stop && cp_is_token((unsigned char)p[colon]))
            colon++;
        size_t vstart = colon + 2;
        if (colon - line == 14 && memcmp(p + line, "Content-Length", 14) == 0)
            while (vstart < stop && p[vstart] == ' ')
                vstart++; /* sipp pads its [len]: length_padded, the writer spells it out */
        if (colon == line || vstart >= stop || p[colon] != ':' || p[colon + 1] != ' ' ||
            p[vstart] == ' ' || p[vstart] == '\t' || p[stop - 1] == ' ' || p[stop - 1] == '\t' ||
            !cp_printable(p + vstart, stop - vstart))
            return 0;
        cp_line l = {line, stop + 2, {p + vstart, stop - vstart}};
        cp_span v = l.value;
        switch (kind_of(p + line, colon - line, r->status == 0)) {
        case K_NO:
            return 0;
        case K_VIA:
            if (r->nvias == CP_RELAY_VIAS || !via_values(v, r->status != 0, r))
                return 0;
            r->vias[r->nvias++] = l;
            break;
        case K_ROUTE:
            if (r->nroutes == CP_RELAY_ROUTES || memchr(v.p, ',', v.n) || memchr(v.p, '"', v.n))
                return 0;
            r->routes[r->nroutes++] = l;
            break;
        case K_RR:
            if (memchr(v.p, ',', v.n) || memchr(v.p, '"', v.n))
                return 0;
            break;
        case K_FROM:
            if (froms++ || !cp_name_addr_plain(v))
                return 0;
            r->from = l;
            break;
        case K_TO:
            if (tos++ || !cp_name_addr_plain(v))
                return 0;
            r->to = v;
            break;
        case K_CALL_ID:
            if (call_ids++)
                return 0;
            r->call_id = v;
            break;
        case K_CSEQ:
            if (cseqs++ || !cseq(v, r))
                return 0;
            r->cseq = v;
            break;
        case K_LENGTH:
            /* The shortest spelling of the exact body length (serialize() writes it). */
            if (lengths++ || !cp_digits(v.p, v.n, 9, &length) || (v.n > 1 && v.p[0] == '0'))
                return 0;
            length_end = l.end;
            r->length = l;
            r->length_padded = vstart > colon + 2;
            break;
        case K_MF: {
            long mf;
            if (r->has_mf++ || !cp_digits(v.p, v.n, 10, &mf) || mf > 255)
                return 0;
            r->mf = l;
            break;
        }
        default:
            break;
        }
        line = stop + 2;
    }
    if (!r->nvias || froms != 1 || tos != 1 || call_ids != 1 || cseqs != 1 || lengths != 1)
        return 0;
    if (length_end != head_end + 2 || (size_t)length != len - head_end - 4)
        return 0;
    if (r->status == 0 && (r->cseq_method.n != r->method.n ||
                           memcmp(r->cseq_method.p, r->method.p, r->method.n) != 0))
        return 0;
    return 1;
}
