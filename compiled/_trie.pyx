# cython: language_level=3
"""PrefixTrie: an immutable longest-prefix trie over decimal digit strings, in flat C arrays.

Layout (see compiled/README.md): nodes in BFS order, grouped five to a 16-byte block
{u64 bits, u32 child_base, u32 value_base}. Bit 10*j+d says node j of the block has a child for
digit d; bit 50+j says node j holds a value. A child's id is child_base plus the number of child
bits below its own bit (one popcount); a value's index is value_base plus the value bits below.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.list cimport PyList_New
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.object cimport PyObject
from cpython.sequence cimport PySequence_Fast_GET_SIZE, PySequence_Fast_ITEMS
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memset

from compiled import _common, _snapshot

from compiled._common import MAX_DIGITS, MAX_VALUE, NO_MATCH, TrieError

cdef extern from "Python.h":
    # Borrowed-pointer forms of the C API macros: no reference counting on the hot path.
    bint _is_str "PyUnicode_Check"(PyObject* o)
    bint _is_int "PyLong_Check"(PyObject* o)
    bint _is_bool "PyBool_Check"(PyObject* o)
    bint _is_tuple "PyTuple_Check"(PyObject* o)
    bint _is_list "PyList_Check"(PyObject* o)
    Py_ssize_t _tuple_size "PyTuple_GET_SIZE"(PyObject* o)
    PyObject* _tuple_item "PyTuple_GET_ITEM"(PyObject* o, Py_ssize_t i)
    Py_ssize_t _list_size "PyList_GET_SIZE"(PyObject* o)
    PyObject* _list_item "PyList_GET_ITEM"(PyObject* o, Py_ssize_t i)
    void _list_set "PyList_SET_ITEM"(object lst, Py_ssize_t i, PyObject* o)
    Py_ssize_t _str_len "PyUnicode_GET_LENGTH"(PyObject* o)
    unsigned int _str_kind "PyUnicode_KIND"(PyObject* o)
    void* _str_data "PyUnicode_DATA"(PyObject* o)
    int _KIND1 "PyUnicode_1BYTE_KIND"
    PyObject* _new_int "PyLong_FromLongLong"(long long v)
    object _str_from_ascii "PyUnicode_FromStringAndSize"(const char* s, Py_ssize_t n)

cdef extern from *:
    """
    #include <stdint.h>
    #include <stdlib.h>
    #include <string.h>
    #if defined(__unix__) || defined(__APPLE__)
    #include <sys/mman.h>
    #define CP_MMAP 1
    #else
    #define CP_MMAP 0
    #endif

    /* Arrays of 1 MiB or more (the trie's and the build's temporaries) are mmap'd on their
       own: with malloc, glibc serves them from the heap after its mmap threshold adapts, and
       freed build buffers below the live trie can never be returned to the OS (this added
       ~20 MB of resident memory at 1M prefixes). A 64-byte header records how to free. */
    #define CP_HDR 64
    #define CP_BIG ((size_t)1 << 20)
    static void *cp_alloc(size_t size) {
        size_t total = size + CP_HDR;
        unsigned char *p;
    #if CP_MMAP
        if (total >= CP_BIG) {
            p = (unsigned char *)mmap(NULL, total, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == (unsigned char *)MAP_FAILED) return NULL;
            memcpy(p, &total, sizeof total);
            return p + CP_HDR;
        }
    #endif
        p = (unsigned char *)malloc(total);
        if (p == NULL) return NULL;
        total = 0;  /* 0 = from malloc */
        memcpy(p, &total, sizeof total);
        return p + CP_HDR;
    }

    static void cp_free(void *q) {
        unsigned char *p;
        size_t total;
        if (q == NULL) return;
        p = (unsigned char *)q - CP_HDR;
        memcpy(&total, p, sizeof total);
    #if CP_MMAP
        if (total) { munmap(p, total); return; }
    #endif
        free(p);
    }

    typedef struct { uint64_t bits; uint32_t child_base; uint32_t value_base; } cp_block;

    #define CP_MAX_DIGITS 32
    #define CP_PER_BLOCK 5
    #define CP_VALUE_SHIFT 50
    #define CP_NO_VALUE 0xFFFFFFFFu
    #define CP_MAX_VALUE 0xFFFFFFFEu
    #define CP_MAX_NODES 0xFFFFFFFFull

    /* Maps an input byte to its digit 0-9, everything else to 0xFF (filled by cp_init). */
    static uint8_t cp_digit[256];

    #if defined(__GNUC__) || defined(__clang__)
    #define CP_INLINE static inline __attribute__((always_inline))
    #define CP_POPCOUNT(x) ((uint32_t)__builtin_popcountll(x))
    #define CP_PREFETCH(p) __builtin_prefetch(p)
    #define CP_CLZ64(x) __builtin_clzll(x)
    #else
    #define CP_INLINE static inline
    static inline uint32_t cp_popcount_swar(uint64_t x) {
        x = x - ((x >> 1) & 0x5555555555555555ULL);
        x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
        x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
        return (uint32_t)((x * 0x0101010101010101ULL) >> 56);
    }
    #define CP_POPCOUNT(x) cp_popcount_swar(x)
    #define CP_PREFETCH(p) ((void)0)
    static inline int cp_clz64_loop(uint64_t x) {
        int n = 0;
        while (!(x & 0x8000000000000000ULL)) { x <<= 1; n++; }
        return n;
    }
    #define CP_CLZ64(x) cp_clz64_loop(x)
    #endif

    /* Longest-prefix walk. Returns the value or -1; *out_len gets the match length or -1.
       Every byte is checked, also past the point where the walk stops: one bad byte -> -1. */
    CP_INLINE int64_t cp_find_body(const cp_block *blocks, const uint32_t *values,
                                   const uint8_t *s, Py_ssize_t n, Py_ssize_t *out_len) {
        uint32_t node = 0, best = 0;
        Py_ssize_t i = 0, best_len = -1;
        if (n > CP_MAX_DIGITS) { *out_len = -1; return -1; }
        for (;;) {
            const cp_block *b = blocks + node / CP_PER_BLOCK;
            uint32_t j = node % CP_PER_BLOCK;
            uint64_t w = b->bits;
            if ((w >> (CP_VALUE_SHIFT + j)) & 1u) {
                best = b->value_base
                       + CP_POPCOUNT((w >> CP_VALUE_SHIFT) & ((1u << j) - 1u));
                best_len = i;
                /* The value is read after the walk: start its cache miss now, so it overlaps
                   with the misses of the deeper levels. */
                CP_PREFETCH(values + best);
            }
            if (i == n) break;
            uint32_t d = cp_digit[s[i]];
            if (d > 9) { *out_len = -1; return -1; }
            uint32_t bit = 10u * j + d;
            i++;
            if (!((w >> bit) & 1u)) {
                for (; i < n; i++) {
                    if (cp_digit[s[i]] > 9) { *out_len = -1; return -1; }
                }
                break;
            }
            node = b->child_base + CP_POPCOUNT(w & ((1ULL << bit) - 1u));
        }
        *out_len = best_len;
        return best_len < 0 ? -1 : (int64_t)values[best];
    }

    /* Batch walk: CP_LANES lookups advance in lockstep, one level per round, and each lane
       prefetches its next block. On a trie larger than the cache the lanes' misses overlap
       instead of queueing one after another. Same answers as cp_find_body, per lane.
       lens[k] < 0 marks an input already known not to match. */
    #define CP_LANES 8
    CP_INLINE void cp_find_many_body(const cp_block *blocks, const uint32_t *values,
                                     const uint8_t *const *strs, const Py_ssize_t *lens,
                                     int64_t *out, Py_ssize_t count) {
        Py_ssize_t base, k;
        for (base = 0; base < count; base += CP_LANES) {
            uint32_t node[CP_LANES], best[CP_LANES];
            Py_ssize_t pos[CP_LANES], best_len[CP_LANES];
            int live[CP_LANES], active = 0;
            int lanes = (int)(count - base < CP_LANES ? count - base : CP_LANES);
            for (k = 0; k < lanes; k++) {
                Py_ssize_t n = lens[base + k];
                node[k] = 0; best[k] = 0; pos[k] = 0; best_len[k] = -1;
                live[k] = n >= 0 && n <= CP_MAX_DIGITS;
                active += live[k];
                out[base + k] = -1;
            }
            while (active) {
                for (k = 0; k < lanes; k++) {
                    if (!live[k]) continue;
                    const uint8_t *s = strs[base + k];
                    Py_ssize_t n = lens[base + k], i = pos[k];
                    const cp_block *b = blocks + node[k] / CP_PER_BLOCK;
                    uint32_t j = node[k] % CP_PER_BLOCK;
                    uint64_t w = b->bits;
                    if ((w >> (CP_VALUE_SHIFT + j)) & 1u) {
                        best[k] = b->value_base
                                  + CP_POPCOUNT((w >> CP_VALUE_SHIFT) & ((1u << j) - 1u));
                        best_len[k] = i;
                        CP_PREFETCH(values + best[k]);
                    }
                    int finished = 0, bad = 0;
                    if (i == n) {
                        finished = 1;
                    } else {
                        uint32_t d = cp_digit[s[i]];
                        if (d > 9) {
                            bad = 1;
                        } else {
                            uint32_t bit = 10u * j + d;
                            i++;
                            if (!((w >> bit) & 1u)) {
                                for (; i < n; i++) if (cp_digit[s[i]] > 9) { bad = 1; break; }
                                finished = 1;
                            } else {
                                node[k] = b->child_base + CP_POPCOUNT(w & ((1ULL << bit) - 1u));
                                pos[k] = i;
                                CP_PREFETCH(blocks + node[k] / CP_PER_BLOCK);
                            }
                        }
                    }
                    if (bad || finished) {
                        live[k] = 0;
                        active--;
                        if (!bad && best_len[k] >= 0) out[base + k] = (int64_t)values[best[k]];
                    }
                }
            }
        }
    }

    /* x86-64's baseline ISA lacks POPCNT, so -O3 alone emits a libgcc call per popcount:
       compile a POPCNT variant too and pick it once at import if the CPU has the instruction. */
    static int64_t cp_find_generic(const cp_block *blocks, const uint32_t *values,
                                   const uint8_t *s, Py_ssize_t n, Py_ssize_t *out_len) {
        return cp_find_body(blocks, values, s, n, out_len);
    }
    static void cp_find_many_generic(const cp_block *blocks, const uint32_t *values,
                                     const uint8_t *const *strs, const Py_ssize_t *lens,
                                     int64_t *out, Py_ssize_t count) {
        cp_find_many_body(blocks, values, strs, lens, out, count);
    }
    #if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(__POPCNT__)
    #define CP_DISPATCH 1
    __attribute__((target("popcnt")))
    static int64_t cp_find_popcnt(const cp_block *blocks, const uint32_t *values,
                                  const uint8_t *s, Py_ssize_t n, Py_ssize_t *out_len) {
        return cp_find_body(blocks, values, s, n, out_len);
    }
    __attribute__((target("popcnt")))
    static void cp_find_many_popcnt(const cp_block *blocks, const uint32_t *values,
                                    const uint8_t *const *strs, const Py_ssize_t *lens,
                                    int64_t *out, Py_ssize_t count) {
        cp_find_many_body(blocks, values, strs, lens, out, count);
    }
    #else
    #define CP_DISPATCH 0
    #endif

    static int64_t (*cp_find)(const cp_block *, const uint32_t *, const uint8_t *, Py_ssize_t,
                              Py_ssize_t *) = cp_find_generic;
    static void (*cp_find_many)(const cp_block *, const uint32_t *, const uint8_t *const *,
                                const Py_ssize_t *, int64_t *, Py_ssize_t) = cp_find_many_generic;

    /* Returns 1 if the POPCNT variant was selected. */
    static int cp_init(void) {
        int c;
        memset(cp_digit, 0xFF, sizeof cp_digit);
        for (c = 0; c < 10; c++) cp_digit['0' + c] = (uint8_t)c;
    #if CP_DISPATCH
        __builtin_cpu_init();
        if (__builtin_cpu_supports("popcnt")) {
            cp_find = cp_find_popcnt;
            cp_find_many = cp_find_many_popcnt;
            return 1;
        }
    #endif
        return 0;
    }

    static inline uint32_t cp_popcount(uint64_t x) { return CP_POPCOUNT(x); }

    /* Build-time key: digits packed as nibbles d+1 from the top, so comparing (hi, lo) as
       unsigned integers is string order with every prefix before its extensions. */
    typedef struct {
        uint64_t hi, lo;
        uint32_t value, index;
        uint8_t len, lcp;
    } cp_key;

    static inline int cp_key_less(const cp_key *a, const cp_key *b) {
        if (a->hi != b->hi) return a->hi < b->hi;
        if (a->lo != b->lo) return a->lo < b->lo;
        return a->index < b->index;  /* equal keys (duplicates) stay in input order */
    }

    /* Introsort of the keys. Not qsort(): glibc's qsort mallocs an n-sized buffer, which after
       the first large build comes from the heap and stays resident once freed; and an inline
       comparison is faster than a callback. */
    #define CP_SWAP(x, y) do { cp_key t_ = (x); (x) = (y); (y) = t_; } while (0)
    static void cp_sift(cp_key *a, Py_ssize_t root, Py_ssize_t n) {
        cp_key x = a[root];
        for (;;) {
            Py_ssize_t c = 2 * root + 1;
            if (c >= n) break;
            if (c + 1 < n && cp_key_less(&a[c], &a[c + 1])) c++;
            if (!cp_key_less(&x, &a[c])) break;
            a[root] = a[c];
            root = c;
        }
        a[root] = x;
    }
    static void cp_heapsort(cp_key *a, Py_ssize_t n) {
        Py_ssize_t i;
        for (i = n / 2 - 1; i >= 0; i--) cp_sift(a, i, n);
        for (i = n - 1; i > 0; i--) { CP_SWAP(a[0], a[i]); cp_sift(a, 0, i); }
    }
    static void cp_sort_depth(cp_key *a, Py_ssize_t n, int depth) {
        Py_ssize_t i, j, mid, left;
        while (n > 16) {
            if (depth-- <= 0) { cp_heapsort(a, n); return; }
            mid = n / 2;  /* median of three: sorted input is the common case */
            if (cp_key_less(&a[mid], &a[0])) CP_SWAP(a[mid], a[0]);
            if (cp_key_less(&a[n - 1], &a[0])) CP_SWAP(a[n - 1], a[0]);
            if (cp_key_less(&a[n - 1], &a[mid])) CP_SWAP(a[n - 1], a[mid]);
            cp_key p = a[mid];
            i = -1;
            j = n;
            for (;;) {  /* Hoare partition: [0, j] <= p <= [j + 1, n), both non-empty */
                do i++; while (cp_key_less(&a[i], &p));
                do j--; while (cp_key_less(&p, &a[j]));
                if (i >= j) break;
                CP_SWAP(a[i], a[j]);
            }
            left = j + 1;
            if (left < n - left) {  /* recurse into the smaller side: O(log n) stack */
                cp_sort_depth(a, left, depth);
                a += left;
                n -= left;
            } else {
                cp_sort_depth(a + left, n - left, depth);
                n = left;
            }
        }
        for (i = 1; i < n; i++) {  /* insertion sort of the short rest */
            cp_key x = a[i];
            for (j = i; j > 0 && cp_key_less(&x, &a[j - 1]); j--) a[j] = a[j - 1];
            a[j] = x;
        }
    }
    static void cp_sort(cp_key *a, Py_ssize_t n) {
        int depth = 0;
        Py_ssize_t m;
        for (m = n; m > 1; m >>= 1) depth += 2;
        cp_sort_depth(a, n, depth);
    }

    static inline uint32_t cp_key_digit(const cp_key *k, uint32_t pos) {
        uint64_t w = pos < 16 ? k->hi : k->lo;
        return (uint32_t)((w >> (60 - 4 * (pos & 15))) & 0xF) - 1u;
    }

    /* Length of the common prefix of two distinct keys (-1 if equal). */
    static inline int cp_key_lcp(const cp_key *a, const cp_key *b) {
        uint64_t x = a->hi ^ b->hi;
        if (x) return CP_CLZ64(x) / 4;
        x = a->lo ^ b->lo;
        if (x) return 16 + CP_CLZ64(x) / 4;
        return -1;
    }

    /* Little-endian (de)serialisation, so snapshots move between hosts. */
    static inline void cp_put64(unsigned char *p, uint64_t v) {
        for (int k = 0; k < 8; k++) p[k] = (unsigned char)(v >> (8 * k));
    }
    static inline void cp_put32(unsigned char *p, uint32_t v) {
        for (int k = 0; k < 4; k++) p[k] = (unsigned char)(v >> (8 * k));
    }
    static inline uint64_t cp_get64(const unsigned char *p) {
        uint64_t v = 0;
        for (int k = 7; k >= 0; k--) v = (v << 8) | p[k];
        return v;
    }
    static inline uint32_t cp_get32(const unsigned char *p) {
        uint32_t v = 0;
        for (int k = 3; k >= 0; k--) v = (v << 8) | p[k];
        return v;
    }
    """
    ctypedef struct cp_block:
        uint64_t bits
        uint32_t child_base
        uint32_t value_base
    ctypedef struct cp_key:
        uint64_t hi
        uint64_t lo
        uint32_t value
        uint32_t index
        uint8_t len
        uint8_t lcp
    uint8_t cp_digit[256]
    int CP_DISPATCH
    uint32_t CP_NO_VALUE
    uint32_t _MAX_VALUE "CP_MAX_VALUE"
    uint64_t _MAX_NODES "CP_MAX_NODES"
    int64_t cp_find(const cp_block* blocks, const uint32_t* values, const uint8_t* s,
                    Py_ssize_t n, Py_ssize_t* out_len) noexcept nogil
    void cp_find_many(const cp_block* blocks, const uint32_t* values, const uint8_t** strs,
                      const Py_ssize_t* lens, int64_t* out, Py_ssize_t count) noexcept nogil
    int cp_init() noexcept
    void* cp_alloc(size_t size) noexcept nogil
    void cp_free(void* p) noexcept nogil
    uint32_t cp_popcount(uint64_t x) noexcept nogil
    void cp_sort(cp_key* a, Py_ssize_t n) noexcept nogil
    uint32_t cp_key_digit(const cp_key* k, uint32_t pos) noexcept nogil
    int cp_key_lcp(const cp_key* a, const cp_key* b) noexcept nogil
    void cp_put64(unsigned char* p, uint64_t v) noexcept nogil
    void cp_put32(unsigned char* p, uint32_t v) noexcept nogil
    uint64_t cp_get64(const unsigned char* p) noexcept nogil
    uint32_t cp_get32(const unsigned char* p) noexcept nogil

# Compile-time twins of the public constants; checked against _common at import.
cdef enum:
    _CHUNK = 64  # lookup_many hands the C batch walk this many strings at a time
    _MAX_DIGITS = 32
    _PER_BLOCK = 5
    _VALUE_SHIFT = 50

assert MAX_DIGITS == _MAX_DIGITS and MAX_VALUE == _MAX_VALUE and NO_MATCH == -1
assert _snapshot.NODES_PER_BLOCK == _PER_BLOCK

#: True if lookups use the CPU's POPCNT instruction (picked at import).
HAS_POPCNT: bool = bool(cp_init())


cdef inline uint32_t _child_bits(uint64_t w, uint32_t j) noexcept nogil:
    """Child bitmap (10 bits) of node j of a block."""
    return <uint32_t>((w >> (10 * j)) & 0x3FF)


cdef int _level_depths(const cp_block* blocks, Py_ssize_t nodes) noexcept nogil:
    """Deepest level of a structurally valid trie (BFS order: depth grows with node id)."""
    cdef Py_ssize_t node, level_end = 1, next_free = 1
    cdef int depth = 0
    for node in range(nodes):
        if node == level_end:
            depth += 1
            level_end = next_free
        next_free += cp_popcount(
            _child_bits(blocks[node // _PER_BLOCK].bits, <uint32_t>(node % _PER_BLOCK))
        )
    return depth


cdef bint _valid_structure(const cp_block* blocks, const uint32_t* values,
                           Py_ssize_t nodes, Py_ssize_t prefixes) noexcept nogil:
    """Mirror of _snapshot.decode's structural checks; False means decode() will raise."""
    cdef Py_ssize_t nblocks = (nodes + _PER_BLOCK - 1) // _PER_BLOCK
    cdef Py_ssize_t b, node, live, next_free = 1, seen = 0, level_end = 1, i
    cdef uint64_t w, used
    cdef uint32_t j, kids, has_value
    cdef int depth = 0
    for b in range(nblocks):
        w = blocks[b].bits
        live = nodes - _PER_BLOCK * b
        if live > _PER_BLOCK:
            live = _PER_BLOCK
        used = ((1ULL << (10 * live)) - 1) | (((1ULL << live) - 1) << _VALUE_SHIFT)
        if w & ~used:
            return False
        if blocks[b].child_base != next_free or blocks[b].value_base != seen:
            return False
        for j in range(<uint32_t>live):
            node = _PER_BLOCK * b + j
            if node >= next_free:
                return False
            if node == level_end:
                depth += 1
                level_end = next_free
            if depth > _MAX_DIGITS:
                return False
            kids = _child_bits(w, j)
            has_value = (w >> (_VALUE_SHIFT + j)) & 1
            if node and not kids and not has_value:
                return False
            next_free += cp_popcount(kids)
            seen += has_value
    if next_free != nodes or seen != prefixes:
        return False
    for i in range(prefixes):
        if values[i] > _MAX_VALUE:
            return False
    return True


