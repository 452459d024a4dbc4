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

/* `s` as the inside of a JSON string with its last `mask` digits as X. The plane takes
 * only printable ASCII dial strings, so '"' and '\\' are all there is to escape. */
static void put_masked(cp_buf *b, const char *s, size_t n, int mask)
{
    size_t i;
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
            b->data[b->len++] = '\\';
        b->data[b->len++] = c;
    }
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
    if (cp_buf_reserve(&p->lines, need) < 0) {
        p->log_dropped++;
        return -1;
    }
    char ts[40];
    int ts_n = format_ts(ts, now + p->log.wall_offset);
    cp_buf_put(&p->lines, p->log.head, p->log.head_len);
    cp_buf_digits(&p->lines, decision, 36);
    cp_buf_put(&p->lines, "\",\"ts\":", 7);
    cp_buf_put(&p->lines, ts, (size_t)ts_n);
    cp_buf_put(&p->lines, p->log.middle, p->log.middle_len);
    cp_buf_put(&p->lines, t->account_json, t->account_json_len);
    cp_buf_put(&p->lines, ",\"dial\":\"", 9);
    put_masked(&p->lines, dial, dial_len, p->log.mask_digits);
    cp_buf_put(&p->lines, "\",\"number\":\"", 12);
    put_masked(&p->lines, digits, ndigits, p->log.mask_digits);
    cp_buf_put(&p->lines, "\",", 2);
    cp_buf_put(&p->lines, ref->log_tail, ref->log_tail_len);
    return 0;
}
