"""Types of the C decision's wrapper (sip_edge/fast/_cdecide.pyx; C API in decide.h)."""

from typing import Final, final

from policy import CompiledAccount, Snapshot

FALLBACK: Final[int]
ALLOW: Final[int]
REFUSE: Final[int]
EMERGENCY: Final[int]
ERRORS: Final[int]
CP_DECIDE: object
"""A PyCapsule holding the ``cp_decide`` function pointer."""

def uses_popcnt() -> bool: ...

@final
class CRules:
    @property
    def revision(self) -> str: ...
    @property
    def carriers(self) -> tuple[str, ...]: ...
    @property
    def rows(self) -> int: ...
    @property
    def table_rows(self) -> int: ...
    @classmethod
    def build(cls, snapshot: Snapshot) -> CRules: ...
    def decide(self, account: CAccount, dial: bytes) -> tuple[int, int, int, str] | None: ...
    def bench(self, account: CAccount, dial: bytes, n: int, cpu_time: bool = False) -> float: ...

@final
class CAccount:
    @property
    def rules(self) -> CRules: ...
    @property
    def account(self) -> str: ...
    @classmethod
    def build(cls, rules: CRules, compiled: CompiledAccount) -> CAccount: ...
