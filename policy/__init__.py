"""callpolicy's policy core: rule files, rules engine, compiled snapshot, decisions.

``server/`` and ``sip_edge/`` import only the names exported here; this package imports
neither of them (layers depend one way).
"""

from .account import CompiledAccount, compile_account
from .authorize import decide
from .compile import Snapshot, compile_dir, compile_rules
from .errors import AccountError, EngineError, RuleError, RuleErrors, RuleWarning
from .explain import Explanation, explain
from .load import RuleSet, load_rules
from .model import AccountPolicy, Call, Decision, Identity, RuleRef, SipAnswer
from .numbers import NumberError, canonical, canonical_prefix
from .published import PublishedEntry, published_blocks
from .snapshot_file import load_snapshot, save_snapshot

__all__ = [
    "AccountError",
    "AccountPolicy",
    "Call",
    "CompiledAccount",
    "Decision",
    "EngineError",
    "Explanation",
    "Identity",
    "NumberError",
    "PublishedEntry",
    "RuleError",
    "RuleErrors",
    "RuleRef",
    "RuleSet",
    "RuleWarning",
    "SipAnswer",
    "Snapshot",
    "canonical",
    "canonical_prefix",
    "compile_account",
    "compile_dir",
    "compile_rules",
    "decide",
    "explain",
    "load_rules",
    "load_snapshot",
    "published_blocks",
    "save_snapshot",
]
