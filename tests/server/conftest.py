"""Fixtures of the API tests: a fresh SQLite store, seeded accounts and keys, a client.

Two customer accounts (``acme`` in Berlin 030, ``bravo`` in Hamburg 040) and one key per
role: operator, admin and employee of each account. The clock is pinned (``NOW``); each
test gets its own runtime (its compiled-account cache is keyed by account version, which
repeats across tests' stores) over the session's compiled snapshot.
"""

from __future__ import annotations

import pathlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec
import pytest
from litestar.testing import TestClient

from policy import Snapshot
from policy.percall.runtime import PolicyRuntime
from policy.state.accounts import Site
from policy.state.store import SqliteStore
from server import ServerConfig, create_app
from server.auth import add_key
from tests._numbers import account_with, ordered
from tests._web import seed_web_account
from tests.server._webclient import Clock, Web

ROOT = pathlib.Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z

BERLIN = Site(
    address="Unter den Linden 1, Berlin",
    municipality="11000000",
    area_code="30",
    emergency_area="test-berlin-mitte",
)
HAMBURG = Site(
    address="Jungfernstieg 1, Hamburg",
    municipality="02000000",
    area_code="40",
    emergency_area="test-hamburg",
)
_ACME = account_with(
    "acme",
    npn="49301234567",
    numbers=("49301234568",),
    blocks=(("4930777700", "4930777799"),),
    name="ACME GmbH",
    site=BERLIN,
)
#: Active: the NPN, one more number and a block of 100; on order: 49301234569.
ACME = msgspec.structs.replace(_ACME, holdings=(*_ACME.holdings, ordered("49301234569")))
BRAVO = account_with("bravo", npn="49407654321", name="Bravo KG", site=HAMBURG)

#: The roles of the isolation matrix: key name -> (role, account).
ROLES: dict[str, tuple[str, str | None]] = {
    "operator": ("operator", None),
    "admin_a": ("admin", "acme"),
    "employee_a": ("employee", "acme"),
    "admin_b": ("admin", "bravo"),
    "employee_b": ("employee", "bravo"),
}


@dataclass
class Api:
    """A client of a fresh app, its store, and a key per role."""

    client: TestClient  # type: ignore[type-arg]
    store: SqliteStore
    keys: dict[str, str] = field(default_factory=dict)

    def h(self, who: str | None, **extra: str) -> dict[str, str]:
        """Headers authenticating as ``who`` (None: no key), plus ``extra``."""
        headers = {k.replace("_", "-"): v for k, v in extra.items()}
        if who is not None:
            headers["Authorization"] = f"Bearer {self.keys[who]}"
        return headers


def seed(store: SqliteStore) -> dict[str, str]:
    """Create the two accounts and one key per role; return the keys."""
    store.create_account(ACME, NOW)
    store.create_account(BRAVO, NOW)
    return {name: add_key(store, role, account)[0] for name, (role, account) in ROLES.items()}  # type: ignore[arg-type]


def copy_rules(target: pathlib.Path, extra: str = "") -> pathlib.Path:
    """A private copy of the shipped rule files, with ``extra`` appended to blocks.toml."""
    target.mkdir(parents=True, exist_ok=True)
    for f in RULES.glob("*.toml"):
        shutil.copy(f, target / f.name)
    if extra:
        with (target / "blocks.toml").open("a") as fh:
            fh.write("\n" + extra)
    return target


HARD_BLOCK = """
[[block]]
id = "satellite"
reason = "country_blocked"
clause = "9.5"
countries = ["881"]
liftable = false
"""


@pytest.fixture
def store(tmp_path: pathlib.Path) -> Iterator[SqliteStore]:
    """An empty SQLite store in tmp_path."""
    s = SqliteStore(str(tmp_path / "state.db"))
    yield s
    s.close()


def make_api(
    store: SqliteStore, runtime: PolicyRuntime, rules_dir: pathlib.Path = RULES
) -> Iterator[Api]:
    """Seed ``store``, build the app over it and yield a started client."""
    keys = seed(store)
    config = ServerConfig(rules_dir=str(rules_dir), store_url="unused.db")
    app = create_app(config, store=store, runtime=runtime, clock=lambda: NOW)
    with TestClient(app) as client:
        yield Api(client, store, keys)


@pytest.fixture
def api(store: SqliteStore, snapshot: Snapshot) -> Iterator[Api]:
    """The app on the shipped rules (compiled once per session) and a seeded store."""
    runtime = PolicyRuntime(str(RULES), NOW, compiler=lambda _: snapshot)
    yield from make_api(store, runtime)


@pytest.fixture
def hard_api(store: SqliteStore, tmp_path: pathlib.Path) -> Iterator[Api]:
    """The app on rules with a hard block (+881, not liftable), compiled for real."""
    rules = copy_rules(tmp_path / "rules", HARD_BLOCK)
    yield from make_api(store, PolicyRuntime(str(rules), NOW), rules)


@pytest.fixture
def web(store: SqliteStore, snapshot: Snapshot) -> Iterator[Web]:
    """The app with the web pages (clause 5.1) on a movable clock, the seeded accounts and
    logins for both: ``admin_a``, ``employee_a``, ``admin_b``, ``employee_b``, ``operator``."""
    seed(store)
    logins = {}
    for account, suffix in (("acme", "a"), ("bravo", "b")):
        seeded = seed_web_account(store, account, now=NOW)
        logins[f"admin_{suffix}"] = seeded["admin"]
        logins[f"employee_{suffix}"] = seeded["employee"]
        logins["operator"] = seeded["operator"]
    clock = Clock(NOW)
    runtime = PolicyRuntime(str(RULES), NOW, compiler=lambda _: snapshot)
    config = ServerConfig(rules_dir=str(RULES), store_url="unused.db")
    app = create_app(config, store=store, runtime=runtime, clock=clock)
    with TestClient(app) as client:
        yield Web(client, store, clock, logins)
