/* decide.c: policy.percall.authorize.decide() in C99, for the dial strings the edge sees.
 *
 * Two halves, each a transcription of its Python original:
 * - canonical(): policy/percall/numbers.py canonical(): the dial string (digits, "+",
 *   "00", "0", local numbers, service codes, visual separators, tel:/sip: URIs) becomes
 *   canonical E.164 digits or one of the three number errors;
 * - the lookup: authorize.decide(): trie -> class, the account's bits -> table row.
 * Where Python would do something this file does not reproduce (a non-ASCII character,
 * an area code _area() rejects with ValueError, a class whose carrier is unknown, an
 * "emergency" row for a number that is neither 110 nor 112), it returns CP_FALLBACK.
 */
#include "decide.h"

#include <string.h>

/* canonical()'s own results besides CP_ERR_* (which are >= 0). */
#define NUM_OK (-1)
#define NUM_FALLBACK (-2)

/* Digits kept of a dial string. Any accepted one has at most 17 ("00" + 15); longer ones
 * are still counted, and refused by their first digits or their length, as in Python. */
#define KEEP 24

typedef struct {
    size_t n;  /* digits in the dial string, all counted; the first KEEP are in d */
    int plus;
    char d[KEEP];
} cp_digits;

#if defined(__GNUC__) || defined(__clang__)
#define CP_INLINE static inline __attribute__((always_inline))
#define CP_POPCOUNT(x) ((uint32_t)__builtin_popcountll(x))
#define CP_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define CP_INLINE static inline
static inline uint32_t cp_popcount_swar(uint64_t x) {
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (uint32_t)((x * 0x0101010101010101ULL) >> 56);
}
#define CP_POPCOUNT(x) cp_popcount_swar(x)
#define CP_LIKELY(x) (x)
#endif

#define PER_BLOCK 5u
#define VALUE_SHIFT 50u

static inline int is_digit(unsigned char c) { return (unsigned)(c - '0') < 10u; }

/* numbers._SEPARATORS: RFC 3966 visual separators plus space and "/". */
static inline int is_separator(unsigned char c) {
    return c == ' ' || c == '(' || c == ')' || c == '-' || c == '/' || c == '.';
}

/* --- the trie (compiled/README.md, "Layout") ------------------------------------------- */

/* Longest-prefix walk over n ASCII digits (the caller checked them). The block and value
 * indexes are bounds-checked: they cost a predictable compare per level, and keep a
 * corrupt structure from reading out of bounds (the arrays come from a checked trie). */
CP_INLINE int64_t trie_find(const cp_trie *t, const char *s, size_t n) {
    uint32_t node = 0, best = 0;
    int found = 0;
    size_t i = 0;
    for (;;) {
        uint32_t b = node / PER_BLOCK, j = node % PER_BLOCK, bit;
        uint64_t w;
        if (b >= t->nblocks) return -1;
        w = t->blocks[b].bits;
        if ((w >> (VALUE_SHIFT + j)) & 1u) {
            best = t->blocks[b].value_base
                   + CP_POPCOUNT((w >> VALUE_SHIFT) & ((1u << j) - 1u));
            found = 1;
        }
        if (i == n) break;
        bit = 10u * j + (uint32_t)(s[i] - '0');
        i++;
        if (!((w >> bit) & 1u)) break;
        node = t->blocks[b].child_base + CP_POPCOUNT(w & ((1ULL << bit) - 1u));
    }
    if (!found || best >= t->nvalues) return -1;
    return (int64_t)t->values[best];
}

/* --- canonical() ------------------------------------------------------------------------ */

static inline void keep(cp_digits *num, unsigned char c) {
    if (num->n < KEEP) num->d[num->n] = (char)c;
    num->n++;
}

/* scheme == want (lower case), ignoring ASCII case, as scheme.lower() does. */
static int scheme_is(const unsigned char *p, size_t n, const char *want) {
    size_t i;
    if (n != strlen(want)) return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + ('a' - 'A'));
        if (c != (unsigned char)want[i]) return 0;
    }
    return 1;
}

static const unsigned char *find(const unsigned char *p, size_t n, unsigned char c) {
    return n ? (const unsigned char *)memchr(p, c, n) : NULL;
}

