"""The compiled path and a direct evaluation through durable-rules agree on every call.

For generated numbers, calling numbers and account states, ``decide`` (trie + table +
compiled account) and ``decide_direct`` (linear scans + one engine evaluation) must give
the same Decision: zero mismatches. The rule set used adds hard blocks by country and
prefix and a hard-layer exception to the shipped clause 9.5 rules, so every layer is hit.
"""

from __future__ import annotations

import pathlib
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy import AccountPolicy, Call, Snapshot, compile_account, compile_dir, decide
from policy.compiler.reference import decide_direct
from policy.rules.model import NumberRange

ROOT = pathlib.Path(__file__).resolve().parents[2]

EXTRA_BLOCKS = """
[[block]]
id = "international-networks"
reason = "country_blocked"
countries = ["881", "882", "883"]

[[block]]
id = "fraud-uk"
reason = "operator_block"
prefixes = ["+44 20 7946", "+2321"]

[[exception]]
id = "fraud-uk-helpdesk"
of = "fraud-uk"
prefixes = ["+44 20 7946 0000"]

[[block]]
id = "premium-all"
reason = "premium_rate"
prefixes = ["+49 900 8"]
liftable = true
fee_cents = 900
"""


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    target = tmp_path_factory.mktemp("rules")
    for f in (ROOT / "rules").glob("*.toml"):
        shutil.copy(f, target / f.name)
    blocks = target / "blocks.toml"
    blocks.write_text(blocks.read_text() + EXTRA_BLOCKS)
    return compile_dir(str(target))


NATIONAL = [
    "030",
    "040",
    "089",
    "0228",
    "03581",
    "0171",
    "0151",
    "0160",
    "0164",
    "0700",
    "0800",
    "0180",
    "0181",
    "0185",
    "0189",
    "0137",
    "0900",
    "09001",
    "09002",
    "09003",
    "09005",
    "09008",
    "09009",
    "012",
    "0191",
    "031",
    "032",
    "010",
    "0100",
    "011",
    "013",
    "0",
]
SERVICE = ["110", "112", "115", "116", "118", "11822", "11823", "11833", "1180", "11"]
COUNTRIES = ["1", "44", "4420", "44207946", "2321", "33", "881", "882", "883", "7", "86", "49"]


def _digits(max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", max_size=max_size)


dial_strings = st.one_of(
    st.builds(lambda p, t: p + t, st.sampled_from(NATIONAL), _digits(10)),
    st.builds(lambda p, t: p + t, st.sampled_from(SERVICE), _digits(3)),
    st.builds(lambda p, t: "+" + p + t, st.sampled_from(COUNTRIES), _digits(11)),
    st.builds(lambda p, t: "00" + p + t, st.sampled_from(COUNTRIES), _digits(11)),
    st.builds(lambda p, t: p + t, st.sampled_from("23456789"), _digits(8)),
    st.text(max_size=20),
)

OWN = ["+4930123456", "+4930123457", "+4930200042", "+4930200099"]
from_numbers = st.sampled_from(
    [
        "",
        *OWN,
        *("+4930999999", "+499001123456", "+4911833", "110", "junk", "030 200 042"),
        *("201", "202", "203"),  # extensions of the presentation map
    ]
)

accounts = st.builds(
    lambda cats, countries, prefixes, lifted, area, suspended: AccountPolicy(
        account="gen",
        npn="+4930123456",
        area_code=area,
        numbers=("+4930123457",),
        number_blocks=(NumberRange("+4930200000", "+4930200099"),),
        blocked_categories=tuple(cats),
        blocked_countries=tuple(countries),
        blocked_prefixes=tuple(prefixes),
        lifted=tuple(lifted),
        emergency_area=area and "test-berlin-mitte",
        suspended=suspended,
        # 203 maps to a number the account does not own: the NPN is presented instead.
        presentation={"201": "+4930200042", "202": "+4930123457", "203": "+4930999999"},
    ),
    st.lists(
        st.sampled_from(["mobile", "international", "premium_rate", "directory", "geographic"]),
        max_size=3,
    ),
    st.lists(st.sampled_from(["44", "33", "1", "881", "49"]), max_size=2),
    st.lists(st.sampled_from(["+4989", "0171", "+331", "0900", "11822"]), max_size=2),
    st.lists(
        st.sampled_from(["premium-rate", "directory", "service-012", "premium-all"]), max_size=3
    ),
    st.sampled_from(["", "30", "040"]),
    st.booleans(),
)


@settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(dial=dial_strings, from_number=from_numbers, policy=accounts)
def test_compiled_equals_engine(
    rich: Snapshot, dial: str, from_number: str, policy: AccountPolicy
) -> None:
    call = Call(to=dial, from_number=from_number)
    compiled = decide(rich, call, compile_account(rich, policy))
    direct = decide_direct(rich.rules, call, policy)
    assert compiled == direct


@settings(max_examples=300, deadline=None)
@given(dial=dial_strings, from_number=from_numbers)
def test_compiled_equals_engine_on_shipped_rules(
    snapshot: Snapshot, dial: str, from_number: str
) -> None:
    policy = AccountPolicy(account="plain", npn="+4930123456", area_code="30", numbers=OWN)
    call = Call(to=dial, from_number=from_number)
    assert decide(snapshot, call, compile_account(snapshot, policy)) == decide_direct(
        snapshot.rules, call, policy
    )


def test_every_rule_prefix_and_its_neighbours(rich: Snapshot) -> None:
    """Boundary numbers: each key prefix, one digit more, one digit less, padded to length."""
    policy = AccountPolicy(account="edge", npn="+4930123456", lifted=("directory",))
    account = compile_account(rich, policy)
    mismatches = []
    for key, _ in rich.trie.items():
        for digits in {key, key[:-1], key + "0", key + "9", (key + "1234567890123")[:12]}:
            if not digits:
                continue
            call = Call(to="+" + digits)
            a, b = decide(rich, call, account), decide_direct(rich.rules, call, policy)
            if a != b:
                mismatches.append((digits, a, b))
    assert mismatches == []
