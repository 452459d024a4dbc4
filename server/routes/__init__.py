"""The route handlers, one module per concern; ``server.app`` mounts them under /v1."""

from __future__ import annotations

from litestar import Router
from litestar.handlers import HTTPRouteHandler

from . import accounts, blocks, keys, numbers, rules
from .decisions import decisions
from .health import health, ready
from .published import operator_blocks

__all__ = ["PUBLIC_V1_HANDLERS", "V1_HANDLERS", "health", "ready"]

V1_HANDLERS: list[Router | HTTPRouteHandler] = [
    accounts.router,
    blocks.router,
    numbers.router,
    keys.router,
    rules.router,
    decisions,
]
"""Everything under ``/v1`` that needs a key (authenticated by ``ApiKeyAuth``)."""

PUBLIC_V1_HANDLERS: list[Router | HTTPRouteHandler] = [operator_blocks]
"""Under ``/v1`` without a key: public information (clause 9.5, the operator block list)."""