/* numbers._drop_trunk_zero(): a "(0)" right after a 1-3 digit country code written with
 * "+" or "00" is a trunk prefix, dropped. Returns its position in p[s..e), or e if none. */
static size_t trunk_zero(const unsigned char *p, size_t s, size_t e) {
    size_t k, i, m = 0, off;
    unsigned char cc[8];
    for (k = s; k + 3 <= e; k++) {
        if (p[k] == '(' && p[k + 1] == '0' && p[k + 2] == ')') break;
    }
    if (k + 3 > e) return e;
    /* cc = the head without separators; only its first 8 characters can matter. */
    for (i = s; i < k; i++) {
        if (is_separator(p[i])) continue;
        if (m < sizeof cc) cc[m] = p[i];
        m++;
    }
    if (m >= 1 && cc[0] == '+') {
        off = 1;
    } else if (m >= 2 && cc[0] == '0' && cc[1] == '0') {
        off = 2;
    } else {
        return e;  /* a national number: "(0)" is two separators around a trunk 0 */
    }
    if (m - off < 1 || m - off > 3) return e;
    for (i = off; i < m; i++) {
        if (!is_digit(cc[i])) return e;
    }
    return k;
}

/* numbers._extract() (with _uri_user): any dial string that is not plain digits. */
static int extract(const unsigned char *p, size_t len, cp_digits *num) {
    size_t s = 0, e = len, i, zero;
    const unsigned char *colon;
    int first = 1;
    /* Python sees a str: the edge decodes the URI as latin-1, other callers may not.
       Outside ASCII the answer depends on that decoding, so Python gives it. */
    for (i = 0; i < len; i++) {
        if (p[i] & 0x80u) return NUM_FALLBACK;
    }
    while (s < e && p[s] == ' ') s++;
    while (e > s && p[e - 1] == ' ') e--;
    if (e - s >= 2 && p[s] == '<' && p[e - 1] == '>') {
        s++;
        e--;
    }
    colon = find(p + s, e - s, ':');
    if (colon != NULL) {
        size_t c = (size_t)(colon - p);
        const unsigned char *cut;
        if (scheme_is(p + s, c - s, "sip") || scheme_is(p + s, c - s, "sips")) {
            /* RFC 3261 19.1.1: the user part ends at "@"; without one it is no number. */
            const unsigned char *at = find(p + c + 1, e - c - 1, '@');
            if (at == NULL) return CP_ERR_INVALID_NUMBER;
            e = (size_t)(at - p);
        } else if (!scheme_is(p + s, c - s, "tel")) {
            return CP_ERR_INVALID_NUMBER;
        }
        s = c + 1;
        cut = find(p + s, e - s, ';');  /* parameters do not change the number */
        if (cut != NULL) e = (size_t)(cut - p);
    }
    zero = trunk_zero(p, s, e);
    num->n = 0;
    num->plus = 0;
    for (i = s; i < e; i++) {
        unsigned char c = p[i];
        if (i == zero) {
            i += 2;
            continue;
        }
        if (is_separator(c)) continue;
        if (first) {
            first = 0;
            if (c == '+') {
                num->plus = 1;
                continue;
            }
        }
        if (!is_digit(c)) return CP_ERR_INVALID_NUMBER;  /* also a second "+" */
        keep(num, c);
    }
    if (!num->plus && num->n == 0) return CP_ERR_INVALID_NUMBER;
    return NUM_OK;
}

static int emit(cp_decision *out, const char *head, size_t nh, const char *d, size_t n) {
    /* numbers._checked_length(): 3..15 digits, else invalid_number. */
    if (nh + n > CP_MAX_E164 || nh + n < 3) return CP_ERR_INVALID_NUMBER;
    memcpy(out->digits, head, nh);
    memcpy(out->digits + nh, d, n);
    out->ndigits = (uint32_t)(nh + n);
    out->digits[nh + n] = '\0';
    return NUM_OK;
}

