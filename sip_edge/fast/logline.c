/* The decision log's line of a refusal the plane answered, written in C.
 *
 * The line is what policy.percall.decision_log.event_of() and msgspec write for the same
 * refusal (tests/sip/test_plane.py decodes both and compares them): the fixed parts come
 * from Python, rendered by msgspec once per rules, account and row (bridge.py); here
 * only the id, the time, and the masked dial string and number are written. The dial
 * string keeps at most 128 characters and, like the number, has its last `mask_digits`
 * digits written as X (decision_log.mask).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plane.h"

static int room(cp_plane *p, size_t more)
{
    if (p->log_len + more <= p->log_cap)
        return 0;
    if (p->log_len + more > CP_LOG_MAX)
        return -1;
    size_t cap = p->log_cap ? p->log_cap : 4096;
    while (cap < p->log_len + more)
        cap *= 2;
    char *b = realloc(p->log_buf, cap);
    if (!b)
        return -1;
    p->log_buf = b;
    p->log_cap = cap;
    return 0;
}

static void put(cp_plane *p, const char *s, size_t n)
{
    memcpy(p->log_buf + p->log_len, s, n);
    p->log_len += n;
}

/* `s` as the inside of a JSON string with its last `mask` digits as X. The plane takes
 * only printable ASCII dial strings, so '"' and '\\' are all there is to escape. */
static void put_masked(cp_plane *p, const char *s, size_t n, int mask)
{
    size_t start = p->log_len, i;
    int left = mask;
    size_t cut[CP_MASK_MAX];
    int ncut = 0;
    for (i = n; i > 0 && left > 0; i--)
        if (s[i - 1] >= '0' && s[i - 1] <= '9') {
            if (ncut < CP_MASK_MAX)
                cut[ncut++] = i - 1;
            left--;
        }
    for (i = 0; i < n; i++) {
        char c = s[i];
        for (int k = 0; k < ncut; k++)
            if (cut[k] == i)
                c = 'X';
        if (c == '"' || c == '\\')
            p->log_buf[p->log_len++] = '\\';
        p->log_buf[p->log_len++] = c;
    }
    (void)start;
}

static void put_b36(cp_plane *p, unsigned long long v)
{
    char b[24];
    int n = 0;
    do {
        b[n++] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
        v /= 36;
    } while (v);
    while (n)
        p->log_buf[p->log_len++] = b[--n];
}

/* A Unix time in seconds with six decimals (microseconds, as the Python writer's
 * time.time() resolution), without printf's generic float formatting. */
static int format_ts(char *b, double t)
{
    if (!(t >= 0 && t < 1e11))
        return snprintf(b, 40, "%.17g", t);
    long long us = (long long)(t * 1e6 + 0.5);
    long long sec = us / 1000000, frac = us % 1000000;
    char d[24];
    int n = 0, k = 0;
    do {
        d[n++] = (char)('0' + sec % 10);
        sec /= 10;
    } while (sec);
    while (n)
        b[k++] = d[--n];
    b[k++] = '.';
    for (int i = 5; i >= 0; i--) {
        b[k + i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    return k + 6;
}

int cp_log_line(cp_plane *p, const cp_trunk *t, const cp_refusal *ref,
                unsigned long long decision, double now, const char *dial, size_t dial_len,
                const char *digits, size_t ndigits)
{
    if (!ref->log_tail || !t->account_json)
        return -1;
    if (dial_len > 128)
        dial_len = 128; /* event_of keeps dial[:128] */
    size_t need = p->log.head_len + p->log.middle_len + t->account_json_len +
                  ref->log_tail_len + 2 * dial_len + ndigits + 96;
    if (room(p, need) < 0) {
        p->log_dropped++;
        return -1;
    }
    char ts[40];
    int ts_n = format_ts(ts, now + p->log.wall_offset);
    put(p, p->log.head, p->log.head_len);
    put_b36(p, decision);
    put(p, "\",\"ts\":", 7);
    put(p, ts, (size_t)ts_n);
    put(p, p->log.middle, p->log.middle_len);
    put(p, t->account_json, t->account_json_len);
    put(p, ",\"dial\":\"", 9);
    put_masked(p, dial, dial_len, p->log.mask_digits);
    put(p, "\",\"number\":\"", 12);
    put_masked(p, digits, ndigits, p->log.mask_digits);
    put(p, "\",", 2);
    put(p, ref->log_tail, ref->log_tail_len);
    return 0;
}
