# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Python's handle on the C data plane (plane.h) and on its shared C tables.

``Plane`` reads a worker's UDP socket in batches; the datagrams it answered alone (refused
INVITEs, their retransmissions and ACKs) never become Python objects, the others come
back from ``take_declined`` as ``(data, (host, port))`` for the Python core. ``CLimits`` is
``sip_edge.core.limits.Limits`` over the C tables the plane counts in, so a call the core
handles and a call the plane handles count against the same limits.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport uint16_t, uint32_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from sip_edge.fast._cdecide cimport CAccount, CRules, cp_account, cp_rules


cdef extern from "<netinet/in.h>":
    struct in_addr:
        uint32_t s_addr
    struct sockaddr_in:
        unsigned short sin_family
        uint16_t sin_port
        in_addr sin_addr
    uint16_t ntohs(uint16_t)
    uint32_t ntohl(uint32_t)
    uint32_t htonl(uint32_t)
    uint16_t htons(uint16_t)
    int AF_INET


cdef extern from "<arpa/inet.h>":
    const char* inet_ntop(int af, const void* src, char* dst, unsigned int size)
    int inet_pton(int af, const char* src, void* dst)


cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutex_t:
        pass
    int pthread_mutex_lock(pthread_mutex_t* m)
    int pthread_mutex_unlock(pthread_mutex_t* m)


cdef extern from "<sys/eventfd.h>":
    int eventfd(unsigned int initval, int flags)
    int EFD_NONBLOCK
    int EFD_CLOEXEC


cdef extern from "<unistd.h>":
    ssize_t read(int fd, void* buf, size_t count)
    int close(int fd)


cdef extern from "plane.h":
    ctypedef struct cp_limit:
        double* stamps
        int cap, head, count, concurrent, live, prev, next
        long long attempts, rejected
    ctypedef struct cp_limits:
        pthread_mutex_t lock
        cp_limit* slots
        int nslots, lru_head, lru_tail, nlive, max_accounts, rate, concurrent
        double window_seconds, window_end
        int window_open
    int CP_ADMIT, CP_LIMIT_RATE, CP_LIMIT_CONCURRENT
    int cp_limits_init(cp_limits* l, int rate, int concurrent, double window, int max_accounts)
    void cp_limits_free(cp_limits* l)
    int cp_limits_new_slot(cp_limits* l)
    void cp_limits_touch(cp_limits* l, int slot)
    int cp_limits_admit(cp_limits* l, int slot, int throttle, double now)
    void cp_limits_reject(cp_limits* l, int slot, double now)
    void cp_limits_unlink(cp_limits* l, int slot)
    void cp_limits_expire_stamps(cp_limit* a, double now)

    ctypedef struct cp_refusal:
        char* status_line
        size_t status_len
        char* extra
        size_t extra_len
        int counter
        char* log_tail
        size_t log_tail_len
    ctypedef struct cp_trunk:
        const cp_account* account
        int limits_slot
        int throttle
        char* account_json
        size_t account_json_len
    ctypedef struct cp_buf:
        char* data
        size_t len
    ctypedef struct cp_logfmt:
        char* head
        size_t head_len
        char* middle
        size_t middle_len
        int mask_digits
        double wall_offset
    ctypedef struct cp_dests:
        size_t cap
    ctypedef struct cp_plane:
        unsigned batch
        size_t size
        const cp_rules* rules
        cp_refusal* refusals
        int nrefusals
        cp_refusal dialer
        cp_trunk* trunks
        int ntrunks
        char via_host[128]
        size_t via_host_len
        int relay
        char rr[256]
        size_t rr_len
        unsigned char secret[64]
        size_t secret_len
        cp_dests dests
        void* admission
        unsigned long long next_id, next_decision
        char tag_prefix[32]
        size_t tag_prefix_len
        char decision_prefix[96]
        size_t decision_prefix_len
        cp_logfmt log
        cp_buf lines
        unsigned long long log_dropped
        unsigned long long counters[1]
        size_t max_message
        int enabled
        unsigned nout
        unsigned long long queue_dropped, sent, send_errors, pauses
    ctypedef struct cp_queued:
        char* data
        size_t len
        sockaddr_in src
    int CP_C_RECEIVED, CP_C_HANDLED, CP_C_DECLINED, CP_C_RETRANSMISSION
    int CP_C_ACK_ABSORBED, CP_C_EVICTED, CP_C_FIXED
    int CP_C_RESPONSE_STATELESS, CP_C_IN_DIALOG, CP_IN_DIALOG_METHODS
    int CP_NO_PEER
    cp_plane* cp_plane_new(int fd, unsigned batch, size_t size, double t1, size_t max_answered,
                           cp_limits* limits)
    void cp_plane_free(cp_plane* p)
    int cp_plane_handle(cp_plane* p, const char* data, size_t len, const sockaddr_in* src,
                        double now)
    int cp_plane_set_peer(cp_plane* p, uint32_t addr, uint16_t port, int trunk)
    void cp_plane_clear_peers(cp_plane* p)
    int cp_plane_set_refusals(cp_plane* p, int n)
    void cp_plane_clear_answered(cp_plane* p)
    size_t cp_plane_answered_count(const cp_plane* p)
    const char* cp_plane_answered_get(cp_plane* p, const char* branch, size_t bn,
                                      const char* call_id, size_t cn, double* until,
                                      size_t* n, sockaddr_in* dest)
    int cp_plane_answered_put(cp_plane* p, const char* branch, size_t bn, const char* call_id,
                              size_t cn, const char* answer, size_t len,
                              const sockaddr_in* dest, double now)
    int cp_dests_set(cp_dests* d, const char* const* hosts, const size_t* lens, size_t n)
    void cp_plane_answered_forget(cp_plane* p, const char* branch, size_t bn,
                                  const char* call_id, size_t cn)
    int cp_plane_hold(cp_plane* p, const char* branch, size_t bn, const char* call_id,
                      size_t cn)
    void cp_plane_release(cp_plane* p, const char* branch, size_t bn, const char* call_id,
                          size_t cn)
    void cp_plane_queued(const cp_plane* p, unsigned i, const char** data, size_t* n,
                         sockaddr_in* dest)
    void cp_plane_drop_queued(cp_plane* p)
    int cp_plane_start(cp_plane* p, int wake_fd, int fd2, long pause_ns)
    void cp_plane_stop(cp_plane* p) nogil
    cp_queued* cp_plane_take_queue(cp_plane* p, unsigned* n)
    ctypedef struct cp_pace:
        double window_start
    ctypedef struct cp_span:
        const char* p
        size_t n
    ctypedef struct cp_owned_event:
        int status
        double at
        size_t off, len
    ctypedef struct cp_owned_call:
        cp_owned_call* next
        int returned, ended, nevents
        cp_owned_event* events
        cp_buf bytes
        size_t call_id_len, branch_len
        char* text
    int cp_owned_put(cp_plane* p, cp_span call_id, cp_span branch, cp_span vias, cp_span from_,
                     const sockaddr_in* trunk, int limits_slot)
    cp_owned_call* cp_owned_find(cp_plane* p, cp_span call_id, cp_span branch)
    void cp_owned_clear(cp_owned_call* c)
    void cp_owned_detach(cp_plane* p, cp_owned_call* c)
    void cp_owned_call_free(cp_owned_call* c)
    cp_owned_call* cp_owned_copy(const cp_owned_call* c)
    cp_owned_call* cp_owned_detach_returned(cp_plane* p)
    size_t cp_owned_count(const cp_plane* p)
    void cp_pace_init(cp_pace* c, double now)
    double cp_pace_after(cp_pace* c, double longest, double now, int read, int full)