/* numbers._international(): the digits after "+" or "00". */
static int international(const char *d, size_t n, cp_decision *out) {
    if (n == 0 || d[0] == '0') return CP_ERR_INVALID_NUMBER;
    if (n >= 3 && d[0] == '4' && d[1] == '9' && d[2] == '0') return CP_ERR_INVALID_NUMBER;
    if (n >= 4 && d[0] == '4' && d[1] == '9' && d[2] == '1' && d[3] == '0')
        return CP_ERR_CARRIER_SELECTION;
    return emit(out, "", 0, d, n);
}

/* German service codes (numbers._service_codes()): 110, 112, 115, 116xyz, 118xy (x 1-9),
 * 1180xy. A proper prefix of one is incomplete_number, anything else invalid_number. */
static int service(const char *d, size_t n, cp_decision *out) {
    if (n == 1) return CP_ERR_INCOMPLETE_NUMBER;  /* "1" */
    if (d[1] != '1') return CP_ERR_INVALID_NUMBER;
    if (n == 2) return CP_ERR_INCOMPLETE_NUMBER;  /* "11" */
    switch (d[2]) {
    case '0': case '2': case '5':
        return n == 3 ? emit(out, "49", 2, d, n) : CP_ERR_INVALID_NUMBER;
    case '6':  /* 116xyz */
        if (n < 6) return CP_ERR_INCOMPLETE_NUMBER;
        return n == 6 ? emit(out, "49", 2, d, n) : CP_ERR_INVALID_NUMBER;
    case '8':  /* 118xy with x 1-9, 1180xy */
        if (n < 5 || (n == 5 && d[3] == '0')) return CP_ERR_INCOMPLETE_NUMBER;
        if (n == 5 || (n == 6 && d[3] == '0')) return emit(out, "49", 2, d, n);
        return CP_ERR_INVALID_NUMBER;
    default:
        return CP_ERR_INVALID_NUMBER;
    }
}

/* numbers._from_digits(): digits without a leading "+". */
static int from_digits(const cp_account *a, const char *d, size_t n, cp_decision *out) {
    if (d[0] == '0') {
        if (n >= 2 && d[1] == '0') return international(d + 2, n - 2, out);
        if (n >= 3 && d[1] == '1' && d[2] == '0') return CP_ERR_CARRIER_SELECTION;  /* 010xy */
        if (n >= 3 && d[1] == '1' && d[2] == '1') return CP_ERR_INVALID_NUMBER;  /* (0)11 */
        return emit(out, "49", 2, d + 1, n - 1);
    }
    if (d[0] == '1') return service(d, n, out);
    /* 2-9: a subscriber number of the account's own local network. */
    if (a->area_state == CP_AREA_NONE) return CP_ERR_INCOMPLETE_NUMBER;
    if (a->area_state != CP_AREA_OK) return NUM_FALLBACK;
    {
        char head[2 + sizeof a->area];
        head[0] = '4';
        head[1] = '9';
        memcpy(head + 2, a->area, a->area_len);
        return emit(out, head, 2u + a->area_len, d, n);
    }
}

CP_INLINE int canonical(const cp_account *a, const unsigned char *p, size_t len,
                        cp_decision *out) {
    cp_digits num;
    size_t i;
    if (len == 0) return CP_ERR_INVALID_NUMBER;
    /* The edge's usual shapes first: plain digits, or "+" and digits. */
    for (i = p[0] == '+'; i < len && is_digit(p[i]); i++) {
    }
    if (i == len && len <= KEEP) {
        if (p[0] == '+') return international((const char *)p + 1, len - 1, out);
        return from_digits(a, (const char *)p, len, out);
    }
    {
        int rc = extract(p, len, &num);
        if (rc != NUM_OK) return rc;
    }
    /* More than KEEP digits: only the first ones decide which error it is, the length
       makes it one anyway, so KEEP + 1 stands for "too many" (and nothing past the kept
       digits is read: emit() refuses more than 15 before it copies). */
    if (num.n > KEEP) num.n = KEEP + 1;
    if (num.plus) return international(num.d, num.n, out);
    return from_digits(a, num.d, num.n, out);
}

/* --- decide() --------------------------------------------------------------------------- */

static inline int has_bit(const uint64_t *set, uint32_t i) {
    return (int)((set[i >> 6] >> (i & 63u)) & 1u);
}

