/* A strict reader of the INVITE and ACK the data plane answers alone.
 *
 * It takes a subset of what the Python scanner (sip_edge/_wire.pyx scan_head, scan_via)
 * and the full parser accept: a message in canonical form, every header line written
 * `Name: value` with the canonical spelling of the headers the answer echoes (so echoing
 * the line as received writes what `response_from` writes of the parse), one Via value
 * per line, a plain UDP top Via with lower-case parameter names, a To without a tag, no
 * quotes in From or To, a CSeq naming the method, an exact Content-Length, and no
 * Require or Proxy-Require. Anything else returns 0 before any effect, and the Python
 * core, the reference, handles the message.
 */
#include <string.h>

#include "scan.h"

enum { H_OTHER, H_VIA, H_FROM, H_TO, H_CALL_ID, H_CSEQ, H_LENGTH, H_MF, H_REFUSE };

/* The header's kind; H_REFUSE: a spelling or header the plane leaves to the core. */
static int known(const char *name, size_t n, const char *lowered, const char *canonical, int k)
{
    if (!cp_ieq(name, n, lowered))
        return -1;
    /* The canonical spelling only: the answer echoes the line as received. */
    return (canonical && memcmp(name, canonical, n) == 0) ? k : H_REFUSE;
}

static int kind(const char *name, size_t n)
{
    int k = -1;
    switch (n) {
    case 1: {
        /* Compact forms (RFC 3261 7.3.3) of the headers read here: the core's. */
        int c = cp_lower((unsigned char)name[0]);
        return (c == 'v' || c == 'f' || c == 't' || c == 'i' || c == 'l') ? H_REFUSE : H_OTHER;
    }
    case 2:
        k = known(name, n, "to", "To", H_TO);
        break;
    case 3:
        k = known(name, n, "via", "Via", H_VIA);
        break;
    case 4:
        k = known(name, n, "from", "From", H_FROM);
        if (k < 0)
            k = known(name, n, "cseq", "CSeq", H_CSEQ);
        break;
    case 7:
        k = known(name, n, "call-id", "Call-ID", H_CALL_ID);
        if (k < 0)
            k = known(name, n, "require", NULL, H_REFUSE);
        break;
    case 12:
        k = known(name, n, "max-forwards", "Max-Forwards", H_MF);
        break;
    case 13:
        k = known(name, n, "proxy-require", NULL, H_REFUSE);
        break;
    case 14:
        k = known(name, n, "content-length", "Content-Length", H_LENGTH);
        break;
    default:
        break;
    }
    return k < 0 ? H_OTHER : k;
}

static int start_line(const char *p, size_t eol, cp_request *r)
{
    size_t i;
    if (eol > 7 && memcmp(p, "INVITE ", 7) == 0) {
        r->method = CP_INVITE;
        i = 7;
    } else if (eol > 4 && memcmp(p, "ACK ", 4) == 0) {
        r->method = CP_ACK;
        i = 4;
    } else {
        return 0;
    }
    size_t uri = i;
    while (i < eol && p[i] != ' ') {
        unsigned char c = (unsigned char)p[i];
        if (c < 33 || c > 126 || c == '<' || c == '>' || c == '?')
            return 0;
        i++;
    }
    size_t uri_n = i - uri;
    if (uri_n == 0 || uri_n >= CP_URI_MAX || eol - i != 8 || memcmp(p + i, " SIP/2.0", 8) != 0)
        return 0;
    /* sip:user@host: the user part up to ";" or ":" (reader.uri_user); the dialled
     * number of a tel: URI, a URI without a user and other schemes are the core's. */
    if (uri_n < 5 || memcmp(p + uri, "sip:", 4) != 0)
        return 0;
    const char *at = memchr(p + uri + 4, '@', uri_n - 4);
    if (!at)
        return 0;
    size_t u = uri + 4, e = u;
    while (p + e < at && p[e] != ';' && p[e] != ':')
        e++;
    if (e == u)
        return 0;
    r->user.p = p + u;
    r->user.n = e - u;
    return 1;
}