#: Counters the plane keeps (plane.h's CP_C_*), by the names the core's ``stats`` uses.
COUNTER_NAMES = {
    "invite_retransmission": CP_C_RETRANSMISSION,
    "ack_absorbed": CP_C_ACK_ABSORBED,
    "evicted": CP_C_EVICTED,
    "response_stateless": CP_C_RESPONSE_STATELESS,
}
#: relay.c's in-dialog counters, in its order (dialogs.ALLOW, then the others).
_IN_DIALOG = ("invite", "ack", "cancel", "bye", "options", "info", "update", "prack", "refer",
              "notify", "other")
assert len(_IN_DIALOG) == CP_IN_DIALOG_METHODS
COUNTER_NAMES.update({f"in_dialog_{m}": CP_C_IN_DIALOG + i for i, m in enumerate(_IN_DIALOG)})
#: Refusal counters: ``stats`` keys are given per refusal; at most this many distinct.
MAX_REFUSAL_COUNTERS = 64


cdef bytes _latin1(str text):
    return text.encode("latin-1")


cdef char* _copy(bytes data) except NULL:
    cdef char* out = <char*>malloc(len(data) + 1)
    if out == NULL:
        raise MemoryError()
    memcpy(out, <const char*>data, len(data))
    out[len(data)] = 0
    return out


