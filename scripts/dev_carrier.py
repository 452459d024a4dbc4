"""A tiny answering carrier (and PSAP) for `make run`: every call it gets is answered.

Listens on UDP at the loopback addresses of the carriers in RULES/carriers.toml and of
the PSAP in the edge config, and answers as a user agent server that always picks up
(RFC 3261 8.2): INVITE -> 100 Trying, 180 Ringing, 200 OK with an SDP answer (the
offer's first format); ACK -> nothing; BYE, CANCEL, OPTIONS -> 200; anything else ->
501. A retransmitted request gets the same answer again. A carrier address that is not
loopback is skipped (that is a real carrier: this one is for development only).

    python scripts/dev_carrier.py --rules rules --config config/edge.toml
    python scripts/dev_carrier.py --listen 127.0.0.1:5070 --listen 127.0.0.1:5072

No media, no requests of its own, and the 200 is not retransmitted until the ACK
(loopback does not lose datagrams). Logs one event per request (policy.configure_logging).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import ipaddress
import logging
import os
import signal
import tomllib
import typing
from collections import OrderedDict

from policy import LOG_FORMATS, configure_logging

log = logging.getLogger("callpolicy.dev_carrier")
Addr = tuple[str, int]

#: Compact header forms (RFC 3261 7.3.3) of the headers an answer copies.
_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "l": "content-length"}
#: Answers remembered for retransmissions, oldest forgotten first.
_REMEMBER = 1000


def parse(data: bytes) -> tuple[str, dict[str, list[str]], bytes]:
    """Start line, headers (lower-case names, compact forms expanded) and body."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            headers.setdefault(_COMPACT.get(key, key), []).append(value.strip())
    return lines[0], headers, body


def sdp_answer(offer: bytes, host: str) -> bytes:
    """Accept the offer's first media line with its first format (PCMA if no offer)."""
    media, rtpmap = "audio 40000 RTP/AVP 8", ["a=rtpmap:8 PCMA/8000"]
    lines = offer.decode("utf-8", "replace").splitlines()
    for line in lines:
        if line.startswith("m=") and len(line[2:].split()) >= 4:
            kind, _, proto, fmt = line[2:].split()[:4]
            media = f"{kind} 40000 {proto} {fmt}"
            rtpmap = [x for x in lines if x.startswith((f"a=rtpmap:{fmt} ", f"a=fmtp:{fmt} "))]
            break
    family = "IP6" if ":" in host else "IP4"
    sdp = ["v=0", f"o=carrier 1 1 IN {family} {host}", "s=-", f"c=IN {family} {host}"]
    sdp += ["t=0 0", f"m={media}", *rtpmap]
    return ("\r\n".join(sdp) + "\r\n").encode()


