"""Browser tests of the customer pages (docs/web.md): the real server, Chromium, axe-core.

One server process for the session (``python -m server serve`` on a free port, a fresh
SQLite store seeded with two accounts, ``acme`` and ``bravo``, each with an admin and an
employee login, and the operator login), one Chromium for the session (Debian's
``/usr/bin/chromium`` driven by Playwright; never a downloaded browser) and a fresh
browser context (cookies, storage) for every test.

Every page a test looks at is checked with axe-core (``axe_check``: no serious or
critical violation) and saved as a full-page PNG (``shot``) in ``tests/web/artefacts/``
(or ``$CALLPOLICY_ARTEFACTS``); ``Web.look`` does both, and a test that navigated to a
page it never looked at fails. The tests share the server, so each uses its own block
targets; login failures from 127.0.0.1 count towards the per-address lock (20), so the
session makes fewer than that.

Chromium, Playwright and axe-core are installed by ``scripts/bootstrap.sh`` (``make
setup``); when one is missing the tests fail saying so, they are never skipped.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from policy import Account
from policy.state.accounts import Site
from policy.state.store import SqliteStore
from tests._numbers import active
from tests.server._serve import Server

try:
    from playwright.sync_api import Browser, Page, Playwright, Response, sync_playwright
except ImportError:  # pragma: no cover - the fixtures fail with the message below
    sync_playwright = None

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
RULES = ROOT / "rules"
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
ARTEFACTS = pathlib.Path(os.environ.get("CALLPOLICY_ARTEFACTS") or HERE / "artefacts")
CHROMIUM = os.environ.get("CALLPOLICY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: The machine's network is closed: nothing in the background may try to reach out.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SETUP = "run `make setup` (scripts/bootstrap.sh installs it)"


def accounts(now: float) -> tuple[Account, Account]:
    """``acme`` (Berlin 030: main number, one more, a block of 100) and ``bravo`` (Hamburg
    040), their numbers active since ``now``."""
    acme = Account(
        id="acme",
        name="ACME GmbH",
        npn="49301234567",
        holdings=active("49301234567", "49301234568", ("4930777700", "4930777799"), at=now),
        site=Site(
            address="Unter den Linden 1, Berlin",
            municipality="11000000",
            area_code="30",
            emergency_area="test-berlin-mitte",
        ),
    )
    bravo = Account(
        id="bravo",
        name="Bravo KG",
        npn="49407654321",
        holdings=active("49407654321", at=now),
        site=Site(
            address="Jungfernstieg 1, Hamburg",
            municipality="02000000",
            area_code="40",
            emergency_area="test-hamburg",
        ),
    )
    return acme, bravo


@dataclass
class Served:
    """The running server, its store file and the seeded logins."""

    url: str
    store_path: str
    log: pathlib.Path
    #: admin_a, employee_a, admin_b, employee_b, operator -> tests._web.WebLogin
    logins: dict[str, Any]

    def charges(self, account: str) -> list[Any]:
        """The account's ledger, read from the store itself (not through a page)."""
        store = SqliteStore(self.store_path)
        try:
            return [c for _, c in store.charges_page(account, 0, 10_000)]
        finally:
            store.close()

    def account(self, account: str) -> Any:
        """The account as the store has it now."""
        store = SqliteStore(self.store_path)
        try:
            return store.get_account(account)
        finally:
            store.close()


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``python -m server serve`` over a fresh store with both accounts and their logins."""
    from tests._web import seed_web_account  # the pages' own helper (docs/web.md)

    d = tmp_path_factory.mktemp("web")
    path = str(d / "web.db")
    now = time.time()
    store = SqliteStore(path)
    try:
        for account in accounts(now):
            store.create_account(account, now)
        a = seed_web_account(store, "acme", now=now)
        b = seed_web_account(store, "bravo", now=now)
    finally:
        store.close()
    logins = {
        "admin_a": a["admin"],
        "employee_a": a["employee"],
        "admin_b": b["admin"],
        "employee_b": b["employee"],
        "operator": a["operator"],
    }
    log = d / "server.log"
    with Server(str(RULES), f"sqlite:///{path}", log=str(log)) as server:
        yield Served(server.url, path, log, logins)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver (bundled with the pip package; it downloads nothing here)."""
    if sync_playwright is None:
        pytest.fail(f"the Python package playwright is not installed: {SETUP}")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Debian Chromium for the session (a fresh temporary profile)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Chromium not found at {CHROMIUM}: {SETUP} (Debian package chromium)")
    if not AXE.is_file():
        pytest.fail(f"axe-core not found at {AXE}: {SETUP} (npm ci in tests/web)")
    if ARTEFACTS.is_dir():  # this run's pictures only
        for old in ARTEFACTS.glob("*.png"):
            old.unlink()
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, chromium_sandbox=False
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser, served: Served) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies): German, as a customer's browser."""
    context = browser.new_context(
        base_url=served.url, locale="de-DE", viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


_AXE_SOURCE: list[str] = []

#: axe-core's result, cut down to what a failure message names.
_AXE_RUN = """async () => {
  const r = await axe.run(document, {resultTypes: ['violations']});
  return r.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html.slice(0, 160)})),
  }));
}"""


#: The document as axe-core judges it: markup (hidden inputs' per-request values left
#: out: CSRF tokens, idempotency keys) and the viewport.
_DOM_KEY = """() => {
  const copy = document.documentElement.cloneNode(true);
  copy.querySelectorAll('input[type=hidden]').forEach(i => i.removeAttribute('value'));
  return `${window.innerWidth}x${window.innerHeight}\n${copy.outerHTML}`;
}"""

#: Documents that passed axe-core this session (the same markup passes again: the
#: login page, for one, is seen by nearly every test).
_AXE_PASSED: set[str] = set()


def axe_check(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page; fail listing every serious or critical violation.

    axe.min.js is evaluated through the DevTools protocol, so the pages' Content-Security-
    Policy (``script-src 'none'``) does not stop it. A document whose markup passed before
    in this session is not checked again. Returns the minor and moderate violations, for
    the curious.
    """
    key = hashlib.sha256(page.evaluate(_DOM_KEY).encode()).hexdigest()
    if key in _AXE_PASSED:
        return []
    if not _AXE_SOURCE:
        _AXE_SOURCE.append(AXE.read_text())
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_AXE_SOURCE[0] + "\n;0")
    violations: list[dict[str, Any]] = page.evaluate(_AXE_RUN)
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    if bad:
        lines = [f"axe-core: {len(bad)} serious/critical violation(s) on {page.url}:"]
        for v in bad:
            lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['url']}>")
            lines += [f"    {n['target']}: {n['html']}" for n in v["nodes"]]
        pytest.fail("\n".join(lines), pytrace=False)
    _AXE_PASSED.add(key)
    return [v for v in violations if v not in bad]


def shot(page: Page, name: str) -> pathlib.Path:
    """Save a full-page PNG of the page as ``<artefacts>/<name>.png``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    path = ARTEFACTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@dataclass
class Web:
    """A test's browser page on the served app, with what the tests do on every page."""

    page: Page
    served: Served
    test: str
    looked: set[str] = field(default_factory=set)
    visited: list[str] = field(default_factory=list)
    count: int = 0

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.served.url

    def look(self, name: str) -> None:
        """axe-core on the page as it is now, and its screenshot (both, every page)."""
        self.count += 1
        self.looked.add(_plain(self.page.url))
        shot(self.page, f"{self.test}-{self.count:02d}-{name}")
        axe_check(self.page)

    def goto(self, path: str, name: str, status: int = 200) -> Response:
        """Open ``path``, expect ``status`` (after redirects), look at the page."""
        response = self.page.goto(path)
        assert response is not None
        assert response.status == status, f"{path}: {response.status}, wanted {status}"
        self.look(name)
        return response

    def submit(
        self, button: str, name: str, status: int | None = 200, double: bool = False
    ) -> Response:
        """Click the button (its accessible name), wait for the page it leads to, look.

        ``status`` None takes any status (the caller checks it)."""
        target = self.page.get_by_role("button", name=button, exact=True)
        with self.page.expect_navigation() as nav:
            if double:
                target.dblclick()
            else:
                target.click()
        response = nav.value
        assert response is not None
        assert status is None or response.status == status, (
            f"{button!r}: {response.status} at {response.url}, wanted {status}\n" + self.main_text()
        )
        self.look(name)
        return response

    def login(self, who: str, name: str = "", status: int = 200) -> Response:
        """Log in as one of the seeded logins through the login form."""
        user = self.served.logins[who]
        self.goto("/web/login", name or f"login-{who}")
        return self.login_form(user.login, user.password, f"after-login-{who}", status)

    def login_form(self, login: str, password: str, name: str, status: int) -> Response:
        """Fill in and send the login form on the page."""
        self.page.fill("#login", login)
        self.page.fill("#password", password)
        return self.submit(BUTTON["login"][self.lang()], name, status)

    def lang(self) -> str:
        """The page's language (``<html lang>``)."""
        return (self.page.get_attribute("html", "lang") or "de")[:2]

    def error(self) -> str | None:
        """The page's ``data-error`` code on ``<main>`` (None: none)."""
        return self.page.get_attribute("main", "data-error")

    def main_text(self) -> str:
        """The text of ``<main>`` (for messages)."""
        try:
            return self.page.inner_text("main", timeout=2_000)
        except Exception as e:  # noqa: BLE001 - only for a failure message
            return f"(no <main>: {e})"

    def post_form(self, action: str, fields: dict[str, str], name: str, status: int) -> Response:
        """POST a form the page never offered (a forged request), as the browser would:
        a ``<form>`` built in the page and submitted; look at the answer."""
        with self.page.expect_navigation() as nav:
            self.page.evaluate(_POST_FORM, [action, fields])
        response = nav.value
        assert response is not None
        assert response.status == status, (
            f"POST {action}: {response.status}, wanted {status}\n" + self.main_text()
        )
        self.look(name)
        return response

    def csrf(self) -> str:
        """The page's CSRF token (the logout form in the header has it when logged in)."""
        token = self.page.get_attribute("input[name=csrf_token]", "value")
        assert token, "no csrf_token on the page"
        return token


_POST_FORM = """([action, fields]) => {
  const form = document.createElement('form');
  form.method = 'post';
  form.action = action;
  for (const [name, value] of Object.entries(fields)) {
    const input = document.createElement('input');
    input.type = 'hidden';
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }
  document.body.appendChild(form);
  form.submit();
}"""


def _plain(url: str) -> str:
    return url.split("#", 1)[0]


#: Button texts (docs/web.md), by language.
BUTTON: dict[str, dict[str, str]] = {
    "login": {"de": "Anmelden", "en": "Log in"},
    "logout": {"de": "Abmelden", "en": "Log out"},
    "add_block": {"de": "Sperre hinzufügen", "en": "Add block"},
    "unblock_paid": {"de": "Zahlungspflichtig freischalten", "en": "Unblock and pay"},
    "unblock_free": {"de": "Freischalten", "en": "Unblock"},
    "search": {"de": "Suchen", "en": "Search"},
    "suspend": {"de": "Aussetzen", "en": "Suspend"},
    "resume": {"de": "Aussetzung aufheben", "en": "Resume"},
    "test": {"de": "Prüfen", "en": "Test"},
}


@pytest.fixture
def web(page: Page, served: Served, request: pytest.FixtureRequest) -> Iterator[Web]:
    """The test's page with ``look``/``goto``/``submit``/``login``; checks it looked at
    every page it navigated to."""
    w = Web(page, served, request.node.name.removeprefix("test_"))

    def navigated(frame: Any) -> None:
        if frame == page.main_frame:
            w.visited.append(_plain(frame.url))

    page.on("framenavigated", navigated)
    yield w
    call = getattr(request.node, "rep_call", None)
    if call is not None and call.failed:
        shot(page, f"{w.test}-FAILED")  # the page as the test left it
    if call is not None and call.passed:
        missed = [u for u in w.visited if u not in w.looked and u != "about:blank"]
        assert not missed, f"pages visited but never checked with axe: {missed}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep the call phase's report on the item (the ``web`` fixture's check needs it)."""
    rep = yield
    if rep.when == "call":
        item.rep_call = rep  # type: ignore[attr-defined]
    return rep
