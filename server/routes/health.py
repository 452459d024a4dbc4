"""Liveness and readiness, unauthenticated (for load balancers and orchestrators)."""

from __future__ import annotations

from litestar import Response, get

from server.deps import ServicesDep
from server.schemas import HealthV1, ReadyV1

__all__ = ["health", "ready"]


@get("/health", sync_to_thread=False, tags=["health"])
def health(services: ServicesDep) -> HealthV1:
    """The process serves; ``degraded`` names the parts that do not work (200 either way)."""
    state, message = services.follower.status
    if state == "OK":
        return HealthV1(status="ok", rules_follower=state)
    return HealthV1(
        status="degraded", rules_follower=f"{state}: {message}", degraded=["rules_follower"]
    )


@get("/ready", sync_to_thread=True, tags=["health"])
def ready(services: ServicesDep) -> Response[ReadyV1]:
    """200 when rules are loaded and the store answers, else 503."""
    revision = services.runtime.snapshot.revision
    try:
        services.store.last_seq()
    except Exception as exc:  # noqa: BLE001  # any failure means "not ready", with the reason
        problem = f"{type(exc).__name__}: {exc}"
        body = ReadyV1(status="not_ready", rules_revision=revision, store=problem)
        return Response(body, status_code=503)
    return Response(ReadyV1(status="ready", rules_revision=revision, store="ok"))
