"""The floor of the SIP benchmark: a bare uvloop UDP responder, no proxy logic at all.

    python benchmarks/peers/bare_responder.py PORT WORKERS

It finds five headers (Via, From, To, Call-ID, CSeq) in each INVITE and answers 403,
ignores ACKs and answers OPTIONS 200 (the benchmark's readiness ping): what any Python
process on uvloop pays per blocked call for the event loop and the system calls, which
``benchmarks/sip.py --proxies bare`` measures beside the edge and Kamailio. Not a proxy:
no policy, no transactions, no validation.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import uvloop

_KEEP = (b"via:", b"from:", b"to:", b"call-id:", b"cseq:")


class Responder(asyncio.DatagramProtocol):
    """INVITE -> 403, OPTIONS -> 200, anything else ignored."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.startswith(b"INVITE "):
            status = b"SIP/2.0 403 Forbidden\r\n"
        elif data.startswith(b"OPTIONS "):
            status = b"SIP/2.0 200 OK\r\n"
        else:
            return
        head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
        keep = [line for line in head if line.lower().startswith(_KEEP)]
        out = status + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n"
        self.transport.sendto(out, addr)  # type: ignore[attr-defined]


async def serve(port: int) -> None:
    """One worker on ``port`` (SO_REUSEPORT), until killed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(Responder, sock=sock)
    await asyncio.Event().wait()


def main() -> None:
    """Fork WORKERS - 1 children; every process serves the port."""
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    for _ in range(workers - 1):
        if os.fork() == 0:
            break
    uvloop.run(serve(port))


if __name__ == "__main__":
    main()
