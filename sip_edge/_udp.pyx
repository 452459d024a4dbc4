# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Batched UDP I/O: up to ``batch`` datagrams per system call (recvmmsg(2), sendmmsg(2)).

Why: with one event-loop callback and one ``recvfrom``/``sendto`` per datagram, a Python
process that only answers 403 already cost as much CPU per call as Kamailio's whole call
(benchmarks/RESULTS.md, SIP edge, the "bare floor" row). Reading everything the socket
holds in one call, and writing everything one wake-up produced in one call, shares the
system-call and loop costs between all the datagrams of a wake-up.

``BatchSocket(fd, family, batch, size)`` wraps a bound, non-blocking UDP socket the
caller owns (and closes). ``recv()`` returns ``[(data, (host, port)), ...]``, empty when
nothing is waiting. ``send(items)`` sends ``[(data, (host, port)), ...]`` and returns how
many it could not (counted in ``send_errors``; UDP gives no more guarantee than that, and
the transaction layer retransmits). Addresses are IP literals: names are never resolved.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.errno cimport EAGAIN, EINTR, errno
from libc.stdlib cimport calloc, free
from libc.string cimport memset


cdef extern from "<errno.h>":
    int EWOULDBLOCK


cdef extern from "<sys/uio.h>":
    struct iovec:
        void* iov_base
        size_t iov_len


cdef extern from "<sys/socket.h>":
    ctypedef unsigned int socklen_t
    ctypedef unsigned short sa_family_t
    struct sockaddr_storage:
        sa_family_t ss_family
    struct msghdr:
        void* msg_name
        socklen_t msg_namelen
        iovec* msg_iov
        size_t msg_iovlen
        void* msg_control
        size_t msg_controllen
        int msg_flags
    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len
    # The last argument is a struct timespec*; only NULL is passed.
    int recvmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags, void* timeout)
    int sendmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags)
    int AF_INET
    int AF_INET6
    int MSG_DONTWAIT
    int MSG_TRUNC


cdef extern from "<netinet/in.h>":
    struct in_addr:
        unsigned int s_addr
    struct sockaddr_in:
        sa_family_t sin_family
        unsigned short sin_port
        in_addr sin_addr
    struct in6_addr:
        unsigned char s6_addr[16]
    struct sockaddr_in6:
        sa_family_t sin6_family
        unsigned short sin6_port
        unsigned int sin6_flowinfo
        in6_addr sin6_addr
        unsigned int sin6_scope_id
    unsigned short ntohs(unsigned short v)
    unsigned short htons(unsigned short v)


cdef extern from "<arpa/inet.h>":
    const char* inet_ntop(int af, const void* src, char* dst, socklen_t size)
    int inet_pton(int af, const char* src, void* dst)


#: Entries of each address cache before it is emptied: peers are few, but a flood from
#: spoofed sources must not grow it without bound.
cdef Py_ssize_t _CACHE_MAX = 4096


