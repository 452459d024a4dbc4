"""The edge's configuration (``config/edge.toml``): one msgspec Struct, checked at start.

Carriers are not configured here: their addresses come from ``rules/carriers.toml`` (the
operator's routes), so a rules reload moves them. Customer trunks are recognised by
source address: an IP alone matches any port, ``ip:port`` only that port (exact matches
win). Addresses are IP literals: the sans-IO core never resolves names.

Every mistake raises :class:`ConfigError` whose message starts with the key
(``edge config: trunk[1].address: expected ...``), at start-up, never at the first call.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import msgspec

from sip_edge.wire.message import is_digits

__all__ = [
    "MODES",
    "ConfigError",
    "EdgeConfig",
    "LimitsConfig",
    "ListenConfig",
    "LoggingConfig",
    "ShutdownConfig",
    "TimersConfig",
    "Trunk",
    "load_config",
    "parse_address",
]


#: The edge's modes (``mode``): a proxy, or a redirect server for an SBC in front of it.
MODES = ("proxy", "redirect")


class ConfigError(ValueError):
    """A configuration value is wrong; the message starts with the key."""

    def __init__(self, key: str, message: str) -> None:
        """``key`` in config syntax (``trunk[0].address``)."""
        self.key = key
        super().__init__(f"edge config: {key}: {message}")


def parse_address(text: str, port_required: bool) -> tuple[str, int | None]:
    """``ip``, ``ip:port`` or ``[v6]:port`` -> (ip, port); ValueError if it is not one."""
    host, port = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else rest
        if rest and not rest.startswith(":"):
            raise ValueError(text)
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    ipaddress.ip_address(host)  # raises ValueError
    if port:
        if not is_digits(port) or not 0 < int(port) < 65536:
            raise ValueError(text)
        return host, int(port)
    if port_required:
        raise ValueError(text)
    return host, None


class ListenConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the edge listens."""

    host: str = "127.0.0.1"
    """IP address to bind (UDP, and TCP if ``tcp``)."""
    port: int = 5060
    """UDP port to bind (TCP the same); 0 picks a free one (tests)."""
    advertise: str = ""
    """``ip:port`` written into Via and Record-Route (default: host:port as bound)."""
    workers: int = 1
    """Worker processes sharing the port with SO_REUSEPORT (Linux)."""
    tcp: bool = True
    """Also accept SIP over TCP on host:port (RFC 3261 18); answers go back on the connection."""
    max_tcp_connections: int = 1024
    """Live TCP connections per worker; a connection beyond it is closed at once."""
    tcp_idle_timeout: float = 300.0
    """Seconds without a byte from the peer (CRLF keep-alives count) before closing."""


class LimitsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Bounds that keep a peer from growing the edge's memory or work without limit."""

    max_message_bytes: int = 16_384
    """Larger datagrams are dropped."""
    max_in_flight: int = 5_000
    """INVITEs without a final response; past it new calls get 503 (emergency excepted)."""
    max_transactions: int = 50_000
    """All INVITE transactions kept (incl. completed ones absorbing retransmissions)."""
    emergency_reserve: int = 1_000
    """Transaction-table slots kept for 110/112 (clause 9.3): other calls are shed before
    taking them; ``max_in_flight + emergency_reserve`` must fit in ``max_transactions``."""
    shed_after: float = 0.2
    """Seconds a worker may stay behind on a socket (every wake-up finding more waiting
    than it reads) before it sheds new calls with 503: a reload, a garbage collection or
    a busy neighbour holds a worker up for longer than its backlog lasts at full rate,
    and the backlog is worked off well within T1 (0.5 s, when requests are resent).
    0: shed at the first full wake-up."""


class TimersConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """RFC 3261 timers (seconds)."""

    t1: float = 0.5
    """RTT estimate; Timer A/E/G start here, B/F/H are 64*T1."""
    t2: float = 4.0
    """Longest retransmission interval of non-INVITE requests and final responses."""
    t4: float = 5.0
    """Longest time a message stays in the network (Timer I)."""
    c: float = 180.0
    """Proxy Timer C: longest ringing set-up."""


class LoggingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the edge logs besides events (the format: ``--log-format``, shared with the API)."""

    stats_interval: float = 60.0
    """Seconds between two log lines of the worker's counters; 0: only when it stops."""


class DecisionLogConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[decision_log]``: one JSON line per refused call (issue 12), with its id."""

    path: str = ""
    """The log file ('' writes none; refusals still carry their decision id). With several
    workers each appends ``<path>.<worker>``."""
    mask_digits: int = 4
    """Trailing digits of dialled numbers hidden in the log."""
    max_bytes: int = 100 * 2**20
    """Size at which the file is rotated (``path.1`` ... ``path.5``)."""


class AdminConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[admin]``: the listener of ``/metrics``, ``/health`` and ``/ready`` (sip_edge/admin.py)."""

    host: str = "127.0.0.1"
    """Loopback by default: the metrics are the operator's, not the customers'."""
    port: int = 0
    """0: no listener. With several workers, worker n listens on ``port + n``."""


class ShutdownConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How SIGTERM stops a worker."""

    drain_timeout: float = 32.0
    """Seconds the calls in set-up get to reach a final response before the worker exits
    anyway (new calls meanwhile get 503 with Retry-After). 32 s = 64*T1, Timer B."""


class Trunk(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A customer trunk: its source address and the account its calls belong to."""

    address: str
    """``ip`` (any port) or ``ip:port``."""
    account: str
    """The store's account id."""


class EdgeConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything ``python -m sip_edge`` needs besides the rules and the store."""

    mode: str = "proxy"
    """``proxy``: the edge forwards every call itself (RFC 3261 16). ``redirect``: it
    answers each INVITE with the refusal, or with 302 naming the route and the identity
    to assert, for an SBC that asks per INVITE (RFC 3261 8.3, ``sip_edge/core/redirect.py``)."""
    data_plane: str = "c"
    """``c``: in proxy mode, the UDP socket is read by the C data plane, which answers the
    plain refused call itself and hands everything else to the Python core
    (``sip_edge/fast/``). ``python``: the core reads every datagram (the reference)."""
    data_plane_pause_ms: float = 5.0
    """Read moderation of the C data plane: the longest its thread waits after a read that
    found datagrams (and less than a full batch). While they come fast enough for such a
    wait to gather four, it waits until about eight have arrived (at most this long), so
    a busy worker reads, answers and hands to the Python core several datagrams per
    wake-up instead of one (``sip_edge/fast/readers.c``). Costs a message at most this
    much time in the edge, and only while a socket reads 800 datagrams/s or more (at
    5 ms); a slower or idle worker reads at once. 0: off; at most 10."""
    listen: ListenConfig = ListenConfig()
    psap: str = ""
    """``ip:port`` of the emergency-call interface (the PSAP network's ingress)."""
    trunk: tuple[Trunk, ...] = ()
    limits: LimitsConfig = LimitsConfig()
    timers: TimersConfig = TimersConfig()
    logging: LoggingConfig = LoggingConfig()
    shutdown: ShutdownConfig = ShutdownConfig()
    decision_log: DecisionLogConfig = DecisionLogConfig()
    admin: AdminConfig = AdminConfig()

    def __post_init__(self) -> None:
        """Check every key; raise ConfigError naming the first wrong one."""
        self._check_modes()
        _check_listen(self.listen)
        if not self.psap:
            raise ConfigError("psap", "expected ip:port of the emergency interface, got nothing")
        _addr("psap", self.psap, True)
        seen: dict[tuple[str, int | None], int] = {}
        for i, trunk in enumerate(self.trunk):
            addr = _addr(f"trunk[{i}].address", trunk.address, False)
            if addr in seen:
                raise ConfigError(
                    f"trunk[{i}].address", f"{trunk.address!r} is already trunk[{seen[addr]}]"
                )
            seen[addr] = i
            if not trunk.account:
                raise ConfigError(f"trunk[{i}].account", "expected an account id, got ''")
        lim = self.limits
        for key, value, low in (
            ("max_message_bytes", lim.max_message_bytes, 1024),
            ("max_in_flight", lim.max_in_flight, 1),
            ("emergency_reserve", lim.emergency_reserve, 1),
            ("max_transactions", lim.max_transactions, lim.max_in_flight + lim.emergency_reserve),
        ):
            if value < low:
                raise ConfigError(f"limits.{key}", f"expected at least {low}, got {value}")
        if lim.max_message_bytes > 65_535:
            raise ConfigError("limits.max_message_bytes", "expected at most 65535 (UDP)")
        for key in ("t1", "t2", "t4", "c"):
            if not getattr(self.timers, key) > 0:
                raise ConfigError(f"timers.{key}", "expected a positive number of seconds")
        _check_seconds("limits.shed_after", lim.shed_after, 10)
        _check_seconds("logging.stats_interval", self.logging.stats_interval, 86_400)
        _check_seconds("shutdown.drain_timeout", self.shutdown.drain_timeout, 3_600)

    def _check_modes(self) -> None:
        """The proxy or redirect mode and the data plane's keys."""
        if self.mode not in MODES:
            raise ConfigError("mode", f'expected "proxy" or "redirect", got {self.mode!r}')
        if self.data_plane not in ("c", "python"):
            raise ConfigError("data_plane", f'expected "c" or "python", got {self.data_plane!r}')
        if not 0.0 <= self.data_plane_pause_ms <= 10.0:
            raise ConfigError(
                "data_plane_pause_ms",
                f"expected 0 to 10 milliseconds, got {self.data_plane_pause_ms!r}",
            )

    def trunk_addresses(self) -> dict[tuple[str, int | None], str]:
        """(ip, port or None) -> account id."""
        return {parse_address(t.address, False): t.account for t in self.trunk}

    def psap_address(self) -> tuple[str, int]:
        """The PSAP interface as (ip, port)."""
        host, port = parse_address(self.psap, True)
        assert port is not None
        return host, port


def _check_listen(listen: ListenConfig) -> None:
    try:
        ipaddress.ip_address(listen.host)
    except ValueError:
        raise ConfigError("listen.host", f"expected an IP address, got {listen.host!r}") from None
    if not 0 <= listen.port < 65536:
        raise ConfigError("listen.port", f"expected 0-65535, got {listen.port}")
    if listen.advertise:
        _addr("listen.advertise", listen.advertise, True)
    if not 1 <= listen.workers <= 64:
        raise ConfigError("listen.workers", f"expected 1-64, got {listen.workers}")
    if not 1 <= listen.max_tcp_connections <= 1_000_000:
        raise ConfigError(
            "listen.max_tcp_connections", f"expected 1-1000000, got {listen.max_tcp_connections}"
        )
    if not 0 < listen.tcp_idle_timeout <= 86_400:  # also refuses nan and inf
        raise ConfigError(
            "listen.tcp_idle_timeout",
            f"expected seconds above 0, at most 86400, got {listen.tcp_idle_timeout}",
        )


def _check_seconds(key: str, value: float, most: float) -> None:
    if not 0 <= value <= most:  # also refuses nan and inf
        raise ConfigError(key, f"expected seconds from 0 to {most}, got {value}")


def _addr(key: str, text: str, port_required: bool) -> tuple[str, int | None]:
    try:
        return parse_address(text, port_required)
    except ValueError:
        want = "ip:port" if port_required else "ip or ip:port"
        raise ConfigError(key, f"expected {want} (an IP literal), got {text!r}") from None


def load_config(path: str) -> EdgeConfig:
    """Read and check ``path`` (TOML); raise ConfigError naming the wrong key."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError("file", f"cannot read {path}: {exc.strerror}") from None
    try:
        return msgspec.toml.decode(data, type=EdgeConfig)
    except msgspec.ValidationError as exc:
        # msgspec says "Expected `int`, got `str` - at `$.listen.port`": lead with the key.
        text = str(exc)
        if text.startswith("edge config: "):  # raised by __post_init__, passed through
            key, _, message = text.removeprefix("edge config: ").partition(": ")
            raise ConfigError(key, message) from None
        message, _, where = text.rpartition(" - at `")
        key = where.rstrip("`").removeprefix("$.") if where else "file"
        raise ConfigError(key or "file", message or text) from None
    except msgspec.DecodeError as exc:
        raise ConfigError("file", f"{path} is not valid TOML: {exc}") from None
