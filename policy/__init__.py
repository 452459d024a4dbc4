"""callpolicy's policy core: rule files, rules engine, compiled snapshot, decisions.

``server/`` and ``sip_edge/`` import only the names exported here; this package imports
neither of them (layers depend one way).
"""

from .account import CompiledAccount, compile_account
from .accounts import Account, BlockTarget, ChangeEvent, Charge, Principal, Site, UnblockOutcome
from .authorize import decide
from .compile import Snapshot, compile_dir, compile_rules
from .customer import CustomerError, UnblockQuote
from .errors import AccountError, EngineError, RuleError, RuleErrors, RuleWarning
from .explain import Explanation, explain
from .load import RuleSet, load_rules
from .model import AccountPolicy, Call, Decision, Identity, NumberRange, RuleRef, SipAnswer
from .numbers import NumberError, canonical, canonical_prefix
from .published import PublishedEntry, published_blocks
from .runtime import PolicyRuntime, RulesInfo
from .snapshot_file import load_snapshot, save_snapshot

__all__ = [
    "Account",
    "AccountError",
    "AccountPolicy",
    "BlockTarget",
    "Call",
    "ChangeEvent",
    "Charge",
    "CompiledAccount",
    "CustomerError",
    "Decision",
    "EngineError",
    "Explanation",
    "Identity",
    "NumberError",
    "NumberRange",
    "PolicyRuntime",
    "Principal",
    "PublishedEntry",
    "RuleError",
    "RuleErrors",
    "RuleRef",
    "RuleSet",
    "RuleWarning",
    "RulesInfo",
    "SipAnswer",
    "Site",
    "Snapshot",
    "UnblockOutcome",
    "UnblockQuote",
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