cdef class BatchSocket:
    """A UDP socket read and written in batches (the fd stays the caller's)."""

    cdef int fd
    cdef int family
    cdef unsigned int batch
    cdef Py_ssize_t size
    cdef char* buffers
    cdef mmsghdr* msgs  # receive side: set up once, pointing into buffers and names
    cdef iovec* iovs
    cdef sockaddr_storage* names
    cdef unsigned int filled  # entries the last recvmmsg wrote (their namelen to reset)
    cdef mmsghdr* out_msgs  # send side: filled per call from the items
    cdef iovec* out_iovs
    cdef dict _sources  # IPv4 (addr << 16 | port) -> (host, port)
    cdef dict _dests  # (host, port) -> packed sockaddr (bytes)
    cdef public unsigned long long received
    cdef public unsigned long long truncated
    cdef public unsigned long long recv_errors
    cdef public unsigned long long sent
    cdef public unsigned long long send_errors
    cdef public int last_errno

    def __cinit__(self, int fd, int family, unsigned int batch=64, Py_ssize_t size=65535):
        if batch < 1 or size < 1:
            raise ValueError("batch and size must be positive")
        if family != AF_INET and family != AF_INET6:
            raise ValueError(f"unsupported address family {family}")
        self.fd = fd
        self.family = family
        self.batch = batch
        self.size = size
        self._sources = {}
        self._dests = {}
        self.buffers = <char*>calloc(batch, size)
        self.msgs = <mmsghdr*>calloc(batch, sizeof(mmsghdr))
        self.iovs = <iovec*>calloc(batch, sizeof(iovec))
        self.names = <sockaddr_storage*>calloc(batch, sizeof(sockaddr_storage))
        self.out_msgs = <mmsghdr*>calloc(batch, sizeof(mmsghdr))
        self.out_iovs = <iovec*>calloc(batch, sizeof(iovec))
        if (not self.buffers or not self.msgs or not self.iovs or not self.names
                or not self.out_msgs or not self.out_iovs):
            raise MemoryError()
        cdef unsigned int i
        for i in range(batch):  # calloc left control NULL, its length and the flags 0
            self.iovs[i].iov_base = self.buffers + i * size
            self.iovs[i].iov_len = size
            self.msgs[i].msg_hdr.msg_name = &self.names[i]
            self.msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage)
            self.msgs[i].msg_hdr.msg_iov = &self.iovs[i]
            self.msgs[i].msg_hdr.msg_iovlen = 1
            self.out_msgs[i].msg_hdr.msg_iov = &self.out_iovs[i]
            self.out_msgs[i].msg_hdr.msg_iovlen = 1
        self.filled = 0

    def __dealloc__(self):
        free(self.buffers)
        free(self.msgs)
        free(self.iovs)
        free(self.names)
        free(self.out_msgs)
        free(self.out_iovs)

    cdef tuple _source(self, sockaddr_storage* name):
        cdef sockaddr_in* v4
        cdef sockaddr_in6* v6
        cdef char text[64]
        cdef object key
        cdef object hit
        if name.ss_family == AF_INET:
            v4 = <sockaddr_in*>name
            key = (<unsigned long long>v4.sin_addr.s_addr << 16) | v4.sin_port
            hit = self._sources.get(key)
            if hit is not None:
                return <tuple>hit
            inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text))
            out = ((<bytes>text).decode("ascii"), ntohs(v4.sin_port))
            if len(self._sources) >= _CACHE_MAX:
                self._sources.clear()
            self._sources[key] = out
            return out
        if name.ss_family == AF_INET6:
            v6 = <sockaddr_in6*>name
            inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text))
            return ((<bytes>text).decode("ascii"), ntohs(v6.sin6_port))
        return None

    def recv(self):
        """Every datagram waiting, up to ``batch`` of them; [] when there is none."""
        cdef unsigned int i
        cdef int n
        cdef mmsghdr* m
        cdef list out = []
        # recvmmsg shortens msg_namelen to each source's length: restore what it wrote.
        for i in range(self.filled):
            self.msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage)
        self.filled = 0
        n = recvmmsg(self.fd, self.msgs, self.batch, MSG_DONTWAIT, NULL)
        if n < 0:
            if errno != EAGAIN and errno != EWOULDBLOCK and errno != EINTR:
                # A pending ICMP error of an earlier send, reported once: not fatal.
                self.recv_errors += 1
                self.last_errno = errno
            return out
        for i in range(<unsigned int>n):
            m = &self.msgs[i]
            src = self._source(&self.names[i])
            if src is None:
                continue
            if m.msg_hdr.msg_flags & MSG_TRUNC:
                # Longer than any message the edge accepts: the core sees only the
                # first ``size`` bytes, counts and drops it (it is over the size limit).
                self.truncated += 1
            out.append((PyBytes_FromStringAndSize(self.buffers + i * self.size, m.msg_len), src))
        self.filled = <unsigned int>n
        self.received += n
        return out

    cdef bytes _dest(self, object addr):
        cdef bytes packed = self._dests.get(addr)
        if packed is not None:
            return packed
        host, port = addr
        cdef sockaddr_in v4
        cdef sockaddr_in6 v6
        cdef bytes name = str(host).encode("ascii", "replace")
        cdef int p = int(port)
        if p < 0 or p > 65535:
            return None
        if self.family == AF_INET:
            memset(&v4, 0, sizeof(v4))
            v4.sin_family = AF_INET
            v4.sin_port = htons(<unsigned short>p)
            if inet_pton(AF_INET, name, &v4.sin_addr) != 1:
                return None
            packed = PyBytes_FromStringAndSize(<char*>&v4, sizeof(v4))
        else:
            memset(&v6, 0, sizeof(v6))
            v6.sin6_family = AF_INET6
            v6.sin6_port = htons(<unsigned short>p)
            if inet_pton(AF_INET6, name, &v6.sin6_addr) != 1:
                return None
            packed = PyBytes_FromStringAndSize(<char*>&v6, sizeof(v6))
        if len(self._dests) >= _CACHE_MAX:
            self._dests.clear()
        self._dests[addr] = packed
        return packed

    def send(self, list items):
        """Send every (data, (host, port)); returns how many could not be sent."""
        cdef Py_ssize_t total = len(items)
        cdef Py_ssize_t start = 0
        cdef Py_ssize_t failed = 0
        cdef unsigned int count, i
        cdef int n
        cdef bytes data
        cdef bytes name
        cdef mmsghdr* m
        cdef list keep = []  # the packed names, alive until the call returns
        while start < total:
            count = 0
            while count < self.batch and start + count < total:
                item = items[start + count]
                data = <bytes?>item[0]
                name = self._dest(item[1])
                if name is None:
                    break
                keep.append(name)
                m = &self.out_msgs[count]
                self.out_iovs[count].iov_base = PyBytes_AS_STRING(data)
                self.out_iovs[count].iov_len = PyBytes_GET_SIZE(data)
                m.msg_hdr.msg_name = PyBytes_AS_STRING(name)
                m.msg_hdr.msg_namelen = <socklen_t>PyBytes_GET_SIZE(name)
                count += 1
            if count == 0:
                # A destination that is no IP literal of this socket's family.
                failed += 1
                self.last_errno = 0
                start += 1
                continue
            n = sendmmsg(self.fd, self.out_msgs, count, MSG_DONTWAIT)
            if n < 0:
                if errno == EINTR:
                    continue
                # The first datagram failed (a full send buffer, an unreachable
                # address): skip it, as a lost datagram, and go on with the rest.
                self.last_errno = errno
                failed += 1
                start += 1
                continue
            start += n
            self.sent += <unsigned long long>n
        self.send_errors += <unsigned long long>failed
        return failed