def _from_snapshot(data):
    """Rebuild a PrefixTrie from snapshot bytes (the pickle and load path)."""
    return PrefixTrie._from_bytes(data)


cdef inline object _lookup_one(PrefixTrie t, PyObject* s, Py_ssize_t* mlen):
    """Shared body of lookup/match: validate the argument type, then walk in C."""
    if not _is_str(s):
        raise _common.not_a_str(<object>s)
    if _str_kind(s) != _KIND1:
        # Wider kinds hold a non-Latin-1 character, never a digit string.
        mlen[0] = -1
        return NO_MATCH
    return cp_find(t._blocks, t._values, <const uint8_t*>_str_data(s), _str_len(s), mlen)


@cython.final
cdef class PrefixTrie:
    """Immutable longest-prefix map from decimal digit strings to uint32 values."""

    cdef cp_block* _blocks
    cdef uint32_t* _values
    cdef Py_ssize_t _nodes
    cdef Py_ssize_t _prefixes
    cdef Py_ssize_t _nblocks
    cdef int _max_depth

    def __cinit__(self) -> None:
        self._blocks = NULL
        self._values = NULL

    def __dealloc__(self) -> None:
        cp_free(self._blocks)
        cp_free(self._values)

    def __init__(self) -> None:
        raise TypeError("use PrefixTrie.build(pairs) or PrefixTrie.load(path)")

    cdef int _alloc(self, Py_ssize_t nodes, Py_ssize_t prefixes) except -1:
        """Allocate the arrays for a trie of this size."""
        self._nodes = nodes
        self._prefixes = prefixes
        self._nblocks = (nodes + _PER_BLOCK - 1) // _PER_BLOCK
        # Callers fill every block and value, so no zeroing.
        self._blocks = <cp_block*>cp_alloc(self._nblocks * sizeof(cp_block))
        self._values = <uint32_t*>cp_alloc(prefixes * sizeof(uint32_t))
        if self._blocks == NULL or self._values == NULL:
            raise MemoryError()
        return 0

    @classmethod
    def build(cls, pairs):
        """Build a trie from (prefix, value) pairs; raise TrieError on any bad or duplicate pair."""
        seq = _as_sequence(pairs)
        cdef Py_ssize_t n = PySequence_Fast_GET_SIZE(seq)
        cdef PyObject** items = PySequence_Fast_ITEMS(seq)
        cdef cp_key* keys = <cp_key*>cp_alloc(n * sizeof(cp_key))
        if keys == NULL:
            raise MemoryError()
        cdef PrefixTrie t
        try:
            if not _encode_keys(items, n, keys):
                _raise_input_error(seq)
            with nogil:
                cp_sort(keys, n)
            if not _mark_lcp(keys, n):
                _raise_input_error(seq)
            t = PrefixTrie.__new__(PrefixTrie)
            _assemble(t, keys, n)
        finally:
            cp_free(keys)
        return t

    @classmethod
    def _from_bytes(cls, data):
        """Rebuild from snapshot bytes; raise TrieError if they are not a valid snapshot."""
        cdef bytes raw = bytes(data)
        nodes, prefixes = _snapshot.parse_header(raw)
        cdef PrefixTrie t = PrefixTrie.__new__(PrefixTrie)
        t._alloc(nodes, prefixes)
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(raw)
        cdef Py_ssize_t b, i
        p += _snapshot.HEADER.size
        with nogil:
            for b in range(t._nblocks):
                t._blocks[b].bits = cp_get64(p)
                t._blocks[b].child_base = cp_get32(p + 8)
                t._blocks[b].value_base = cp_get32(p + 12)
                p += 16
            for i in range(t._prefixes):
                t._values[i] = cp_get32(p)
                p += 4
        if not _valid_structure(t._blocks, t._values, t._nodes, t._prefixes):
            _snapshot.decode(raw)  # raises the precise error
            raise AssertionError("snapshot rejected in C but accepted by decode()")
        t._max_depth = _level_depths(t._blocks, t._nodes)
        return t

    @classmethod
    def load(cls, path):
        """Load a snapshot written by save(); raise TrieError if the file is not a valid one."""
        return PrefixTrie._from_bytes(_snapshot.read(path))

    cpdef bytes _dumps(self):
        """Return the snapshot bytes of this trie."""
        cdef Py_ssize_t size = self._nblocks * 16 + self._prefixes * 4
        cdef bytes payload = PyBytes_FromStringAndSize(NULL, size)
        cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(payload)
        cdef Py_ssize_t b, i
        with nogil:
            for b in range(self._nblocks):
                cp_put64(p, self._blocks[b].bits)
                cp_put32(p + 8, self._blocks[b].child_base)
                cp_put32(p + 12, self._blocks[b].value_base)
                p += 16
            for i in range(self._prefixes):
                cp_put32(p, self._values[i])
                p += 4
        return _snapshot.pack_header(self._nodes, self._prefixes, payload) + payload

    def save(self, path) -> None:
        """Write a snapshot atomically (temp file + rename), so readers never see half a file."""
        _snapshot.write_atomic(path, self._dumps())

    def lookup(self, digits):
        """Value of the longest stored prefix of digits, or NO_MATCH."""
        cdef Py_ssize_t mlen = -1
        return _lookup_one(self, <PyObject*>digits, &mlen)

    def match(self, digits):
        """(value, length of the matched prefix), or (NO_MATCH, -1)."""
        cdef Py_ssize_t mlen = -1
        value = _lookup_one(self, <PyObject*>digits, &mlen)
        return (value, mlen)

    def lookup_many(self, numbers):
        """lookup() for each item of a sequence, as a list."""
        seq = _as_sequence(numbers)
        cdef Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), start, k, m
        cdef PyObject** items = PySequence_Fast_ITEMS(seq)
        cdef PyObject* s
        cdef PyObject* v
        cdef const uint8_t* strs[_CHUNK]
        cdef Py_ssize_t lens[_CHUNK]
        cdef int64_t res[_CHUNK]
        out = PyList_New(n)
        # No Python code can run inside these loops (ints are not GC-tracked), so the borrowed
        # item pointers and the str buffers stay valid.
        for start in range(0, n, _CHUNK):
            m = min(_CHUNK, n - start)
            for k in range(m):
                s = items[start + k]
                if not _is_str(s):
                    raise _common.not_a_str(<object>s)
                if _str_kind(s) == _KIND1:
                    strs[k] = <const uint8_t*>_str_data(s)
                    lens[k] = _str_len(s)
                else:
                    strs[k] = NULL
                    lens[k] = -1
            cp_find_many(self._blocks, self._values, strs, lens, res, m)
            for k in range(m):
                v = _new_int(res[k])
                if v == NULL:
                    raise MemoryError()
                _list_set(out, start + k, v)
        return out

    def items(self):
        """All (prefix, value) pairs, sorted by prefix."""
        out = []
        cdef char buf[_MAX_DIGITS + 1]
        if self._nodes:
            self._walk(0, 0, buf, out)
        return out

    cdef int _walk(self, uint32_t node, int depth, char* buf, list out) except -1:
        """Pre-order walk in digit order, which is exactly sorted string order."""
        cdef const cp_block* b = &self._blocks[node // _PER_BLOCK]
        cdef uint32_t j = node % _PER_BLOCK, d
        cdef uint64_t w = b.bits
        cdef uint32_t vi, child
        if (w >> (_VALUE_SHIFT + j)) & 1:
            vi = b.value_base + cp_popcount((w >> _VALUE_SHIFT) & ((1U << j) - 1))
            out.append((_str_from_ascii(buf, depth), self._values[vi]))
        child = b.child_base + cp_popcount(w & ((1ULL << (10 * j)) - 1))
        for d in range(10):
            if (w >> (10 * j + d)) & 1:
                buf[depth] = <char>(48 + d)
                self._walk(child, depth + 1, buf, out)
                child += 1
        return 0

    def stats(self):
        """Sizes of the layout: prefixes, nodes, blocks, bytes of the arrays, max depth."""
        return {
            "prefixes": self._prefixes,
            "nodes": self._nodes,
            "blocks": self._nblocks,
            "bytes": self._nblocks * sizeof(cp_block) + self._prefixes * sizeof(uint32_t),
            "max_depth": self._max_depth,
        }

    def __len__(self):
        return self._prefixes

    def __repr__(self):
        return f"PrefixTrie(prefixes={self._prefixes}, nodes={self._nodes})"

    def __reduce__(self):
        # Pickling goes through the snapshot bytes, so it is validated like a file load.
        return (_from_snapshot, (self._dumps(),))

    def __copy__(self):
        return self  # immutable: a copy would be indistinguishable

    def __deepcopy__(self, memo):
        return self


cdef object _as_sequence(object obj):
    """obj itself if it is a list or tuple, else list(obj), or TrieError if it is not iterable."""
    if isinstance(obj, (list, tuple)):
        return obj
    return _common.as_list(obj)


cdef void _raise_input_error(object seq) except *:
    """Let the shared Python validator raise the precise message for the first bad pair."""
    _common.check_pairs(seq)
    raise AssertionError("input rejected in C but accepted by check_pairs()")


cdef bint _encode_keys(PyObject** items, Py_ssize_t n, cp_key* keys) except -1:
    """Validate and pack every pair; False at the first fault (the message comes from Python)."""
    cdef Py_ssize_t i, k, length
    cdef PyObject* pair
    cdef PyObject* prefix
    cdef PyObject* value
    cdef const uint8_t* data
    cdef uint32_t d
    cdef uint64_t hi, lo
    cdef long long v
    cdef int overflow = 0
    for i in range(n):
        pair = items[i]
        if _is_tuple(pair) and _tuple_size(pair) == 2:
            prefix = _tuple_item(pair, 0)
            value = _tuple_item(pair, 1)
        elif _is_list(pair) and _list_size(pair) == 2:
            prefix = _list_item(pair, 0)
            value = _list_item(pair, 1)
        else:
            return False
        if not _is_str(prefix) or _str_kind(prefix) != _KIND1:
            return False
        length = _str_len(prefix)
        if length > _MAX_DIGITS:
            return False
        data = <const uint8_t*>_str_data(prefix)
        hi = 0
        lo = 0
        for k in range(length):
            d = cp_digit[data[k]]
            if d > 9:
                return False
            if k < 16:
                hi |= (<uint64_t>(d + 1)) << (60 - 4 * k)
            else:
                lo |= (<uint64_t>(d + 1)) << (60 - 4 * (k - 16))
        if not _is_int(value) or _is_bool(value):
            return False
        v = PyLong_AsLongLongAndOverflow(<object>value, &overflow)
        if overflow or v < 0 or v > _MAX_VALUE:
            return False
        keys[i].hi = hi
        keys[i].lo = lo
        keys[i].value = <uint32_t>v
        keys[i].index = <uint32_t>i
        keys[i].len = <uint8_t>length
    return True


cdef bint _mark_lcp(cp_key* keys, Py_ssize_t n) noexcept nogil:
    """Store each sorted key's common-prefix length with its predecessor; False on a duplicate."""
    cdef Py_ssize_t i
    cdef int lcp
    if n:
        keys[0].lcp = 0
    for i in range(1, n):
        lcp = cp_key_lcp(&keys[i - 1], &keys[i])
        if lcp < 0:
            return False
        # Nibble 0 pads past the end, so the lcp never exceeds the shorter key's length.
        keys[i].lcp = <uint8_t>lcp
    return True


cdef int _assemble(PrefixTrie t, const cp_key* keys, Py_ssize_t n) except -1:
    """Lay out the trie of sorted, unique keys in BFS order, in two passes over the keys."""
    cdef Py_ssize_t counts[_MAX_DIGITS + 2]
    cdef Py_ssize_t cursor[_MAX_DIGITS + 2]
    cdef Py_ssize_t i, total = 1, node, parent, b
    cdef int depth, max_depth = 0
    cdef uint32_t j, children = 0, seen = 0
    cdef uint64_t w
    cdef const cp_key* k
    for depth in range(_MAX_DIGITS + 2):
        counts[depth] = 0
    # Pass 1: each key adds one node per depth beyond its common prefix with its predecessor.
    for i in range(n):
        k = &keys[i]
        for depth in range(k.lcp + 1, k.len + 1):
            counts[depth] += 1
        total += k.len - k.lcp
        if k.len > max_depth:
            max_depth = k.len
    if total > _MAX_NODES:
        raise TrieError(f"{total} trie nodes, expected at most {_MAX_NODES}")
    # BFS ids: depth d's nodes follow all shallower ones; within a depth, key order is BFS order.
    cursor[0] = 1  # cursor[d] - 1 is the newest node at depth d; the root is node 0
    node = 1
    for depth in range(1, _MAX_DIGITS + 1):
        cursor[depth] = node
        node += counts[depth]
    cdef uint16_t* kids = <uint16_t*>cp_alloc(total * sizeof(uint16_t))
    cdef uint32_t* vals = <uint32_t*>cp_alloc(total * sizeof(uint32_t))
    if kids == NULL or vals == NULL:
        cp_free(kids)
        cp_free(vals)
        raise MemoryError()
    memset(kids, 0, total * sizeof(uint16_t))
    try:
        t._alloc(total, n)
        t._max_depth = max_depth
        with nogil:
            for i in range(total):
                vals[i] = CP_NO_VALUE
            # Pass 2: a new node's parent is the newest node one level up (keys are sorted).
            for i in range(n):
                k = &keys[i]
                for depth in range(k.lcp + 1, k.len + 1):
                    node = cursor[depth]
                    cursor[depth] += 1
                    parent = cursor[depth - 1] - 1
                    kids[parent] |= <uint16_t>(1 << cp_key_digit(k, depth - 1))
                vals[cursor[k.len] - 1] = k.value
            # Pack five nodes per block; bases are running totals of child and value bits.
            for b in range(t._nblocks):
                w = 0
                t._blocks[b].child_base = 1 + children
                t._blocks[b].value_base = seen
                for j in range(_PER_BLOCK):
                    node = _PER_BLOCK * b + j
                    if node >= total:
                        break
                    w |= (<uint64_t>kids[node]) << (10 * j)
                    children += cp_popcount(kids[node])
                    if vals[node] != CP_NO_VALUE:
                        w |= 1ULL << (_VALUE_SHIFT + j)
                        t._values[seen] = vals[node]
                        seen += 1
                t._blocks[b].bits = w
    finally:
        cp_free(kids)
        cp_free(vals)
    return 0