class Carrier(asyncio.DatagramProtocol):
    """One listening address; answers every request as described above."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.transport: asyncio.DatagramTransport | None = None
        self.answered: OrderedDict[tuple[str, str, str], list[bytes]] = OrderedDict()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        if not data.strip() or data.startswith(b"SIP/2.0 "):
            return  # keep-alives and responses: nothing to answer
        try:
            start, headers, body = parse(data)
            method = start.split(" ", 1)[0]
            via = headers.get("via", [""])[0]
            key = (headers.get("call-id", [""])[0], via, method)
        except (IndexError, ValueError):
            return
        if method == "ACK":
            return
        answers = self.answered.get(key)
        if answers is None:
            answers = self.answer(method, headers, body)
            self.answered[key] = answers
            if len(self.answered) > _REMEMBER:
                self.answered.popitem(last=False)
            log.info(
                "dev carrier %s:%d: %s -> %s",
                self.host,
                self.port,
                start.rsplit(" ", 1)[0],
                answers[-1].split(b"\r\n", 1)[0].decode(),
                extra={"peer": f"{addr[0]}:{addr[1]}"},
            )
        assert self.transport is not None
        for answer in answers:
            self.transport.sendto(answer, addr)

    def answer(self, method: str, headers: dict[str, list[str]], body: bytes) -> list[bytes]:
        """The responses to one new request, in order."""
        call_id = headers.get("call-id", [""])[0]
        tag = hashlib.sha256(call_id.encode()).hexdigest()[:10]

        def response(status: int, reason: str, content: bytes = b"") -> bytes:
            to = headers.get("to", [""])[0]
            if status > 100 and ";tag=" not in to:
                to += f";tag={tag}"
            lines = [f"SIP/2.0 {status} {reason}"]
            lines += [f"Via: {v}" for v in headers.get("via", [])]
            lines += [f"From: {headers.get('from', [''])[0]}", f"To: {to}"]
            lines += [f"Call-ID: {call_id}", f"CSeq: {headers.get('cseq', [''])[0]}"]
            if method == "INVITE" and status > 100:
                # RFC 3261 12.1.1: the dialog's route set is the Record-Route, copied back.
                lines += [f"Record-Route: {r}" for r in headers.get("record-route", [])]
                lines.append(f"Contact: <sip:carrier@{self.host}:{self.port}>")
            if content:
                lines.append("Content-Type: application/sdp")
            lines.append(f"Content-Length: {len(content)}")
            return ("\r\n".join(lines) + "\r\n\r\n").encode() + content

        if method == "INVITE":
            sdp = sdp_answer(body, self.host)
            return [response(100, "Trying"), response(180, "Ringing"), response(200, "OK", sdp)]
        if method in ("BYE", "CANCEL", "OPTIONS"):
            return [response(200, "OK")]
        return [response(501, "Not Implemented")]


def _address(text: str) -> Addr:
    host, _, port = text.strip("[]").rpartition(":")
    return host.strip("[]"), int(port)


def addresses(rules: str | None, config: str | None, listen: list[str]) -> list[Addr]:
    """The loopback addresses to answer on: --listen, the carriers and the PSAP."""
    found = [_address(a) for a in listen]
    if rules:
        with open(os.path.join(rules, "carriers.toml"), "rb") as fh:
            found += [_address(c["address"]) for c in tomllib.load(fh).get("carrier", [])]
    if config:
        with open(config, "rb") as fh:
            psap = tomllib.load(fh).get("psap")
        if psap:
            found.append(_address(psap))
    chosen: list[Addr] = []
    for addr in found:
        if not ipaddress.ip_address(addr[0]).is_loopback:
            log.warning("dev carrier: %s:%d is not a loopback address: skipped", *addr)
        elif addr not in chosen:
            chosen.append(addr)
    return chosen


async def serve(addrs: list[Addr]) -> int:
    """Answer on every address that can be bound until SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()
    transports = []
    for host, port in addrs:
        try:
            transport, _ = await loop.create_datagram_endpoint(
                functools.partial(Carrier, host, port), local_addr=(host, port)
            )
        except OSError as exc:
            log.warning("dev carrier: cannot listen on %s:%d: %s", host, port, exc.strerror)
            continue
        transports.append(transport)
        log.info("dev carrier answering on udp %s:%d", host, port)
    if not transports:
        log.error("dev carrier: no address to listen on")
        return 1
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for transport in transports:
        transport.close()
    return 0


def main() -> int:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rules", help="rules directory: answer at its loopback carriers")
    p.add_argument("--config", help="edge config: answer at its PSAP address too")
    p.add_argument("--listen", action="append", default=[], metavar="IP:PORT")
    fmt = os.environ.get("CALLPOLICY_LOG_FORMAT", "json").lower()
    p.add_argument("--log-format", choices=LOG_FORMATS, default=fmt)
    args = p.parse_args()
    configure_logging(args.log_format)
    return asyncio.run(serve(addresses(args.rules, args.config, args.listen)))


if __name__ == "__main__":
    raise SystemExit(main())