cdef class CLimits:
    """``sip_edge.core.limits.Limits`` in C tables: the same methods, the same counts."""

    cdef cp_limits table
    cdef dict _slots  # account id -> slot (stable: a slot is never reused)
    cdef list _names  # slot -> account id

    def __cinit__(self, int rate, int concurrent, double window_seconds,
                  int max_accounts=100_000):
        cp_limits_init(&self.table, rate, concurrent, window_seconds, max_accounts)
        self._slots = {}
        self._names = []

    def __dealloc__(self):
        cp_limits_free(&self.table)

    @property
    def rate(self) -> int:
        return self.table.rate

    @property
    def concurrent(self) -> int:
        return self.table.concurrent

    @property
    def window_seconds(self) -> float:
        return self.table.window_seconds

    @property
    def max_accounts(self) -> int:
        return self.table.max_accounts

    cdef int _slot(self, str account) except -1:
        # Called with the lock held (or before any plane shares the table).
        cdef object hit = self._slots.get(account)
        if hit is not None:
            return <int>hit
        cdef int slot = cp_limits_new_slot(&self.table)
        if slot < 0:
            raise MemoryError()
        self._slots[account] = slot
        self._names.append(account)
        return slot

    cdef inline void _lock(self) noexcept:
        pthread_mutex_lock(&self.table.lock)

    cdef inline void _unlock(self) noexcept:
        pthread_mutex_unlock(&self.table.lock)

    def slot(self, str account) -> int:
        """The account's slot (made on first use; never reused)."""
        self._lock()
        try:
            return self._slot(account)
        finally:
            self._unlock()

    def configure(self, int rate, int concurrent, double window_seconds):
        """New limits (a rules reload); counts so far are kept."""
        self._lock()
        self.table.rate = rate
        self.table.concurrent = concurrent
        self.table.window_seconds = window_seconds
        self._unlock()

    def admit(self, str account, str flag, double now):
        """Count one attempt; None if it may proceed, else "rate" or "concurrent"."""
        cdef int r
        self._lock()
        try:
            r = cp_limits_admit(&self.table, self._slot(account), flag == "throttle", now)
        finally:
            self._unlock()
        if r == CP_ADMIT:
            return None
        return "rate" if r == CP_LIMIT_RATE else "concurrent"

    def reject(self, str account, double now):
        """Count an attempt refused for the account's dialer flag (suspend)."""
        self._lock()
        try:
            cp_limits_reject(&self.table, self._slot(account), now)
        finally:
            self._unlock()

    def started(self, str account):
        """A set-up of ``account`` was forwarded (counts until its final response)."""
        cdef int slot
        self._lock()
        try:
            slot = self._slot(account)
            cp_limits_touch(&self.table, slot)
            self.table.slots[slot].concurrent += 1
        finally:
            self._unlock()

    def ended(self, str account):
        """A set-up of ``account`` got its final response (or timed out)."""
        cdef object hit = self._slots.get(account)
        if hit is None:
            return
        self._lock()
        cdef cp_limit* a = &self.table.slots[<int>hit]
        if a.live and a.concurrent > 0:
            a.concurrent -= 1
        self._unlock()

    def in_progress(self, str account) -> int:
        """Set-ups of ``account`` in progress."""
        cdef object hit = self._slots.get(account)
        cdef int n = 0
        if hit is None:
            return 0
        self._lock()
        cdef cp_limit* a = &self.table.slots[<int>hit]
        if a.live:
            n = a.concurrent
        self._unlock()
        return n

    @property
    def window_end(self):
        """When the current window closes (None while nothing was counted)."""
        return self.table.window_end if self.table.window_open else None

    def close_window(self, double now):
        """If the window is over: totals of accounts that went over a limit, and reset."""
        from policy import WindowTotal

        cdef list over = []
        cdef list idle = []
        cdef int s
        cdef cp_limit* a
        self._lock()
        try:
            if not self.table.window_open or now < self.table.window_end:
                return []
            s = self.table.lru_head
            while s >= 0:
                a = &self.table.slots[s]
                if a.rejected:
                    over.append((self._names[s], a.attempts, a.rejected))
                a.attempts = 0
                a.rejected = 0
                cp_limits_expire_stamps(a, now)
                if a.concurrent == 0 and a.count == 0:
                    idle.append(s)
                s = a.next
            for s in idle:
                cp_limits_unlink(&self.table, s)
            self.table.window_open = 0
        finally:
            self._unlock()
        return [WindowTotal(account=n, attempts=t, rejected=r) for n, t, r in over]

    def live(self) -> list:
        """(account, attempts, rejected, concurrent, stamps) of the live accounts, oldest
        first: what a twin test compares with ``Limits``."""
        cdef list out = []
        cdef int s
        cdef cp_limit* a
        self._lock()
        try:
            s = self.table.lru_head
            while s >= 0:
                a = &self.table.slots[s]
                stamps = [a.stamps[(a.head + i) % a.cap] for i in range(a.count)]
                out.append((self._names[s], a.attempts, a.rejected, a.concurrent, stamps))
                s = a.next
        finally:
            self._unlock()
        return out


cdef class SharedCounter:
    """An iterator over one of the plane's counters (``next()`` as ``itertools.count``):
    the core's To tags and branches, and decision ids, come from the same sequence
    whichever path answers."""

    cdef Plane plane
    cdef int which

    def __cinit__(self, Plane plane, int which):
        self.plane = plane
        self.which = which

    def __iter__(self):
        return self

    def __next__(self):
        cdef cp_plane* p = self.plane.p
        cdef unsigned long long n
        self.plane._lock()
        if self.which == 0:
            n = p.next_id
            p.next_id += 1
        else:
            n = p.next_decision
            p.next_decision += 1
        self.plane._unlock()
        return n


