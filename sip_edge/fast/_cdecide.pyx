# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The per-call decision in C (decide.c): the snapshot and accounts as C data, and a wrapper.

``CRules.build(snapshot)`` copies what decide() reads of a Snapshot (the trie's blocks and
values, each class's digit bounds and carrier, each table row's verdict) into C arrays;
``CAccount.build(rules, compiled_account)`` does the same for a CompiledAccount (area
code, suspended, blocked and lifted classes as bitsets, the blocked-prefix trie). Both are
immutable: a rules reload builds new ones, and the old ones stay valid for as long as
anyone holds them (an account holds its rules).

``rules.decide(account, dial)`` is for tests and benchmarks; C callers take the structs
(``_cdecide.pxd``) and call ``cp_decide`` themselves, without Python objects.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.pycapsule cimport PyCapsule_New
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec


cdef extern from "<time.h>" nogil:
    enum: CLOCK_THREAD_CPUTIME_ID

FALLBACK = CP_FALLBACK
ALLOW = CP_ALLOW
REFUSE = CP_REFUSE
EMERGENCY = CP_EMERGENCY
ERRORS = CP_ERRORS

# The function itself, for a C module that does not compile decide.c in: its pointer.
CP_DECIDE = PyCapsule_New(<void*>cp_decide, b"sip_edge.fast._cdecide.cp_decide", NULL)

_VERDICTS = {"allow": CP_ALLOW, "block": CP_REFUSE, "reject": CP_REFUSE, "emergency": CP_EMERGENCY}

# A class's digit bounds are compared with a length of 0..15: clamping them to this range
# keeps every comparison's outcome and fits them in int32.
_LOW, _HIGH = -1, 99


def uses_popcnt():
    """Whether the lookups run the POPCNT build (chosen when the library loads)."""
    return bool(cp_uses_popcnt())


cdef inline uint64_t _le64(const uint8_t* p) noexcept nogil:
    cdef uint64_t v = 0
    cdef int k
    for k in range(7, -1, -1):
        v = (v << 8) | p[k]
    return v


cdef inline uint32_t _le32(const uint8_t* p) noexcept nogil:
    return <uint32_t>p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef int _load_trie(
    bytes data, cp_trie* t, cp_trie_block** blocks, uint32_t** values
) except -1:
    """Copy a PrefixTrie's snapshot bytes (compiled/README.md) into C arrays.

    The bytes come from a live PrefixTrie, which checked the structure when it was built
    or loaded; only the sizes are checked again here (and cp_decide bounds-checks indexes).
    """
    cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
    cdef uint64_t nodes, nvalues, nblocks, i
    if size < 32 or memcmp(p, b"CPTRIE\r\n", 8) != 0 or _le32(p + 8) != 1:
        raise ValueError("not a version 1 trie snapshot")
    nodes = _le64(p + 16)
    nvalues = _le64(p + 24)
    nblocks = (nodes + 4) // 5
    if not (1 <= nodes <= 0xFFFFFFFF and nvalues <= nodes):
        raise ValueError(f"trie snapshot: bad counts nodes={nodes} values={nvalues}")
    if <uint64_t>size != 32 + 16 * nblocks + 4 * nvalues:
        raise ValueError(f"trie snapshot: {size} bytes for {nodes} nodes, {nvalues} values")
    blocks[0] = <cp_trie_block*>calloc(nblocks, sizeof(cp_trie_block))
    values[0] = <uint32_t*>calloc(nvalues + 1, sizeof(uint32_t))
    if blocks[0] == NULL or values[0] == NULL:
        raise MemoryError()
    for i in range(nblocks):
        blocks[0][i].bits = _le64(p + 32 + 16 * i)
        blocks[0][i].child_base = _le32(p + 40 + 16 * i)
        blocks[0][i].value_base = _le32(p + 44 + 16 * i)
    p += 32 + 16 * nblocks
    for i in range(nvalues):
        values[0][i] = _le32(p + 4 * i)
    t.blocks = blocks[0]
    t.values = values[0]
    t.nblocks = <uint32_t>nblocks
    t.nvalues = <uint32_t>nvalues
    return 0


