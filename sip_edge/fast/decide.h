/* decide.h: policy.percall.authorize.decide() for one dial string, in plain C99.
 *
 * The contract (README.md in this directory): cp_decide() either returns CP_FALLBACK, and
 * Python decides, or its answer equals decide()'s: verdict, table row (hence reason, rule,
 * SIP answer, category), carrier and canonical digits. tests/sip/test_cdecide.py holds the
 * two together. No Python.h here, so compilers, sanitizers and linters see plain C.
 *
 * Every structure is built once per rules snapshot (cp_rules) or per (account, snapshot)
 * (cp_account), by sip_edge/fast/_cdecide.pyx, and never written after: any number of
 * threads may call cp_decide() on them at once, without the GIL.
 */
#ifndef CP_DECIDE_H
#define CP_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What cp_decide() returns (and puts in cp_decision.verdict). */
enum {
    CP_FALLBACK = 0,  /* not sure: let policy.decide() answer */
    CP_ALLOW = 1,
    CP_REFUSE = 2,    /* decide() gives "block" or "reject" */
    CP_EMERGENCY = 3  /* 110/112: route, fallback and NPN come from Python */
};

/* A dial string that is not a number is refused on one of these rows, numbered after the
 * table's: row = ntable + CP_ERR_*. The order is tables.ERROR_REASONS. */
enum {
    CP_ERR_INVALID_NUMBER = 0,
    CP_ERR_INCOMPLETE_NUMBER = 1,
    CP_ERR_CARRIER_SELECTION = 2,
    CP_ERRORS = 3
};

/* cp_account.area_state: how a local number (first digit 2-9) is completed. */
enum {
    CP_AREA_NONE = 0,  /* no area code: incomplete_number */
    CP_AREA_OK = 1,
    CP_AREA_BAD = 2    /* decide() raises ValueError: fall back, Python reports it */
};

#define CP_MAX_E164 15      /* ITU-T E.164: digits of a canonical number, at most */
#define CP_COMBOS 24        /* policy.compiler.compile.COMBOS: table rows per class */
#define CP_SUSPENDED 12     /* policy.compiler.compile.SUSPENDED */

/* One block of compiled/_trie.pyx's layout (compiled/README.md): five nodes' child bits
 * (10 each) and value bits (bits 50-54), the id of the block's first child and the index
 * of its first value. */
typedef struct {
    uint64_t bits;
    uint32_t child_base;
    uint32_t value_base;
} cp_trie_block;

typedef struct {
    const cp_trie_block *blocks;
    const uint32_t *values;
    uint32_t nblocks;
    uint32_t nvalues;
} cp_trie;

/* What the decision needs of one DestClass. */
typedef struct {
    int32_t min_digits;
    int32_t max_digits;
    int32_t carrier;  /* index into CRules.carriers; -1: not a carrier of the snapshot */
} cp_class;

typedef struct {
    cp_trie trie;                /* canonical digits -> class id */
    const cp_class *classes;
    const uint8_t *row_verdict;  /* CP_ALLOW / CP_REFUSE / CP_EMERGENCY (0: fall back) */
    uint32_t nclasses;
    uint32_t ntable;             /* rows of the snapshot's table: nclasses * CP_COMBOS */
    uint32_t nrows;              /* ntable + CP_ERRORS */
} cp_rules;

typedef struct {
    const cp_rules *rules;     /* the rules it was built for; any other: CP_FALLBACK */
    const uint64_t *blocked;   /* bitset over class ids: blocked by category or country */
    const uint64_t *lifted;    /* bitset over class ids: default block lifted */
    const cp_trie *prefixes;   /* the account's blocked prefixes; NULL: none */
    uint8_t suspended;
    uint8_t area_state;        /* CP_AREA_* */
    uint8_t area_len;          /* 2-5 */
    char area[6];              /* area code without trunk 0 (not NUL-terminated) */
} cp_account;

typedef struct {
    int verdict;    /* as returned */
    uint32_t row;   /* < rules->nrows unless CP_FALLBACK */
    int32_t carrier;  /* CP_ALLOW: index into CRules.carriers; else -1 */
    uint32_t ndigits;  /* 0 for a number error */
    char digits[CP_MAX_E164 + 1];  /* canonical E.164 digits without "+", NUL-terminated */
} cp_decision;

/* Decide the dial string dial[0..len) (the Request-URI's user part as received; it need
 * not be NUL-terminated) of account a under rules r. Returns the verdict, CP_FALLBACK when
 * Python must decide (a non-ASCII byte, a bad area code, an account built for other
 * rules ...). Reads only r, a and dial; writes only *out. */
int cp_decide(const cp_rules *r, const cp_account *a, const char *dial, size_t len,
              cp_decision *out);

/* Longest-prefix lookup of n ASCII digits: the value, or -1 (no prefix matches, or the
 * structure is inconsistent). */
int64_t cp_trie_lookup(const cp_trie *t, const char *digits, size_t n);

/* 1 if this process uses the POPCNT build of the lookups (chosen when the library loads). */
int cp_uses_popcnt(void);

#ifdef __cplusplus
}
#endif

#endif /* CP_DECIDE_H */