include "_admission.pxi"


def pace_trace(double longest, double start, list reads) -> list:
    """The plane thread's read moderation (readers.c ``cp_pace_after``) over ``reads``, a
    list of ``(now, datagrams read, full batch)`` from a thread started at ``start``: how
    long it pauses after each (seconds, 0.0: not at all), at most ``longest``. Time is
    passed in, so tests need no clock."""
    cdef cp_pace pace
    cp_pace_init(&pace, start)
    return [cp_pace_after(&pace, longest, now, n, full) for now, n, full in reads]


cdef class Plane:
    """One worker socket's C data plane (the fd stays the caller's).

    Two ways to run it: ``start()`` gives it its own thread, which reads the socket
    without the GIL and queues what Python must handle (``take_declined``, signalled on
    ``wake_fd``); or the caller drives it with ``handle``/``take`` (tests, twins). Every
    method takes the lock the thread holds while it works.
    """

    cdef cp_plane* p
    cdef CLimits limits
    cdef CRules _rules  # kept alive: the plane points into them
    cdef list _accounts  # CAccount per trunk (or None), kept alive
    cdef list _counter_names  # refusal counter index - CP_C_FIXED -> stats key
    cdef dict _counter_index
    cdef object _sources  # (addr << 16 | port) -> (host, port)
    cdef CAdmission _admission  # the site holds it ends on a relayed BYE (kept alive here)
    cdef unsigned long long _handled_seen
    cdef unsigned long long _declined_seen
    cdef public int wake_fd  # -1 until start()

    def __cinit__(self, int fd, CLimits limits, unsigned int batch=64, Py_ssize_t size=65535,
                  double t1=0.5, Py_ssize_t max_answered=100_000):
        self.p = cp_plane_new(fd, batch, size, t1, max_answered, &limits.table)
        if self.p == NULL:
            raise MemoryError()
        self.limits = limits
        self._accounts = []
        self._counter_names = []
        self._counter_index = {}
        self._sources = {}
        self.wake_fd = -1

    def __dealloc__(self):
        if self.p != NULL:
            with nogil:
                cp_plane_stop(self.p)
            cp_plane_free(self.p)
        if self.wake_fd >= 0:
            close(self.wake_fd)

    cdef inline void _lock(self) noexcept:
        pthread_mutex_lock(&self.limits.table.lock)

    cdef inline void _unlock(self) noexcept:
        pthread_mutex_unlock(&self.limits.table.lock)

    # --- the thread -----------------------------------------------------------------------

    def start(self, int second_fd=-1, double pause=0.0) -> int:
        """Run the plane on its own thread; returns the eventfd that becomes readable when
        datagrams wait for Python (``take_declined``).

        ``second_fd``: another IPv4 socket the thread reads as well (the worker's private
        port, where the answers to forwarded requests arrive), its datagrams handled and
        queued as the first's; the plane keeps sending from the first. ``pause``: the
        longest pause of read moderation in seconds (readers.c ``run``): while datagrams
        come fast enough, the thread waits after a read that found some until about four
        more have arrived, at most this long, so a busy socket is read, answered and
        handed to Python in batches. 0: off."""
        if not 0.0 <= pause <= 0.1:
            raise ValueError(f"pause: expected 0 to 0.1 seconds, got {pause!r}")
        if self.wake_fd >= 0:
            return self.wake_fd
        cdef int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)
        if fd < 0:
            raise OSError("eventfd failed")
        cdef int err = cp_plane_start(self.p, fd, second_fd, <long>(pause * 1e9 + 0.5))
        if err:
            close(fd)
            raise OSError(err, "the data plane's thread did not start")
        self.wake_fd = fd
        return fd

    def stop(self):
        """Stop the thread (joined); the socket is then the caller's again."""
        with nogil:
            cp_plane_stop(self.p)

    def take_declined(self) -> list:
        """The datagrams the thread left to the core, oldest first, as ``(data, (host,
        port))``; clears the wake-up."""
        cdef unsigned long long value
        cdef unsigned n = 0, i
        cdef cp_queued* q
        if self.wake_fd >= 0:
            read(self.wake_fd, &value, sizeof(value))
        self._lock()
        q = cp_plane_take_queue(self.p, &n)
        self._unlock()
        cdef list out = []
        try:
            for i in range(n):
                out.append((PyBytes_FromStringAndSize(q[i].data, q[i].len),
                            self._source(&q[i].src)))
        finally:
            for i in range(n):
                free(q[i].data)
            free(q)
        return out

    # --- configuration (from the core, on change) ---------------------------------------

    def set_identity(self, str via_host, str tag_prefix, str decision_prefix):
        """The edge's Via sent-by, its To-tag prefix and the decision-id prefix ('' when
        no decisions are recorded)."""
        cdef bytes v = _latin1(via_host), t = _latin1(tag_prefix), d = _latin1(decision_prefix)
        for what, value, limit in (("via_host", v, 128), ("tag_prefix", t, 32),
                                   ("decision_prefix", d, 96)):
            if len(value) >= limit:
                raise ValueError(f"{what}: expected under {limit} bytes, got {len(value)}: "
                                 f"{value[:40]!r}")
        self._lock()
        memcpy(self.p.via_host, <const char*>v, len(v))
        self.p.via_host_len = len(v)
        memcpy(self.p.tag_prefix, <const char*>t, len(t))
        self.p.tag_prefix_len = len(t)
        memcpy(self.p.decision_prefix, <const char*>d, len(d))
        self.p.decision_prefix_len = len(d)
        self._unlock()

    def set_admission(self, CAdmission admission):
        """The site admission table it shares with the core: a BYE it relays ends the
        call's hold there (dialogs._site_bye). Its lock must be this plane's."""
        if admission.limits is not self.limits:
            raise ValueError("admission: expected a table guarded by this plane's CLimits")
        self._lock()
        self._admission = admission
        self.p.admission = &admission.table
        self._unlock()

    def set_relay(self, bytes secret, str record_route, dests):
        """What the relay needs of the core (relay.c): the key of its loop hashes, its
        Record-Route value as written, and the hosts it may send to (``_dests``)."""
        cdef bytes rr = _latin1(record_route)
        if len(secret) > 64:
            raise ValueError(f"secret: expected at most 64 bytes (BLAKE2b's key), got {len(secret)}")
        if len(rr) >= 256:
            raise ValueError(f"record_route: expected under 256 bytes, got {len(rr)}: {rr[:40]!r}")
        cdef list hosts = [_latin1(h) for h in dests]
        cdef size_t n = len(hosts), i
        cdef const char** texts = <const char**>malloc((n + 1) * sizeof(char*))
        cdef size_t* lens = <size_t*>malloc((n + 1) * sizeof(size_t))
        cdef int err
        if texts == NULL or lens == NULL:
            free(texts)
            free(lens)
            raise MemoryError()
        for i in range(n):
            texts[i] = <const char*>(<bytes>hosts[i])
            lens[i] = len(<bytes>hosts[i])
        self._lock()
        try:
            err = cp_dests_set(&self.p.dests, texts, lens, n)
            memcpy(self.p.secret, <const char*>secret, len(secret))
            self.p.secret_len = len(secret)
            memcpy(self.p.rr, <const char*>rr, len(rr))
            self.p.rr_len = len(rr)
            self.p.relay = err == 0
        finally:
            self._unlock()
            free(texts)
            free(lens)
        if err < 0:
            raise MemoryError()

    def ids(self) -> SharedCounter:
        """``next()`` gives the next To-tag/branch number (EdgeCore._ids)."""
        return SharedCounter(self, 0)

    def decision_ids(self) -> SharedCounter:
        """``next()`` gives the next decision-id number (IdSource)."""
        return SharedCounter(self, 1)

    cdef int _counter(self, str name) except -1:
        cdef object hit = self._counter_index.get(name)
        if hit is not None:
            return <int>hit
        if len(self._counter_names) >= MAX_REFUSAL_COUNTERS:
            raise ValueError(f"refusal counter {name!r}: expected at most {MAX_REFUSAL_COUNTERS} "
                             "distinct refusal counters in one plane")
        self._counter_names.append(name)
        self._counter_index[name] = CP_C_FIXED + len(self._counter_names) - 1
        return CP_C_FIXED + len(self._counter_names) - 1

    cdef void _render(self, cp_refusal* out, tuple refusal) except *:
        status_line, extra, counter, log_tail = refusal
        out.status_line = _copy(status_line)
        out.status_len = len(status_line)
        out.extra = _copy(extra)
        out.extra_len = len(extra)
        out.counter = self._counter(counter)
        out.log_tail = _copy(log_tail)
        out.log_tail_len = len(log_tail)

    def set_log_format(self, bytes head, bytes middle, int mask_digits, double wall_offset):
        """The decision-log lines' fixed parts (``logline.c``): ``head`` up to the id's
        number, ``middle`` from after the time to the account, and the masking."""
        if not 0 <= mask_digits <= 32:
            raise ValueError(f"mask_digits: expected 0 to 32 (what the plane masks), got {mask_digits}")
        self._lock()
        try:
            free(self.p.log.head)
            free(self.p.log.middle)
            self.p.log.head = NULL
            self.p.log.middle = NULL
            self.p.log.head = _copy(head)
            self.p.log.head_len = len(head)
            self.p.log.middle = _copy(middle)
            self.p.log.middle_len = len(middle)
            self.p.log.mask_digits = mask_digits
            self.p.log.wall_offset = wall_offset
        finally:
            self._unlock()

    def set_rules(self, CRules rules, list refusals, tuple dialer):
        """The decision tables of one snapshot and, per table row, its refusal as
        ``(status line, header lines, stats key)`` bytes (None: not a refusal), and the
        power-dialer refusal. Disables the plane until ``set_trunks``."""
        cdef int i
        cdef int n = len(refusals)
        self._lock()
        try:
            self.p.enabled = 0
            self.p.ntrunks = 0
            if cp_plane_set_refusals(self.p, n) < 0:
                raise MemoryError()
            for i in range(n):
                if refusals[i] is not None:
                    self._render(&self.p.refusals[i], refusals[i])
            free(self.p.dialer.status_line)
            free(self.p.dialer.extra)
            free(self.p.dialer.log_tail)
            self.p.dialer.status_line = NULL
            self.p.dialer.extra = NULL
            self.p.dialer.log_tail = NULL
            self._render(&self.p.dialer, dialer)
            self._rules = rules
            self.p.rules = &rules.c
        finally:
            self._unlock()

    def set_trunks(self, list trunks):
        """Per trunk index: ``(CAccount or None, account id, throttle, account id as JSON)``;
        None: the core decides that trunk's calls (unknown account, suspended)."""
        cdef int n = len(trunks)
        cdef int i
        cdef CAccount acc
        cdef cp_trunk* table = <cp_trunk*>malloc(max(n, 1) * sizeof(cp_trunk))
        if table == NULL:
            raise MemoryError()
        memset(table, 0, max(n, 1) * sizeof(cp_trunk))
        self._lock()
        try:
            for i in range(n):
                caccount, account_id, throttle, account_json = trunks[i]
                if caccount is not None:
                    acc = <CAccount?>caccount
                    table[i].account = &acc.c
                table[i].limits_slot = self.limits._slot(account_id) if account_id else 0
                table[i].throttle = bool(throttle)
                table[i].account_json = _copy(account_json)
                table[i].account_json_len = len(account_json)
            for i in range(self.p.ntrunks):
                free(self.p.trunks[i].account_json)
            free(self.p.trunks)
            self.p.trunks = table
            self.p.ntrunks = n
            self._accounts = [t[0] for t in trunks]
            self.p.enabled = self._rules is not None
        finally:
            self._unlock()

    def set_peers(self, list peers):
        """``(host, port or 0, trunk index or -1)``: IPv4 sources the plane knows (-1: a
        carrier or the PSAP, whose datagrams are the core's); port 0 is any port."""
        cdef uint32_t addr
        cdef list parsed = []
        for host, port, trunk in peers:
            if inet_pton(AF_INET, _latin1(host), &addr) == 1:  # IPv6 peers are the core's
                parsed.append((ntohl(addr), port, trunk))
        self._lock()
        try:
            cp_plane_clear_peers(self.p)
            for a, port, trunk in parsed:
                if cp_plane_set_peer(self.p, a, <uint16_t>port, trunk) < 0:
                    raise MemoryError()
        finally:
            self._unlock()

    def disable(self):
        """Every datagram to the core (until set_trunks)."""
        self._lock()
        self.p.enabled = 0
        self._unlock()

    def clear_answered(self):
        self._lock()
        cp_plane_clear_answered(self.p)
        self._unlock()

    def get(self, tuple key):
        """(until, answer, (host, port)) of a refusal the plane remembers by (branch,
        Call-ID), None if none: the core's ``AnsweredElsewhere``."""
        cdef bytes branch = _latin1(key[0]), call_id = _latin1(key[1])
        cdef double until
        cdef size_t n
        cdef sockaddr_in dest
        cdef bytes answer = None
        self._lock()
        cdef const char* found = cp_plane_answered_get(
            self.p, branch, len(branch), call_id, len(call_id), &until, &n, &dest)
        if found != NULL:
            answer = PyBytes_FromStringAndSize(found, n)
        self._unlock()
        if answer is None:
            return None
        return until, answer, self._source(&dest)

    def remember(self, tuple key, bytes answer, tuple addr, double now) -> bool:
        """Remember a refusal the core wrote, for Timer H, in the one table both paths
        read; False if the plane cannot address ``addr`` (the core keeps it then)."""
        cdef bytes branch = _latin1(key[0]), call_id = _latin1(key[1])
        cdef sockaddr_in dest
        cdef int err
        memset(&dest, 0, sizeof(dest))
        dest.sin_family = AF_INET
        if inet_pton(AF_INET, _latin1(addr[0]), &dest.sin_addr) != 1:
            return False
        dest.sin_port = htons(<uint16_t>addr[1])
        self._lock()
        err = cp_plane_answered_put(self.p, branch, len(branch), call_id, len(call_id),
                                    answer, len(answer), &dest, now)
        self._unlock()
        if err < 0:
            raise MemoryError()
        return True

    def forget(self, tuple key):
        """Drop a remembered refusal (past Timer H)."""
        cdef bytes branch = _latin1(key[0]), call_id = _latin1(key[1])
        self._lock()
        cp_plane_answered_forget(self.p, branch, len(branch), call_id, len(call_id))
        self._unlock()

    def hold(self, tuple key):
        """The core began a server transaction for this (branch, Call-ID): the plane
        leaves its retransmissions to the core."""
        cdef bytes branch = _latin1(key[0]), call_id = _latin1(key[1])
        cdef int err
        self._lock()
        err = cp_plane_hold(self.p, branch, len(branch), call_id, len(call_id))
        self._unlock()
        if err < 0:
            raise MemoryError()

    def release(self, tuple key):
        """That server transaction ended."""
        cdef bytes branch = _latin1(key[0]), call_id = _latin1(key[1])
        self._lock()
        cp_plane_release(self.p, branch, len(branch), call_id, len(call_id))
        self._unlock()

    # --- the answers of INVITEs the core forwarded (owned.c) ------------------------------

    def own(self, str call_id, str branch, bytes vias, bytes from_value, tuple trunk,
            str account) -> bool:
        """The core forwarded an INVITE of ``call_id`` with our ``branch``: the plane relays
        its plain answers (100 absorbed, 101-299 to ``trunk`` with the customer's ``vias``
        lines and ``from_value``), keeps them as events for the core (``sync``), and ends
        the set-up in ``account``'s power-dialer counts on a 2xx. False: it does not (the
        relay is off, the Call-ID is taken, ``trunk`` is no IPv4 address)."""
        cdef bytes c = _latin1(call_id), b = _latin1(branch)
        cdef sockaddr_in dest
        cdef cp_span cs, bs, vs, fs
        cdef int got
        memset(&dest, 0, sizeof(dest))
        dest.sin_family = AF_INET
        if inet_pton(AF_INET, _latin1(trunk[0]), &dest.sin_addr) != 1:
            return False
        dest.sin_port = htons(<uint16_t>trunk[1])
        cs.p, cs.n = c, len(c)
        bs.p, bs.n = b, len(b)
        vs.p, vs.n = vias, len(vias)
        fs.p, fs.n = from_value, len(from_value)
        self._lock()
        try:
            got = cp_owned_put(self.p, cs, bs, vs, fs, &dest, self.limits._slot(account))
        finally:
            self._unlock()
        if got < 0:
            raise MemoryError()
        return got == 1

    @staticmethod
    cdef list _events(cp_owned_call* c):
        # Built with the lock released: from a copy or a detached call, never a live one.
        cdef int i
        cdef list out = []
        for i in range(c.nevents):
            data = (PyBytes_FromStringAndSize(c.bytes.data + c.events[i].off, c.events[i].len)
                    if c.events[i].len else b"")
            out.append((c.events[i].status, c.events[i].at, data))
        return out

    def sync(self, str call_id, str branch, bint keep) -> tuple:
        """``(events, owned, ended)``: the answers the plane handled for the call since the
        last sync, as ``(status, time, bytes sent upstream)``, oldest first; whether it
        stays the plane's (``keep``, unless the plane handed it back; else the core takes
        it back); whether the plane ended its set-up in the power-dialer counts."""
        cdef bytes c = _latin1(call_id), b = _latin1(branch)
        cdef cp_span cs, bs
        cs.p, cs.n = c, len(c)
        bs.p, bs.n = b, len(b)
        cdef cp_owned_call* taken = NULL
        cdef bint owned = False
        self._lock()
        found = cp_owned_find(self.p, cs, bs)
        if found != NULL:
            if keep and not found.returned:
                taken = cp_owned_copy(found)
                if taken != NULL:
                    cp_owned_clear(found)
                    owned = True
            else:
                cp_owned_detach(self.p, found)
                taken = found
        self._unlock()
        if found != NULL and taken == NULL:
            raise MemoryError()
        if taken == NULL:
            return [], False, False
        try:
            return Plane._events(taken), owned, bool(taken.ended)
        finally:
            cp_owned_call_free(taken)

    def take_returned(self) -> list:
        """The calls the plane handed back (a 2xx relayed, or a message of theirs left to
        the core), oldest first, as ``(branch, events, ended)``; the core's from now on."""
        cdef list out = []
        cdef cp_owned_call* c
        cdef cp_owned_call* nxt
        self._lock()
        c = cp_owned_detach_returned(self.p)
        self._unlock()
        try:
            while c != NULL:
                out.append((PyBytes_FromStringAndSize(c.text + c.call_id_len, c.branch_len)
                            .decode("latin-1"), Plane._events(c), bool(c.ended)))
                nxt = c.next
                cp_owned_call_free(c)
                c = nxt
        finally:
            while c != NULL:
                nxt = c.next
                cp_owned_call_free(c)
                c = nxt
        return out

    @property
    def owned(self) -> int:
        """Calls whose answers the plane relays, or handed back and not taken yet."""
        self._lock()
        cdef size_t n = cp_owned_count(self.p)
        self._unlock()
        return n

    @property
    def answered(self) -> int:
        """Refusals remembered for Timer H."""
        self._lock()
        cdef size_t n = cp_plane_answered_count(self.p)
        self._unlock()
        return n

    # --- driven by the caller (no thread) -----------------------------------------------

    cdef tuple _source(self, sockaddr_in* name):
        cdef char text[64]
        key = (<unsigned long long>name.sin_addr.s_addr << 16) | name.sin_port
        hit = self._sources.get(key)
        if hit is not None:
            return <tuple>hit
        inet_ntop(AF_INET, &name.sin_addr, text, sizeof(text))
        out = ((<bytes>text).decode("ascii"), ntohs(name.sin_port))
        if len(self._sources) >= 4096:
            self._sources.clear()
        self._sources[key] = out
        return out

    def handle(self, bytes data, tuple addr, double now) -> bool:
        """One datagram through the plane as its thread takes it (tests, twins): True if
        the plane handled it (its answer queued for ``take``)."""
        cdef sockaddr_in src
        memset(&src, 0, sizeof(src))
        src.sin_family = AF_INET
        host, port = addr
        if inet_pton(AF_INET, _latin1(host), &src.sin_addr) != 1:
            return False
        src.sin_port = htons(<uint16_t>port)
        self._lock()
        self.p.counters[CP_C_RECEIVED] += 1
        cdef int ours = cp_plane_handle(self.p, data, len(data), &src, now)
        self.p.counters[CP_C_HANDLED if ours else CP_C_DECLINED] += 1
        self._unlock()
        return bool(ours)

    def take(self) -> list:
        """The queued answers as ``[(data, (host, port))]``, dropping them (tests, twins)."""
        cdef list out = []
        cdef unsigned i
        cdef const char* data
        cdef size_t n
        cdef sockaddr_in dest
        self._lock()
        try:
            for i in range(self.p.nout):
                cp_plane_queued(self.p, i, &data, &n, &dest)
                out.append((PyBytes_FromStringAndSize(data, n), self._source(&dest)))
            cp_plane_drop_queued(self.p)
        finally:
            self._unlock()
        return out

    # --- what Python takes from it --------------------------------------------------------

    def counters(self) -> dict:
        """The plane's counts since the last call, by ``stats`` key (then reset);
        ``plane_answered`` and ``plane_declined`` count the datagrams it answered or
        absorbed itself and those it handed to the core (the share in Python)."""
        cdef dict out = {}
        cdef int i
        cdef unsigned long long v
        cdef list fixed = []
        self._lock()
        try:
            v = self.p.counters[CP_C_HANDLED] - self._handled_seen
            self._handled_seen = self.p.counters[CP_C_HANDLED]
            if v:
                out["received"] = v  # the core counts the datagrams it is handed itself
                out["plane_answered"] = v
            v = self.p.counters[CP_C_DECLINED] - self._declined_seen
            self._declined_seen = self.p.counters[CP_C_DECLINED]
            if v:
                out["plane_declined"] = v
            for name, i in COUNTER_NAMES.items():
                v = self.p.counters[i]
                if v:
                    out[name] = v
                self.p.counters[i] = 0
            for i in range(len(self._counter_names)):
                v = self.p.counters[CP_C_FIXED + i]
                if v:
                    fixed.append((self._counter_names[i], v))
                self.p.counters[CP_C_FIXED + i] = 0
            if self.p.pauses:
                out["plane_pauses"] = self.p.pauses
                self.p.pauses = 0
            if self.p.queue_dropped:
                out["plane_queue_full"] = self.p.queue_dropped
                self.p.queue_dropped = 0
            if self.p.log_dropped:
                out["plane_log_dropped"] = self.p.log_dropped
                self.p.log_dropped = 0
        finally:
            self._unlock()
        for name, v in fixed:
            out[name] = out.get(name, 0) + v
        return out

    def totals(self) -> tuple:
        """(received, handled, declined) since start: the share the plane answered."""
        self._lock()
        t = (self.p.counters[CP_C_RECEIVED], self.p.counters[CP_C_HANDLED],
             self.p.counters[CP_C_DECLINED])
        self._unlock()
        return t

    @property
    def sent(self) -> int:
        return self.p.sent

    @property
    def send_errors(self) -> int:
        return self.p.send_errors

    def take_log(self) -> bytes:
        """The decision-log lines written since the last call (b"" if none)."""
        cdef bytes out
        self._lock()
        try:
            out = PyBytes_FromStringAndSize(self.p.lines.data, self.p.lines.len) if self.p.lines.len else b""
            self.p.lines.len = 0
        finally:
            self._unlock()
        return out
