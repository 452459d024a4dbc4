"""The one mutable global: the current compiled snapshot, swapped atomically on reload.

A reload compiles the new rules beside the running ones and swaps a single reference only
after everything validated; a reload that fails (rule errors, engine timeout) raises and
leaves the running snapshot in place (kamailio mtree: free new on error, swap on success).
Compiled accounts are cached per (account, version, snapshot revision), bounded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from msgspec import Struct

from policy.compiler.compile import Snapshot, compile_dir
from policy.percall.account import CompiledAccount, compile_account
from policy.percall.authorize import decide
from policy.rules.model import Call, Decision
from policy.state.accounts import Account

__all__ = ["PolicyRuntime", "RulesInfo"]


class RulesInfo(Struct, frozen=True, kw_only=True):
    """What is running: reload count, rule revision, when it was loaded (seconds)."""

    version: int
    revision: str
    loaded_at: float
    directory: str
    classes: int
    prefixes: int


class PolicyRuntime:
    """Holds the running snapshot and the compiled accounts of the API and the edge."""

    def __init__(
        self,
        rules_dir: str,
        now: float,
        compiler: Callable[[str], Snapshot] = compile_dir,
        cache_size: int = 100_000,
    ) -> None:
        self._dir = rules_dir
        self._compiler = compiler
        self._reload_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, int, str], CompiledAccount] = OrderedDict()
        self._cache_size = cache_size
        self._snapshot = compiler(rules_dir)
        self._info = self._make_info(1, now)

    def _make_info(self, version: int, now: float) -> RulesInfo:
        snap = self._snapshot
        return RulesInfo(
            version=version,
            revision=snap.revision,
            loaded_at=now,
            directory=self._dir,
            classes=len(snap.classes),
            prefixes=len(snap.trie),
        )

    @property
    def snapshot(self) -> Snapshot:
        """The running snapshot (read once per request: it may be swapped any time)."""
        return self._snapshot

    @property
    def info(self) -> RulesInfo:
        """Version, revision and load time of the running rules."""
        return self._info

    def reload(self, now: float) -> RulesInfo:
        """Compile the rules directory again and swap it in; on any error keep the old one."""
        with self._reload_lock:
            new = self._compiler(self._dir)  # raises RuleErrors / EngineError: nothing swapped
            self._snapshot = new  # the swap: one reference assignment
            self._info = self._make_info(self._info.version + 1, now)
            with self._cache_lock:
                self._cache.clear()
            return self._info

    def compiled(self, account: Account, snapshot: Snapshot | None = None) -> CompiledAccount:
        """The account compiled against ``snapshot`` (default: the running one), cached."""
        snap = snapshot or self._snapshot
        key = (account.id, account.version, snap.revision)
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        compiled = compile_account(snap, account.policy())
        with self._cache_lock:
            self._cache[key] = compiled
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return compiled

    def decide(self, account: Account, call: Call) -> Decision:
        """Decide one call of ``account`` with the running rules."""
        snap = self._snapshot
        return decide(snap, call, self.compiled(account, snap))
