"""sip_edge/core/transaction.py: INVITE transactions driven by deadlines (no sleep)."""

from __future__ import annotations

from sip_edge.core.transaction import (
    ACK,
    ACK_FORWARD,
    DROP,
    FORWARD,
    ClientInvite,
    ServerInvite,
    TimerConfig,
)

T = TimerConfig()


def run(txn: ServerInvite | ClientInvite, until: float) -> list[tuple[float, object]]:
    seen: list[tuple[float, object]] = []
    while txn.deadline is not None and txn.deadline <= until:
        now = txn.deadline
        seen.append((now, txn.on_timer(now)))
    return seen


def test_server_completed_retransmits_until_h() -> None:
    txn = ServerInvite(("b", "c"), ("127.0.0.2", 5061), T)
    txn.respond(b"403", 403, 0.0)
    fired = run(txn, 100.0)
    resends = [t for t, (data, _) in fired if data == b"403"]  # type: ignore[misc]
    assert resends == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert fired[-1] == (32.0, (None, True))  # Timer H: no ACK came
    assert txn.state == "terminated"


def test_server_ack_confirms_and_timer_i_ends() -> None:
    txn = ServerInvite(("b", "c"), ("127.0.0.2", 5061), T)
    txn.respond(b"486", 486, 0.0)
    txn.on_ack(0.2)
    assert txn.state == "confirmed" and txn.deadline == 5.2
    assert run(txn, 10.0) == [(5.2, (None, False))]
    assert txn.state == "terminated"


def test_server_accepted_absorbs_retransmissions_after_2xx() -> None:
    txn = ServerInvite(("b", "c"), ("127.0.0.2", 5061), T)
    txn.respond(b"100", 100, 0.0)
    assert txn.on_retransmission() == b"100"
    txn.respond(b"200", 200, 1.0)
    assert txn.state == "accepted" and txn.on_retransmission() is None
    run(txn, 100.0)
    assert txn.state == "terminated"


def test_client_timer_a_doubles_and_b_times_out() -> None:
    txn = ClientInvite("br", ("127.0.0.1", 5070), b"INVITE", 0.0, T)
    fired = run(txn, 40.0)
    assert [t for t, ev in fired if ev == ["retransmit"]] == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert fired[-1] == (32.0, ["timeout"])


def test_client_responses() -> None:
    txn = ClientInvite("br", ("127.0.0.1", 5070), b"INVITE", 0.0, T)
    assert txn.on_response(180, 0.1) == FORWARD
    assert "A" not in txn.timers and "B" not in txn.timers and txn.provisional
    assert txn.on_response(486, 0.2) == ACK_FORWARD
    assert txn.on_response(486, 0.3) == ACK
    assert txn.on_response(180, 0.3) == DROP
    assert run(txn, 40.0) == [(32.2, ["terminated"])]


def test_client_timer_c_cancels_once_then_gives_up() -> None:
    txn = ClientInvite("br", ("127.0.0.1", 5070), b"INVITE", 0.0, TimerConfig(c=10.0))
    txn.on_response(180, 1.0)
    fired = run(txn, 100.0)
    assert fired == [(11.0, ["cancel"]), (43.0, ["timeout"])]


def test_client_cancel_retransmits_until_answered() -> None:
    txn = ClientInvite("br", ("127.0.0.1", 5070), b"INVITE", 0.0, T)
    txn.on_response(180, 0.0)
    txn.start_cancel(b"CANCEL", 1.0)
    assert run(txn, 2.0) == [(1.5, ["resend_cancel"])]
    txn.cancel_answered()
    assert "E" not in txn.timers