cdef class CRules:
    """What decide() reads of one Snapshot, as C arrays: build with ``CRules.build``."""

    def __cinit__(self):
        self._blocks = NULL
        self._values = NULL
        self._classes = NULL
        self._verdicts = NULL

    def __init__(self):
        raise TypeError("use CRules.build(snapshot)")

    def __dealloc__(self):
        free(self._blocks)
        free(self._values)
        free(self._classes)
        free(self._verdicts)

    @classmethod
    def build(cls, snapshot):
        """Copy ``snapshot``'s trie, classes and table verdicts (raises ValueError)."""
        cdef CRules self = cls.__new__(cls)
        cdef Py_ssize_t n = len(snapshot.classes), i
        cdef uint32_t k
        table = snapshot.table
        if n == 0 or len(table) != n * CP_COMBOS or n * CP_COMBOS + CP_ERRORS >= 2**31:
            raise ValueError(f"{n} classes and {len(table)} table rows do not fit")
        _load_trie(snapshot.trie._dumps(), &self.c.trie, &self._blocks, &self._values)
        for k in range(self.c.trie.nvalues):
            if self._values[k] >= <uint64_t>n:
                raise ValueError(f"trie value {self._values[k]} is no class id (< {n})")
        carriers = tuple(snapshot.carriers)
        index = {cid: i for i, cid in enumerate(carriers)}
        self._classes = <cp_class*>calloc(n, sizeof(cp_class))
        self._verdicts = <uint8_t*>calloc(n * CP_COMBOS + CP_ERRORS, 1)
        if self._classes == NULL or self._verdicts == NULL:
            raise MemoryError()
        for i, c in enumerate(snapshot.classes):
            self._classes[i].min_digits = min(max(c.min_digits, _LOW), _HIGH)
            self._classes[i].max_digits = min(max(c.max_digits, _LOW), _HIGH)
            self._classes[i].carrier = index.get(c.carrier, -1)
        for i, t in enumerate(table):
            self._verdicts[i] = _VERDICTS.get(t.verdict, CP_FALLBACK)
        for i in range(CP_ERRORS):
            self._verdicts[n * CP_COMBOS + i] = CP_REFUSE
        self.c.classes = self._classes
        self.c.row_verdict = self._verdicts
        self.c.nclasses = <uint32_t>n
        self.c.ntable = <uint32_t>(n * CP_COMBOS)
        self.c.nrows = <uint32_t>(n * CP_COMBOS + CP_ERRORS)
        self.revision = snapshot.revision
        self.carriers = carriers
        return self

    @property
    def rows(self):
        """Row ids are 0..rows-1: the table's, then the ERRORS number-error rows."""
        return self.c.nrows

    @property
    def table_rows(self):
        """Rows of the snapshot's table; row table_rows + k is the k-th number error."""
        return self.c.ntable

    def decide(self, CAccount account not None, bytes dial not None):
        """(verdict, row, carrier index, digits), or None: Python must decide."""
        cdef cp_decision out
        cdef int verdict = cp_decide(
            &self.c, &account.c, PyBytes_AS_STRING(dial), PyBytes_GET_SIZE(dial), &out
        )
        if verdict == CP_FALLBACK:
            return None
        return (verdict, out.row, out.carrier, out.digits[:out.ndigits].decode("ascii"))

    def bench(self, CAccount account not None, bytes dial not None, long n, bint cpu_time=False):
        """Nanoseconds per cp_decide() over ``n`` calls in a C loop (no Python per call).

        ``cpu_time``: the thread's CPU time instead of wall time, so that time the thread
        spends preempted on a busy machine is not counted (time.thread_time's clock).
        """
        cdef cp_decision out
        cdef timespec t0, t1
        cdef int clock = CLOCK_THREAD_CPUTIME_ID if cpu_time else CLOCK_MONOTONIC
        cdef const char* s = PyBytes_AS_STRING(dial)
        cdef size_t length = <size_t>PyBytes_GET_SIZE(dial)
        cdef long i
        cdef uint64_t sink = 0
        if n <= 0:
            raise ValueError("n must be positive")
        with nogil:
            clock_gettime(clock, &t0)
            for i in range(n):
                sink += <uint64_t>cp_decide(&self.c, &account.c, s, length, &out) + out.row
            clock_gettime(clock, &t1)
        if sink == 0xFFFFFFFFFFFFFFFF:  # keeps the loop's results alive
            return -1.0
        return ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n


