"""Property-based requests from the served OpenAPI document: no input makes a 5xx, and
every answer is one the document promises (issue 11).

schemathesis generates valid and invalid requests for every operation of
``/schema/openapi.json`` and sends them, authenticated as an operator, through the ASGI
app on a seeded SQLite store. Besides ``not_a_server_error`` it checks each answer
against the document: its status is documented for the operation, its content type and
body match the documented ones (``ErrorV1`` for errors) and the documented headers are
there (``Retry-After``, ``WWW-Authenticate``). The example count is kept modest so the
test stays well under a minute.

The document is taken at import from an app without state (the document touches neither
store nor rules, and that app is never started); each operation's examples then run
against a live app. The test also pins that the served document is that one.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar import Litestar
from litestar.testing import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from policy import Snapshot
from policy.percall.runtime import PolicyRuntime
from policy.state.store import SqliteStore, Store
from server import ServerConfig, create_app

from .conftest import NOW, RULES, seed

CONFIG = ServerConfig(rules_dir=str(RULES), store_url="unused.db")
_stateless = create_app(CONFIG, store=object(), runtime=object(), clock=lambda: NOW)  # type: ignore[arg-type]
schema = schemathesis.openapi.from_dict(_stateless.openapi_schema.to_schema())
schema.app = _stateless  # selects the ASGI transport; each call names the live app


#: What every answer is held to: no 5xx, and exactly what the document says.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


class Live:
    """An app on a seeded store and the operator key."""

    def __init__(self, app: Litestar, store: Store, key: str) -> None:
        self.app, self.store, self.key = app, store, key


@pytest.fixture
def live(tmp_path: pathlib.Path, snapshot: Snapshot) -> Iterator[Live]:
    store = SqliteStore(str(tmp_path / "state.db"))
    keys = seed(store)
    runtime = PolicyRuntime(str(RULES), NOW, compiler=lambda _: snapshot)
    yield Live(
        create_app(CONFIG, store=store, runtime=runtime, clock=lambda: NOW), store, keys["operator"]
    )
    store.close()


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_no_server_errors(case: Any, live: Live) -> None:
    case.call_and_validate(
        app=live.app,
        headers={"Authorization": f"Bearer {live.key}"},
        checks=CHECKS,
    )


def test_the_served_document_is_the_one_tested(live: Live) -> None:
    with TestClient(live.app) as client:
        served = client.get("/schema/openapi.json").json()
    assert served == msgspec.json.decode(msgspec.json.encode(_stateless.openapi_schema.to_schema()))
