/* The lexical pieces the plane's scanners share (lex.h). */
#define _GNU_SOURCE /* memmem */
#include <string.h>

#include "lex.h"

int cp_head(const char *p, size_t len, size_t *head_end, size_t *eol)
{
    /* The head ends at the first empty line; every line break in it is CRLF. */
    if (len == 0 || p[0] == '\r' || p[0] == '\n')
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\n')
            return 0;
        if (p[i] == '\r') {
            if (i + 1 >= len || p[i + 1] != '\n')
                return 0;
            if (i + 3 < len && p[i + 2] == '\r' && p[i + 3] == '\n') {
                *head_end = i;
                *eol = (size_t)((const char *)memchr(p, '\r', i + 1) - p);
                return 1;
            }
            i++;
        }
    }
    return 0;
}

int cp_printable(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 32 || c == 127)
            return 0;
    }
    return 1;
}

int cp_is_token(unsigned char c)
{
    /* reader._TOKEN: [A-Za-z0-9.!%*_+`'~-] */
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c == '.' || c == '!' || c == '%' || c == '*' || c == '_' || c == '+' || c == '`' ||
           c == '\'' || c == '~' || c == '-';
}

int cp_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

int cp_ieq(const char *a, size_t n, const char *b)
{
    size_t m = strlen(b);
    if (n != m)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (cp_lower((unsigned char)a[i]) != b[i])
            return 0;
    return 1;
}

int cp_digits(const char *p, size_t n, size_t max, long *out)
{
    long v = 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 1;
}

int cp_contains(const char *p, size_t n, const char *needle, size_t m)
{
    return m > 0 && m <= n && memmem(p, n, needle, m) != NULL;
}

int cp_via_plain(cp_span v)
{
    /* "SIP/2.0/", a transport, one space, then printable ASCII without spaces or commas
     * (one value). */
    size_t i = 8;
    if (v.n < 10 || memcmp(v.p, "SIP/2.0/", 8) != 0)
        return 0;
    while (i < v.n && ((v.p[i] >= 'a' && v.p[i] <= 'z') || (v.p[i] >= 'A' && v.p[i] <= 'Z')))
        i++;
    if (i == 8 || i + 1 >= v.n || v.p[i] != ' ')
        return 0;
    for (i++; i < v.n; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c < 33 || c > 126 || c == ',' || c == '"')
            return 0;
    }
    return 1;
}

int cp_via_parse(cp_span v, cp_via *r)
{
    const char *p = v.p;
    size_t n = v.n, i = 12, start;
    memset(r, 0, sizeof(*r));
    if (n < 13 || memcmp(p, "SIP/2.0/UDP ", 12) != 0)
        return 0;
    start = i;
    while (i < n && ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
                     (p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == '-'))
        i++;
    if (i == start)
        return 0;
    r->host.p = p + start;
    r->host.n = i - start;
    if (i < n && p[i] == ':') {
        size_t d = ++i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (!cp_digits(p + d, i - d, 5, &r->port) || r->port < 1 || r->port > 65535)
            return 0;
    }
    r->sent_by.p = p + start;
    r->sent_by.n = i - start;
    size_t first_rport = 0;
    int have_first = 0;
    while (i < n) {
        if (p[i] != ';')
            return 0;
        size_t at = i++;
        size_t name = i;
        while (i < n && ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') ||
                         p[i] == '-' || p[i] == '_' || p[i] == '.'))
            i++;
        size_t name_n = i - name;
        if (name_n == 0)
            return 0;
        size_t val = i, val_n = 0;
        int has_value = 0;
        if (i < n && p[i] == '=') {
            has_value = 1;
            val = ++i;
            while (i < n && p[i] != ';') {
                unsigned char c = (unsigned char)p[i];
                if (c < 33 || c > 126 || c == ',' || c == '"')
                    return 0;
                i++;
            }
            val_n = i - val;
        }
        if (i < n && p[i] != ';')
            return 0;
        /* Every name once: the Python dict keeps the last, so a repeat is the core's. */
        for (size_t j = 12; j < at; j++) {
            if (p[j] == ';' && j + 1 + name_n <= at && memcmp(p + j + 1, p + name, name_n) == 0 &&
                (j + 1 + name_n == at || p[j + 1 + name_n] == ';' || p[j + 1 + name_n] == '='))
                return 0;
        }
        if (name_n == 6 && memcmp(p + name, "branch", 6) == 0) {
            if (!has_value || val_n == 0)
                return 0;
            r->branch.p = p + val;
            r->branch.n = val_n;
        } else if (name_n == 5 && memcmp(p + name, "rport", 5) == 0) {
            r->has_rport = 1;
            r->rport_empty = !has_value || val_n == 0;
            if (has_value && val_n == 0)
                return 0; /* "rport=": the core's */
            r->rport.p = p + val;
            r->rport.n = val_n;
            r->rport_at = at + 6;
        } else if (name_n == 8 && memcmp(p + name, "received", 8) == 0) {
            if (!has_value || val_n == 0)
                return 0; /* "received" without an address: the core's */
            r->has_received = 1;
            r->received.p = p + val;
            r->received.n = val_n;
        }
        if (!have_first && name_n >= 5 && memcmp(p + name, "rport", 5) == 0) {
            have_first = 1;
            first_rport = at;
        }
    }
    /* splice.stamped replaces the first ";rport" it finds: it must be the parameter. */
    if (r->has_rport && r->rport_empty && first_rport + 6 != r->rport_at)
        return 0;
    return r->branch.p != NULL;
}