int cp_scan(const char *data, size_t len, size_t max_size, const char *own, size_t own_len,
            cp_request *r)
{
    const char *p = data;
    size_t head_end, eol;
    if (len > max_size || !cp_head(p, len, &head_end, &eol))
        return 0;
    if (!start_line(p, eol, r))
        return 0;

    int vias = 0, froms = 0, tos = 0, call_ids = 0, cseqs = 0, lengths = 0, mfs = 0;
    long length = -1, value;
    r->necho = 0;
    r->top = -1;
    r->max_forwards = -1;
    size_t line = eol + 2;
    while (line < head_end + 2) {
        const char *end = memchr(p + line, '\r', head_end + 2 - line);
        size_t stop = (size_t)(end - p), colon = line;
        if (r->necho >= CP_MAX_LINES)
            return 0;
        while (colon < stop && cp_is_token((unsigned char)p[colon]))
            colon++;
        /* "Name: value": a token, a colon, a space, a value without trailing padding; the
         * lines the answer echoes (and To) with exactly one space, as the core writes
         * them. Content-Length may be padded: sipp writes "Content-Length:   105". */
        if (colon == line || colon + 2 >= stop || p[colon] != ':' || p[colon + 1] != ' ' ||
            p[stop - 1] == ' ')
            return 0;
        int k = kind(p + line, colon - line);
        size_t at = colon + 2;
        if (k != H_VIA && k != H_FROM && k != H_TO && k != H_CALL_ID && k != H_CSEQ)
            while (at < stop && p[at] == ' ')
                at++;
        if (at >= stop || p[at] == ' ')
            return 0;
        cp_span v = {p + at, stop - at};
        if (!cp_printable(v.p, v.n))
            return 0;
        cp_span whole = {p + line, stop - line};
        switch (k) {
        case H_REFUSE:
            return 0;
        case H_VIA:
            if (!cp_via_plain(v) || cp_contains(v.p, v.n, own, own_len))
                return 0;
            if (vias++ == 0) {
                r->top = r->necho;
                r->top_value = v;
            }
            r->echo[r->necho++] = whole;
            break;
        case H_FROM:
            if (froms++ || !cp_name_addr_plain(v))
                return 0;
            r->echo[r->necho++] = whole;
            break;
        case H_TO:
            if (tos++ || !cp_name_addr_plain(v))
                return 0;
            r->to = v;
            break;
        case H_CALL_ID:
            if (call_ids++)
                return 0;
            r->call_id = v;
            r->echo[r->necho++] = whole;
            break;
        case H_CSEQ: {
            const char *sp = memchr(v.p, ' ', v.n);
            const char *m = r->method == CP_INVITE ? "INVITE" : "ACK";
            size_t mn = strlen(m);
            if (cseqs++ || !sp || !cp_digits(v.p, (size_t)(sp - v.p), 9, &value) ||
                (size_t)(v.p + v.n - sp - 1) != mn || memcmp(sp + 1, m, mn) != 0)
                return 0;
            r->echo[r->necho++] = whole;
            break;
        }
        case H_LENGTH:
            if (lengths++ || !cp_digits(v.p, v.n, 6, &length))
                return 0;
            break;
        case H_MF:
            if (mfs++ || !cp_digits(v.p, v.n, 3, &value) || value > 255)
                return 0;
            r->max_forwards = (int)value;
            break;
        default:
            break;
        }
        line = stop + 2;
    }
    if (!vias || froms != 1 || tos != 1 || call_ids != 1 || cseqs != 1 || lengths != 1)
        return 0;
    if ((size_t)length != len - head_end - 4)
        return 0;
    if (r->method == CP_INVITE && !cp_untagged(r->to))
        return 0;
    return cp_via_parse(r->top_value, &r->via);
}