cdef class CAccount:
    """One CompiledAccount for one CRules, as C data: build with ``CAccount.build``."""

    def __cinit__(self):
        self._prefix_blocks = NULL
        self._prefix_values = NULL
        self._blocked = NULL
        self._lifted = NULL

    def __init__(self):
        raise TypeError("use CAccount.build(rules, compiled_account)")

    def __dealloc__(self):
        free(self._prefix_blocks)
        free(self._prefix_values)
        free(self._blocked)
        free(self._lifted)

    @classmethod
    def build(cls, CRules rules not None, compiled):
        """Copy a CompiledAccount compiled against the snapshot of ``rules``."""
        cdef CAccount self = cls.__new__(cls)
        cdef uint32_t n = rules.c.nclasses
        cdef size_t words = (n + 63) // 64
        if n == 0:
            raise ValueError("rules not built")
        if compiled.revision != rules.revision:
            raise ValueError(
                f"account {compiled.account!r} was compiled for rules {compiled.revision[:12]},"
                f" not {rules.revision[:12]}"
            )
        self._blocked = <uint64_t*>calloc(words, sizeof(uint64_t))
        self._lifted = <uint64_t*>calloc(words, sizeof(uint64_t))
        if self._blocked == NULL or self._lifted == NULL:
            raise MemoryError()
        _set_bits(self._blocked, n, compiled.blocked_classes)
        _set_bits(self._lifted, n, compiled.lifted_classes)
        prefixes = compiled.blocked_prefixes
        if prefixes is not None:
            _load_trie(
                prefixes._dumps(), &self._prefix_trie, &self._prefix_blocks, &self._prefix_values
            )
            self.c.prefixes = &self._prefix_trie
        else:
            self.c.prefixes = NULL
        _set_area(&self.c, compiled.area_code)
        self.c.suspended = 1 if compiled.suspended else 0
        self.c.blocked = self._blocked
        self.c.lifted = self._lifted
        self.c.rules = &rules.c
        self.rules = rules
        self.account = compiled.account
        return self


cdef int _set_bits(uint64_t* bits, uint32_t n, ids) except -1:
    cdef long i
    for cls in ids:
        i = cls
        if not 0 <= i < n:
            raise ValueError(f"class id {i} is not a class of the rules (< {n})")
        bits[i >> 6] |= (<uint64_t>1) << (i & 63)
    return 0


cdef int _set_area(cp_account* a, str area_code) except -1:
    """numbers._area(): the code without trunk 0, if it is a German area code."""
    cdef Py_ssize_t k, m
    a.area_len = 0
    if not area_code:
        a.area_state = CP_AREA_NONE
        return 0
    code = area_code[1:] if area_code[0] == "0" else area_code
    if not (2 <= len(code) <= 5 and code.isascii() and code.isdigit() and code[0] not in "01"):
        a.area_state = CP_AREA_BAD  # decide() raises ValueError for a local number
        return 0
    raw = code.encode("ascii")
    m = min(len(raw), 5)  # 2-5 (checked above); the bound is for the compiler
    for k in range(m):
        a.area[k] = raw[k]
    a.area_len = <uint8_t>m
    a.area_state = CP_AREA_OK
    return 0
