"""The rules engine: durable-rules decides what a destination's attributes mean.

The ruleset is fixed: its rules speak of a destination's attributes (the category's action,
length, the hard and default operator blocks that cover it, exceptions) and of an
account's state (suspended, customer-blocked, lifted), never of prefixes. Its priorities
ARE the precedence of DESIGN.md: emergency first; then a suspended account (clause 1);
then invalid or incomplete numbers; operator hard blocks; the customer's own blocks;
operator default blocks the customer has lifted (allow); operator default blocks; allow.
Which rule ids and reasons apply comes in as data.

Immunity to the traps of durable-rules 2.0.28 (``notes/durable-rules.md``), each tested
in ``tests/policy/test_engine.py``:

* 512+ alternatives on one field hang the engine: the ruleset has a fixed, small number of
  rules whatever the rule files say (prefixes live in the trie), and the compiler runs the
  engine in a child process with a timeout (:func:`evaluate_in_child`).
* A condition on the reserved ``id`` field hangs it too (found here): conditions are checked
  at import never to name ``id`` or ``sid``.
* Session ids collide and at most 1,024 sessions live: one session (``sid`` 1) is used for
  every event; events are consumed, so nothing accumulates in it.
* A ruleset cannot be registered twice and reloads leak: the ruleset is registered once per
  process and never changes; compiles evaluate in a fresh child process.
* Misspelt fields are accepted silently: every field a condition names is checked at import
  against :class:`Fact`, facts are msgspec Structs, and an event no rule answered is an
  :class:`~policy.errors.EngineError`.
* ``post()`` returns ``None`` from other threads: results are collected by the actions into
  a table keyed by event id, never taken from ``post()``; the Host's background thread is
  disabled and evaluation is serialised by a lock.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import msgspec

from policy.errors import EngineError

__all__ = [
    "RULESET",
    "Engine",
    "Fact",
    "LiftFact",
    "LiftVerdict",
    "Verdict",
    "evaluate_in_child",
]

RULESET_NAME = "callpolicy"
_SESSION = 1
CHILD_TIMEOUT = 60.0


class Fact(msgspec.Struct, frozen=True, kw_only=True):
    """What the engine knows about one (destination class, account state) pair."""

    action: Literal["classify", "emergency", "reject"]
    """The category's action (numbering_plan.toml)."""
    reject_reason: str = ""
    length: Literal["ok", "short", "long"] = "ok"
    hard_reason: str = ""
    """Reason of the operator hard block covering the number ('' if none)."""
    hard_excepted: bool = False
    default_reason: str = ""
    """Reason of the operator default block covering the number ('' if none)."""
    default_excepted: bool = False
    customer_blocked: bool = False
    lifted: bool = False
    """Whether the account has paid to lift the default block (clause 9.5)."""
    suspended: bool = False
    """Whether an operator suspended the account's outgoing calls (clause 1)."""


Source = Literal[
    "category",
    "suspension",
    "length",
    "hard",
    "customer",
    "lifted",
    "default",
    "exception",
    "allow",
]


class Verdict(msgspec.Struct, frozen=True):
    """The engine's answer: verdict, reason code, and which kind of rule gave it."""

    verdict: Literal["allow", "block", "emergency", "reject"]
    reason: str
    source: Source


LIFT_RULESET_NAME = "callpolicy_lift"


class LiftFact(msgspec.Struct, frozen=True, kw_only=True):
    """A request to lift a block (clause 9.5, Freischaltung), as the engine sees it."""

    target: Literal["customer", "operator"]
    """The customer's own block, or an operator default block."""
    blocked: bool
    """Whether the account is blocked there at all."""
    liftable: bool = True
    """For an operator block: whether the rule files let customers lift it."""
    fee_cents: int = 0
    """For an operator block: its fee (blocks.toml)."""
    customer_fee_cents: int = 0
    """The fee for lifting a customer's own block (blocks.toml)."""


class LiftVerdict(msgspec.Struct, frozen=True):
    """May the block be lifted, for what fee, and why."""

    allowed: bool
    fee_cents: int
    reason: Literal["not_blocked", "not_liftable", "operator_default_block", "customer_block"]


def _and(*conds: dict[str, Any]) -> dict[str, Any]:
    return {"$and": list(conds)}


_NOT_EXCEPTED_HARD = _and({"$neq": {"hard_reason": ""}}, {"hard_excepted": False})
_NOT_EXCEPTED_DEFAULT = _and({"$neq": {"default_reason": ""}}, {"default_excepted": False})

