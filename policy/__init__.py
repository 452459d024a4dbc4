"""callpolicy's policy core: rule files, rules engine, compiled snapshot, decisions.

``server/`` and ``sip_edge/`` import only the names exported here; this package imports
neither of them (layers depend one way).
"""

from .account import CompiledAccount, compile_account
from .accounts import (
    Account,
    BlockTarget,
    ChangeEvent,
    Charge,
    Principal,
    Role,
    Site,
    UnblockOutcome,
)
from .authorize import decide
from .compile import Snapshot, compile_dir, compile_rules
from .customer import (
    CustomerError,
    UnblockQuote,
    add_block,
    apply_unblock,
    move_site,
    quote_unblock,
    refuse,
    resolve_site,
)
from .dialer import Escalation, WindowTotal, escalate
from .errors import AccountError, EngineError, RuleError, RuleErrors, RuleWarning
from .explain import Explanation, explain
from .follower import FeedFollower, State
from .load import RuleSet, load_rules
from .model import (
    AccountPolicy,
    Call,
    Carrier,
    Decision,
    Identity,
    NumberRange,
    PowerDialerFile,
    RuleRef,
    SipAnswer,
)
from .numbers import NumberError, canonical, canonical_prefix
from .published import PublishedEntry, published_blocks, to_csv
from .reasons import sip_answer
from .runtime import PolicyRuntime, RulesInfo
from .snapshot_file import load_snapshot, save_snapshot
from .store import (
    AccountExists,
    AccountNotFound,
    IdempotencyConflict,
    Store,
    StoreError,
    open_store,
)

__all__ = [
    "Account",
    "AccountError",
    "AccountExists",
    "AccountNotFound",
    "AccountPolicy",
    "BlockTarget",
    "Call",
    "Carrier",
    "ChangeEvent",
    "Charge",
    "CompiledAccount",
    "CustomerError",
    "Decision",
    "EngineError",
    "Escalation",
    "Explanation",
    "FeedFollower",
    "IdempotencyConflict",
    "Identity",
    "NumberError",
    "NumberRange",
    "PolicyRuntime",
    "PowerDialerFile",
    "Principal",
    "PublishedEntry",
    "Role",
    "RuleError",
    "RuleErrors",
    "RuleRef",
    "RuleSet",
    "RuleWarning",
    "RulesInfo",
    "SipAnswer",
    "Site",
    "Snapshot",
    "State",
    "Store",
    "StoreError",
    "UnblockOutcome",
    "UnblockQuote",
    "WindowTotal",
    "add_block",
    "apply_unblock",
    "canonical",
    "canonical_prefix",
    "compile_account",
    "compile_dir",
    "compile_rules",
    "decide",
    "escalate",
    "explain",
    "load_rules",
    "load_snapshot",
    "move_site",
    "open_store",
    "published_blocks",
    "quote_unblock",
    "refuse",
    "resolve_site",
    "save_snapshot",
    "sip_answer",
    "to_csv",
]
