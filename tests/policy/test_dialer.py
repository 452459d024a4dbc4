"""Power-dialer escalation (clause 7.2) through durable-rules, per power_dialer.toml."""

from __future__ import annotations

import subprocess
import sys

import pytest

from policy import RuleSet
from policy.compiler.dialer import Escalation, WindowTotal, dialer_ruleset, escalate
from policy.compiler.engine import EngineError, run_child
from policy.rules.model import EscalationStep, PowerDialerFile


def test_levels_follow_the_rule_file(rules: RuleSet) -> None:
    totals = [
        WindowTotal(account="quiet", attempts=10, rejected=0),
        WindowTotal(account="edge-of-warn", attempts=10, rejected=1),
        WindowTotal(account="busy", attempts=300, rejected=49),
        WindowTotal(account="dialer", attempts=300, rejected=50),
        WindowTotal(account="flood", attempts=9000, rejected=500),
    ]
    assert escalate(rules.power_dialer, totals) == [
        Escalation("quiet", "none"),
        Escalation("edge-of-warn", "warn"),
        Escalation("busy", "warn"),
        Escalation("dialer", "throttle"),
        Escalation("flood", "suspend"),
    ]


def test_thresholds_are_constants_in_the_ruleset() -> None:
    # Trap measured here: comparing two fields of one event matches every event, so the
    # thresholds are written into the conditions as constants.
    steps = (EscalationStep(level="warn", rejected_at_least=3),)
    (rules,) = dialer_ruleset(steps).values()
    assert rules["warn"]["all"] == [{"m": {"$gte": {"rejected": 3}}}]
    custom = PowerDialerFile(max_attempts_per_second=1, max_concurrent_setups=1, escalation=steps)
    got = escalate(custom, [WindowTotal(account="x", attempts=5, rejected=2)])
    assert got == [Escalation("x", "none")]


def test_no_totals_no_child() -> None:
    assert escalate(PowerDialerFile(max_attempts_per_second=1, max_concurrent_setups=1), []) == []


def test_escalation_never_loads_the_engine_into_the_caller() -> None:
    code = (
        "import sys\n"
        "from policy.compiler.dialer import escalate, WindowTotal\n"
        "from policy.rules.model import PowerDialerFile, EscalationStep\n"
        "f = PowerDialerFile(max_attempts_per_second=1, max_concurrent_setups=1,"
        " escalation=(EscalationStep(level='suspend', rejected_at_least=2),))\n"
        "for _ in range(3): escalate(f, [WindowTotal(account='a', attempts=3, rejected=3)])\n"
        "print('durable' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_child_mode_is_an_error() -> None:
    with pytest.raises(EngineError, match=r"exit 2\): unknown mode 'x'"):
        run_child("x", b"", timeout=30)