#: The ruleset in durable-rules' JSON form. Among matching rules only the lowest ``pri``
#: fires for an event, so the priorities are the precedence of DESIGN.md.
RULESET: dict[str, dict[str, Any]] = {
    RULESET_NAME: {
        # DESIGN.md precedence 1, clause 9.3: nothing blocks an emergency call. Only the
        # emergency number itself is one: "+49 110 1234" is an invalid number, not 110.
        "emergency": {
            "pri": 1,
            "all": [{"m": _and({"action": "emergency"}, {"length": "ok"})}],
            "run": "emergency",
        },
        # 2, clause 1: the operator restricted the account's access (network integrity).
        # After emergency: a suspension never stops 110/112 (clause 9.3).
        "suspended": {"pri": 2, "all": [{"m": {"suspended": True}}], "run": "suspended"},
        # 3: not a destination (call-by-call, unassigned ranges), or a wrong length.
        "not_a_destination": {"pri": 3, "all": [{"m": {"action": "reject"}}], "run": "reject"},
        "incomplete": {"pri": 4, "all": [{"m": {"length": "short"}}], "run": "incomplete"},
        "too_long": {"pri": 4, "all": [{"m": {"length": "long"}}], "run": "too_long"},
        # 4, clause 9.5: operator blocks a customer cannot lift.
        "hard_block": {"pri": 5, "all": [{"m": _NOT_EXCEPTED_HARD}], "run": "hard"},
        # 5, clause 9.5: blocks the customer asked for.
        "customer_block": {
            "pri": 6,
            "all": [{"m": {"customer_blocked": True}}],
            "run": "customer",
        },
        # 6, clause 9.5 (Freischaltung): a default block the customer has paid to lift.
        "lifted_default": {
            "pri": 7,
            "all": [{"m": _and(_NOT_EXCEPTED_DEFAULT, {"lifted": True})}],
            "run": "lifted",
        },
        # 7, clause 9.5: blocked by default.
        "default_block": {"pri": 8, "all": [{"m": _NOT_EXCEPTED_DEFAULT}], "run": "default"},
        # 8: allowed, because an exception lifted a block (11822/11823) ...
        "excepted": {
            "pri": 9,
            "all": [{"m": {"$or": [{"hard_excepted": True}, {"default_excepted": True}]}}],
            "run": "exception",
        },
        # ... or because nothing blocks it. Conditions never name `id`: that hangs the engine.
        "allow": {"pri": 10, "all": [{"m": {"$ex": {"action": 1}}}], "run": "allow"},
    },
    # Request time (the API), clause 9.5: may this account lift this block, for what fee?
    LIFT_RULESET_NAME: {
        "nothing_to_lift": {"pri": 1, "all": [{"m": {"blocked": False}}], "run": "lift_none"},
        "not_liftable": {
            "pri": 2,
            "all": [{"m": _and({"target": "operator"}, {"liftable": False})}],
            "run": "lift_refused",
        },
        "operator_fee": {"pri": 3, "all": [{"m": {"target": "operator"}}], "run": "lift_operator"},
        "customer_fee": {"pri": 4, "all": [{"m": {"target": "customer"}}], "run": "lift_customer"},
    },
}

#: The fact type each ruleset's conditions speak of.
FACT_TYPES: dict[str, type[msgspec.Struct]] = {RULESET_NAME: Fact, LIFT_RULESET_NAME: LiftFact}


def _lift_action(name: str, m: Any) -> LiftVerdict:
    """What each lift action answers."""
    if name == "lift_none":
        return LiftVerdict(False, 0, "not_blocked")
    if name == "lift_refused":
        return LiftVerdict(False, 0, "not_liftable")
    if name == "lift_operator":
        return LiftVerdict(True, m.fee_cents, "operator_default_block")
    return LiftVerdict(True, m.customer_fee_cents, "customer_block")


#: Each call action's answer: (verdict, reason, source). A reason ``m.<field>`` is read
#: from the event (the rule files' reason for that block or category).
_CALL_ACTIONS: dict[str, tuple[str, str, str]] = {
    "emergency": ("emergency", "emergency", "category"),
    "reject": ("reject", "m.reject_reason", "category"),
    "suspended": ("block", "account_suspended", "suspension"),
    "incomplete": ("reject", "incomplete_number", "length"),
    "too_long": ("reject", "invalid_number", "length"),
    "hard": ("block", "m.hard_reason", "hard"),
    "customer": ("block", "customer_block", "customer"),
    "lifted": ("allow", "lifted", "lifted"),
    "default": ("block", "m.default_reason", "default"),
    "exception": ("allow", "exception", "exception"),
    "allow": ("allow", "allowed", "allow"),
}


def _action(name: str, m: Any) -> Verdict | LiftVerdict:
    """What the named action answers, given the event ``m`` (dispatch through a table)."""
    if name.startswith("lift_"):
        return _lift_action(name, m)
    verdict, reason, source = _CALL_ACTIONS[name]
    if reason.startswith("m."):
        reason = getattr(m, reason[2:])
    return Verdict(verdict, reason, source)  # type: ignore[arg-type]


ACTIONS = frozenset(_CALL_ACTIONS) | {"lift_none", "lift_refused", "lift_operator", "lift_customer"}


