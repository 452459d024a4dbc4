# Included by _plane.pyx (one extension: the plane's C and this table share symbols).

from sip_edge.core.admission import Hold

cdef extern from "fifo.h":
    ctypedef struct cp_node:
        cp_node* newer
    ctypedef struct cp_fifo:
        cp_node* oldest
        size_t count


cdef extern from "admission.h":
    ctypedef struct cp_site:
        size_t n
        char* name
    ctypedef struct cp_hold:
        unsigned long long serial
        long long bps
        double until
        cp_site* site
        size_t call_n, tag_n
        char* key
    ctypedef struct cp_admission:
        cp_fifo holds
        unsigned long long evicted, expired
    int cp_admission_init(cp_admission* a, size_t max_calls)
    void cp_admission_free(cp_admission* a)
    long long cp_admission_used(const cp_admission* a, const char* site, size_t n)
    int cp_admission_take(cp_admission* a, const char* site, size_t sn, long long capacity,
                          long long bps, const char* call_id, size_t cn, const char* tag,
                          size_t tn, double now, double until, int force,
                          unsigned long long* serial)
    int cp_admission_release(cp_admission* a, const char* call_id, size_t cn, const char* tag,
                             size_t tn, unsigned long long serial)
    const cp_hold* cp_admission_find(const cp_admission* a, const char* call_id, size_t cn,
                                     const char* tag, size_t tn)
    void cp_admission_expire(cp_admission* a, double now)


cdef class CAdmission:
    """``sip_edge.core.admission.SiteAdmission`` in C tables: the same methods, the same holds.

    The plane ends a call's hold itself when it relays the BYE, so the table is shared
    and guarded by the lock of the ``CLimits`` given (the plane takes that one lock for
    everything the two sides share)."""

    cdef cp_admission table
    cdef CLimits limits
    cdef object stats
    cdef readonly size_t max_calls

    def __cinit__(self, CLimits limits, stats, size_t max_calls=200_000):
        if cp_admission_init(&self.table, max_calls) < 0:
            raise MemoryError()
        self.limits = limits
        self.stats = stats
        self.max_calls = max_calls

    def __dealloc__(self):
        cp_admission_free(&self.table)

    cdef inline void _lock(self) noexcept:
        pthread_mutex_lock(&self.limits.table.lock)

    cdef inline void _unlock(self) noexcept:
        pthread_mutex_unlock(&self.limits.table.lock)

    cdef void _count(self) noexcept:
        # The C counts into the core's stats (called with the lock held).
        if self.table.evicted:
            self.stats["site_hold_evicted"] += self.table.evicted
            self.table.evicted = 0
        if self.table.expired:
            self.stats["site_hold_expired"] += self.table.expired
            self.table.expired = 0

    def __len__(self) -> int:
        return self.table.holds.count

    def used(self, str site) -> int:
        cdef bytes s = site.encode("utf-8")
        self._lock()
        cdef long long v = cp_admission_used(&self.table, s, len(s))
        self._unlock()
        return v

    cdef tuple _hold_of(self, const cp_hold* e):
        cid = PyBytes_FromStringAndSize(e.key, e.call_n).decode("latin-1")
        tag = PyBytes_FromStringAndSize(e.key + e.call_n, e.tag_n).decode("latin-1")
        site = PyBytes_FromStringAndSize(e.site.name, e.site.n).decode("utf-8")
        return (cid, tag), site, e.bps, e.until, e.serial

    def holds(self) -> dict:
        """Every hold: key -> (site, bit/s, until), in the order taken."""
        cdef dict out = {}
        cdef const cp_node* n
        self._lock()
        try:
            n = self.table.holds.oldest
            while n != NULL:  # a cp_hold starts with its node
                key, site, bps, until, _ = self._hold_of(<const cp_hold*>n)
                out[key] = (site, bps, until)
                n = n.newer
        finally:
            self._unlock()
        return out

    def take(self, str site, capacity, long long bps, tuple key, double now, double until,
             bint force=False):
        """SiteAdmission.take."""
        cdef bytes s = site.encode("utf-8"), c = _wire(key[0]), t = _wire(key[1])
        cdef unsigned long long serial = 0
        cdef long long cap = -1 if capacity is None else <long long>capacity
        cdef int got
        self._lock()
        got = cp_admission_take(&self.table, s, len(s), cap, bps, c, len(c), t, len(t), now,
                                until, force, &serial)
        self._count()
        self._unlock()
        if got < 0:
            raise MemoryError()
        return Hold(key, site, bps, until, serial) if got else None

    def release(self, hold) -> bool:
        """SiteAdmission.release: False if it no longer counted."""
        cdef bytes c = _wire(hold.key[0]), t = _wire(hold.key[1])
        self._lock()
        cdef int done = cp_admission_release(&self.table, c, len(c), t, len(t), hold.serial)
        self._unlock()
        return bool(done)

    def ended(self, str call_id, tuple tags):
        """SiteAdmission.ended: the hold released, None if none."""
        cdef bytes c = _wire(call_id), t
        cdef const cp_hold* e
        self._lock()
        try:
            for tag in tags:
                t = _wire(tag)
                e = cp_admission_find(&self.table, c, len(c), t, len(t))
                if e != NULL:
                    key, site, bps, until, serial = self._hold_of(e)
                    cp_admission_release(&self.table, c, len(c), t, len(t), serial)
                    return Hold(key, site, bps, until, serial)
            return None
        finally:
            self._unlock()

    def expire(self, double now):
        """SiteAdmission.expire."""
        self._lock()
        cp_admission_expire(&self.table, now)
        self._count()
        self._unlock()


cdef bytes _wire(str text):
    # Call-IDs and tags as the core holds them: the datagram's bytes decoded as latin-1,
    # so the plane, which reads the bytes, finds the same keys.
    return text.encode("latin-1")