CP_INLINE int decide_body(const cp_rules *r, const cp_account *a, const char *dial,
                          size_t len, cp_decision *out) {
    int rc, verdict;
    int64_t found;
    uint32_t cls, i, n;
    const cp_class *c;
    out->verdict = CP_FALLBACK;
    out->row = 0;
    out->carrier = -1;
    out->ndigits = 0;
    out->digits[0] = '\0';
    if (a->rules != r) return CP_FALLBACK;
    rc = canonical(a, (const unsigned char *)dial, len, out);
    if (rc == NUM_FALLBACK) return CP_FALLBACK;
    if (rc != NUM_OK) {
        /* authorize.refused(): no digits, no rule. */
        out->ndigits = 0;
        out->digits[0] = '\0';
        out->row = r->ntable + (uint32_t)rc;
        out->verdict = CP_REFUSE;
        return CP_REFUSE;
    }
    n = out->ndigits;
    found = trie_find(&r->trie, out->digits, n);
    if (found < 0 || found >= (int64_t)r->nclasses) return CP_FALLBACK;
    cls = (uint32_t)found;
    c = &r->classes[cls];
    i = cls * CP_COMBOS;
    if (a->suspended) i += CP_SUSPENDED;
    if ((int32_t)n < c->min_digits) {
        i += 4;
    } else if ((int32_t)n > c->max_digits) {
        i += 8;
    }
    if (has_bit(a->blocked, cls) || (a->prefixes != NULL && trie_find(a->prefixes, out->digits, n) >= 0))
        i += 2;
    if (has_bit(a->lifted, cls)) i += 1;
    verdict = r->row_verdict[i];
    if (verdict == CP_ALLOW) {
        if (c->carrier < 0) return CP_FALLBACK;  /* decide() raises KeyError */
        out->carrier = c->carrier;
    } else if (verdict == CP_EMERGENCY) {
        /* decide() refuses any other number of an emergency category (load.py forbids
           such categories): not worth a row of its own. */
        if (n != 5 || memcmp(out->digits, "4911", 4) != 0
            || (out->digits[4] != '0' && out->digits[4] != '2'))
            return CP_FALLBACK;
    } else if (verdict != CP_REFUSE) {
        return CP_FALLBACK;
    }
    out->row = i;
    out->verdict = verdict;
    return verdict;
}

/* --- POPCNT dispatch --------------------------------------------------------------------- */

/* x86-64's baseline has no POPCNT, so plain -O3 calls libgcc per popcount (two per trie
   level): build a POPCNT copy too and choose once, when the library is loaded. */
static int decide_generic(const cp_rules *r, const cp_account *a, const char *dial,
                          size_t len, cp_decision *out) {
    return decide_body(r, a, dial, len, out);
}

static int64_t lookup_generic(const cp_trie *t, const char *s, size_t n) {
    return trie_find(t, s, n);
}

static int (*decide_impl)(const cp_rules *, const cp_account *, const char *, size_t,
                          cp_decision *) = decide_generic;
static int64_t (*lookup_impl)(const cp_trie *, const char *, size_t) = lookup_generic;
static int popcnt_selected = 0;

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(__POPCNT__)
__attribute__((target("popcnt"))) static int decide_popcnt(const cp_rules *r,
                                                           const cp_account *a,
                                                           const char *dial, size_t len,
                                                           cp_decision *out) {
    return decide_body(r, a, dial, len, out);
}

__attribute__((target("popcnt"))) static int64_t lookup_popcnt(const cp_trie *t, const char *s,
                                                               size_t n) {
    return trie_find(t, s, n);
}

__attribute__((constructor)) static void cp_select(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("popcnt")) {
        decide_impl = decide_popcnt;
        lookup_impl = lookup_popcnt;
        popcnt_selected = 1;
    }
}
#elif defined(__POPCNT__)
__attribute__((constructor)) static void cp_select(void) { popcnt_selected = 1; }
#endif

int cp_decide(const cp_rules *r, const cp_account *a, const char *dial, size_t len,
              cp_decision *out) {
    return decide_impl(r, a, dial, len, out);
}

int64_t cp_trie_lookup(const cp_trie *t, const char *digits, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        if (!is_digit((unsigned char)digits[i])) return -1;
    }
    return lookup_impl(t, digits, n);
}

int cp_uses_popcnt(void) { return popcnt_selected; }