def condition_fields(node: Any) -> Iterator[str]:
    """Every event field a durable-rules condition names (operators skipped)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("$"):
                yield from condition_fields(value)
            else:
                yield key
    elif isinstance(node, list):
        for item in node:
            yield from condition_fields(item)


def check_ruleset(ruleset: dict[str, dict[str, Any]]) -> None:
    """Fail unless conditions name only Fact fields (never ``id``/``sid``) and actions exist."""
    for ruleset_name, rules in ruleset.items():
        fact_type = FACT_TYPES.get(ruleset_name, Fact)
        known = {f.name for f in msgspec.structs.fields(fact_type)}
        for name, rule in rules.items():
            for cond in rule["all"]:
                for fld in condition_fields(cond["m"]):
                    if fld not in known:
                        raise EngineError(f"rule {name!r} names unknown field {fld!r}")
            if rule["run"] not in ACTIONS:
                raise EngineError(f"rule {name!r} runs unknown action {rule['run']!r}")


check_ruleset(RULESET)


class Engine:
    """One process's durable-rules host with the fixed rulesets, registered once.

    Every post runs on the engine's own single thread ("one owning thread per Host",
    notes/durable-rules.md), whichever thread asks: API worker threads submit to it.
    """

    _instance: Engine | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        self._results: dict[int, Any] = {}
        self._next_id = 0
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="durable-rules")
        self._host: Any = self._thread.submit(self._make_host).result()

    def _make_host(self) -> Any:
        from durable import engine as durable_engine  # imported lazily: only where evaluated

        results = self._results

        class _Host(durable_engine.Host):  # type: ignore[misc]
            def _run(self) -> None:
                # The background timer thread may run actions itself and make post()
                # return None; these rulesets have no timers, so it never starts.
                return None

            def get_action(self, action_name: str) -> Any:
                def run(c: Any) -> None:
                    results[c.m.id] = _action(action_name, c.m)

                return run

        host = _Host()
        # set_rulesets() consumes its argument (it pops each rule's "run"): give it a copy.
        host.set_rulesets(copy.deepcopy(RULESET))
        return host

    @classmethod
    def instance(cls) -> Engine:
        """This process's engine (a ruleset name can be registered only once per process)."""
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = Engine()
            return cls._instance

    def _post_all(self, ruleset: str, facts: Sequence[msgspec.Struct]) -> list[Any]:
        """On the engine thread: post each fact, collect the answer its action wrote."""
        out = []
        for fact in facts:
            self._next_id += 1
            event_id = self._next_id
            event = msgspec.structs.asdict(fact)
            event["id"] = event_id
            event["sid"] = _SESSION
            self._host.post(ruleset, event)
            answer = self._results.pop(event_id, None)
            if answer is None:
                # An exception inside an action is swallowed by the engine: catch it here.
                raise EngineError(f"no rule answered {fact!r}")
            out.append(answer)
        return out

    def evaluate(self, facts: Sequence[Fact]) -> list[Verdict]:
        """The verdict of each call fact, in order."""
        return self._thread.submit(self._post_all, RULESET_NAME, facts).result()

    def evaluate_lift(self, fact: LiftFact) -> LiftVerdict:
        """May this block be lifted, and for what fee (request time, clause 9.5)."""
        (answer,) = self._thread.submit(self._post_all, LIFT_RULESET_NAME, [fact]).result()
        assert isinstance(answer, LiftVerdict)
        return answer


_encoder = msgspec.msgpack.Encoder()
_facts_decoder = msgspec.msgpack.Decoder(list[Fact])
_verdicts_decoder = msgspec.msgpack.Decoder(list[Verdict])
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def decode_facts(data: bytes) -> list[Fact]:
    """Facts from their msgpack form (the child's input)."""
    return _facts_decoder.decode(data)


def encode_verdicts(verdicts: list[Verdict]) -> bytes:
    """Verdicts in msgpack form (the child's output)."""
    return _encoder.encode(verdicts)


def run_child(
    mode: str, payload: bytes, timeout: float, argv: Sequence[str] | None = None
) -> bytes:
    """Run ``python -m policy.compiler._engine_child MODE`` with ``payload`` on stdin; its stdout.

    A fresh interpreter per run: a hang is bounded by ``timeout`` (the child is killed),
    and whatever the engine registers or leaks dies with the child.
    """
    cmd = list(argv) if argv else [sys.executable, "-m", "policy.compiler._engine_child", mode]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    try:
        proc = subprocess.run(
            cmd, input=payload, capture_output=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise EngineError(
            f"rules engine gave no answer within {timeout:g} s; the running rules stay"
        ) from None
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise EngineError(f"rules engine process failed (exit {proc.returncode}): {tail[0]}")
    return proc.stdout


def evaluate_in_child(
    facts: Sequence[Fact], timeout: float = CHILD_TIMEOUT, argv: Sequence[str] | None = None
) -> list[Verdict]:
    """Evaluate ``facts`` in a fresh child process; kill it after ``timeout`` seconds.

    The child bounds both a hang and the per-registration leak of durable-rules; the
    verdicts come back as data. ``argv`` replaces the child's command (for tests).
    """
    answer = run_child("calls", _encoder.encode(list(facts)), timeout, argv)
    try:
        return _verdicts_decoder.decode(answer)
    except msgspec.DecodeError as exc:
        raise EngineError(f"rules engine process gave an unreadable answer: {exc}") from None
