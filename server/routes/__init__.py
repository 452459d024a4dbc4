"""The route handlers, one module per concern; ``server.app`` mounts them under /v1."""

from __future__ import annotations

from litestar import Router
from litestar.handlers import HTTPRouteHandler

from . import accounts, blocks, rules
from .decisions import decisions
from .health import health, ready
from .published import operator_blocks

__all__ = ["V1_HANDLERS", "health", "ready"]

V1_HANDLERS: list[Router | HTTPRouteHandler] = [
    accounts.router,
    blocks.router,
    rules.router,
    decisions,
    operator_blocks,
]
"""Everything under ``/v1`` (authenticated)."""
