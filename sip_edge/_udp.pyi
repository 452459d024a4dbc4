"""Types of the batched UDP socket (sip_edge/_udp.pyx)."""

class BatchSocket:
    received: int
    truncated: int
    recv_errors: int
    sent: int
    send_errors: int
    last_errno: int
    def __init__(self, fd: int, family: int, batch: int = 64, size: int = 65535) -> None: ...
    def recv(self) -> list[tuple[bytes, tuple[str, int]]]: ...
    def send(self, items: list[tuple[bytes, tuple[str, int]]]) -> int: ...
