# cython: language_level=3
# The C side of sip_edge/fast/_cdecide.pyx, for other Cython modules to cimport:
#
#     from sip_edge.fast._cdecide cimport CRules, CAccount, cp_decide, cp_decision, CP_REFUSE
#     cdef cp_decision out
#     if cp_decide(&rules.c, &account.c, data, n, &out) == CP_REFUSE: ...
#
# The module that does this needs decide.c among its sources (or the function pointer in
# _cdecide.CP_DECIDE, a capsule) and sip_edge/fast in its include_dirs: see README.md.

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t


cdef extern from "decide.h" nogil:
    enum:
        CP_FALLBACK
        CP_ALLOW
        CP_REFUSE
        CP_EMERGENCY
        CP_ERR_INVALID_NUMBER
        CP_ERR_INCOMPLETE_NUMBER
        CP_ERR_CARRIER_SELECTION
        CP_ERRORS
        CP_AREA_NONE
        CP_AREA_OK
        CP_AREA_BAD
        CP_MAX_E164
        CP_COMBOS
        CP_SUSPENDED

    ctypedef struct cp_trie_block:
        uint64_t bits
        uint32_t child_base
        uint32_t value_base

    ctypedef struct cp_trie:
        const cp_trie_block* blocks
        const uint32_t* values
        uint32_t nblocks
        uint32_t nvalues

    ctypedef struct cp_class:
        int32_t min_digits
        int32_t max_digits
        int32_t carrier

    ctypedef struct cp_rules:
        cp_trie trie
        const cp_class* classes
        const uint8_t* row_verdict
        uint32_t nclasses
        uint32_t ntable
        uint32_t nrows

    ctypedef struct cp_account:
        const cp_rules* rules
        const uint64_t* blocked
        const uint64_t* lifted
        const cp_trie* prefixes
        uint8_t suspended
        uint8_t area_state
        uint8_t area_len
        char area[6]

    ctypedef struct cp_decision:
        int verdict
        uint32_t row
        int32_t carrier
        uint32_t ndigits
        char digits[16]

    int cp_decide(const cp_rules* r, const cp_account* a, const char* dial, size_t length,
                  cp_decision* out)
    int64_t cp_trie_lookup(const cp_trie* t, const char* digits, size_t n)
    int cp_uses_popcnt()


cdef class CRules:
    """One snapshot's trie, classes and table rows as C arrays (immutable)."""

    cdef cp_rules c
    cdef cp_trie_block* _blocks
    cdef uint32_t* _values
    cdef cp_class* _classes
    cdef uint8_t* _verdicts
    cdef readonly str revision
    cdef readonly tuple carriers


cdef class CAccount:
    """One CompiledAccount for one CRules, as C data (immutable)."""

    cdef cp_account c
    cdef cp_trie _prefix_trie
    cdef cp_trie_block* _prefix_blocks
    cdef uint32_t* _prefix_values
    cdef uint64_t* _blocked
    cdef uint64_t* _lifted
    cdef readonly CRules rules
    cdef readonly str account
