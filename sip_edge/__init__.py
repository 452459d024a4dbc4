"""The SIP edge: a proxy (RFC 3261) between customers' PBXs and the carriers.

A sans-IO core (``message``, ``sdp``, ``transaction``, ``limits``, ``rewrite``, ``proxy``)
under a thin asyncio shell (``transport`` for UDP, ``stream`` for TCP); ``follower``
applies store changes and rules reloads without a restart. See ``sip_edge/README.md``.
"""

from .config import ConfigError, EdgeConfig, load_config
from .core.proxy import CoreSettings, EdgeCore, Escalate, Peer
from .wire.message import Message, SipError, SipParseError, SipTransactionError, parse_message

__all__ = [
    "ConfigError",
    "CoreSettings",
    "EdgeConfig",
    "EdgeCore",
    "Escalate",
    "Message",
    "Peer",
    "SipError",
    "SipParseError",
    "SipTransactionError",
    "load_config",
    "parse_message",
]