int cp_name_addr_plain(cp_span v)
{
    /* An optional quoted display name without escapes, then "<" ... ">" with no quote
     * after it; or, without "<", no spaces, quotes or ">" (_wire.pyx _name_addr_plain,
     * narrowed). */
    const char *p = v.p, *end = v.p + v.n, *gt;
    if (v.n && p[0] == '"') {
        const char *close = memchr(p + 1, '"', v.n - 1);
        if (!close || memchr(p + 1, '\\', (size_t)(close - p - 1)))
            return 0;
        p = close + 1;
        if (p < end && *p == ' ')
            p++;
        if (p >= end || *p != '<')
            return 0;
    } else if (!memchr(p, '<', v.n)) {
        return !memchr(p, ' ', v.n) && !memchr(p, '>', v.n) && !memchr(p, '"', v.n);
    } else if (*p != '<') {
        return 0;
    }
    /* p is at "<": one "<", then a ">", no quotes. */
    if (memchr(p + 1, '<', (size_t)(end - p - 1)) || memchr(p, '"', (size_t)(end - p)))
        return 0;
    gt = memchr(p, '>', (size_t)(end - p));
    return gt != NULL && memchr(gt + 1, '>', (size_t)(end - gt - 1)) == NULL;
}

int cp_untagged(cp_span v)
{
    for (size_t i = 0; i + 3 <= v.n; i++)
        if (cp_lower((unsigned char)v.p[i]) == 't' && cp_lower((unsigned char)v.p[i + 1]) == 'a' &&
            cp_lower((unsigned char)v.p[i + 2]) == 'g')
            return 0;
    return 1;
}

int cp_tag_of(cp_span v, cp_span *tag)
{
    const char *gt = memchr(v.p, '>', v.n);
    tag->p = NULL;
    tag->n = 0;
    if (!gt || !memchr(v.p, '<', (size_t)(gt - v.p)))
        return 0;
    const char *p = gt + 1, *end = v.p + v.n;
    /* NameAddr.tag: the first parameter whose name is "tag" in any case, its value; the
     * plane takes parameters without spaces, so nothing needs stripping. */
    if (memchr(p, ' ', (size_t)(end - p)) || memchr(p, '\t', (size_t)(end - p)) ||
        (p < end && *p != ';'))
        return 0;
    while (p < end) {
        const char *name = p + 1;
        const char *stop = memchr(name, ';', (size_t)(end - name));
        if (!stop)
            stop = end;
        const char *eq = memchr(name, '=', (size_t)(stop - name));
        const char *name_end = eq ? eq : stop;
        if (cp_ieq(name, (size_t)(name_end - name), "tag")) {
            if (eq) {
                tag->p = eq + 1;
                tag->n = (size_t)(stop - eq - 1);
            }
            return 1;
        }
        p = stop;
    }
    return 1;
}
