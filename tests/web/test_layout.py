"""How the pages fit the screen: a phone (375 px) never scrolls sideways, wide tables
scroll in their own keyboard-reachable region, the header holds one line at 1280 px, the
main-number badge is a label; and an unknown URL under /web is the HTML 404 page."""

from __future__ import annotations

import itertools
from typing import Any

from .conftest import Web

#: The pages an operator sees of an account (the widest: the operator's forms in the
#: numbers table), and the pages of no account.
PAGES = (
    "/web/accounts/acme",
    "/web/accounts/acme/blocks",
    "/web/accounts/acme/charges",
    "/web/accounts/acme/test?to=09001234567",
    "/web/accounts/acme/site",
    "/web/accounts/acme/users",
    "/web/operator",
    "/web/operator-blocks",
)

#: Whether the page is wider than the window (it would scroll sideways).
_OVERFLOW = """() => ({
  scroll: document.documentElement.scrollWidth,
  inner: window.innerWidth,
  wide: [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                 && !e.closest('.scroll') && !e.closest('.skip'))
    .slice(0, 5).map(e => e.outerHTML.slice(0, 120)),
})"""


def _fits(web: Web) -> None:
    got: dict[str, Any] = web.page.evaluate(_OVERFLOW)
    assert got["scroll"] <= got["inner"], f"{web.page.url}: {got}"


def test_no_page_scrolls_sideways_on_a_phone(web: Web) -> None:
    web.page.set_viewport_size({"width": 375, "height": 800})
    web.goto("/web/login", "375-login")
    _fits(web)
    web.login("operator", name="375-login-operator")
    for lang in ("de", "en"):
        for path in PAGES:
            sep = "&" if "?" in path else "?"
            web.goto(f"{path}{sep}lang={lang}", f"375-{lang}{path.split('?')[0]}")
            _fits(web)
    # An error page too (404 of a page that does not exist).
    web.goto("/web/accounts/acme/no-such-page", "375-404", status=404)
    _fits(web)


def test_a_wide_table_scrolls_in_its_own_region_by_keyboard(web: Web) -> None:
    web.page.set_viewport_size({"width": 375, "height": 800})
    web.login("operator")
    web.goto("/web/accounts/acme", "375-overview")
    region = web.page.locator("div.scroll", has=web.page.locator("table")).first
    assert region.get_attribute("tabindex") == "0"
    assert region.get_attribute("role") == "region" and region.get_attribute("aria-label")
    assert region.evaluate("e => e.scrollWidth > e.clientWidth"), "the table fits: nothing to test"
    region.focus()
    assert region.evaluate("e => document.activeElement === e")
    web.page.keyboard.press("ArrowRight")  # scrolls (smoothly: wait for it)
    web.page.wait_for_function("e => e.scrollLeft > 0", arg=region.element_handle())
    web.look("375-overview-scrolled")


#: Where the header's parts are, left to right: each one's box, and the header's height.
_HEADER = """() => {
  const h = document.querySelector('header');
  const parts = [h.querySelector('.brand'), ...h.querySelectorAll('nav li'),
                 ...h.querySelector('.tools').children];
  return {
    height: h.getBoundingClientRect().height,
    boxes: parts.map(p => { const r = p.getBoundingClientRect();
                            return {left: r.left, right: r.right, middle: r.top + r.height / 2,
                                    text: p.innerText}; }),
    width: window.innerWidth,
  };
}"""


def test_the_header_holds_one_line_at_1280_px(web: Web) -> None:
    # The operator on an account: the most links and the longest tools of any page.
    web.login("operator")
    for lang in ("de", "en"):
        web.goto(f"/web/accounts/acme/users?lang={lang}", f"1280-header-{lang}")
        got: dict[str, Any] = web.page.evaluate(_HEADER)
        boxes = got["boxes"]
        middles = [b["middle"] for b in boxes]
        assert max(middles) - min(middles) < 8, f"{lang}: the header wraps: {got}"
        for before, after in itertools.pairwise(boxes):  # side by side, no overlap
            assert before["right"] <= after["left"], f"{lang}: {before} overlaps {after}"
        assert boxes[-1]["right"] <= got["width"], got
        assert got["height"] < 64, got
        who = web.page.locator("header .who")  # the whole login shown, not cut short
        assert who.evaluate("e => e.scrollWidth <= e.clientWidth"), who.inner_text()
    # Narrower: it wraps into rows, and nothing leaves the screen.
    web.page.set_viewport_size({"width": 800, "height": 800})
    web.goto("/web/accounts/acme/users", "800-header")
    _fits(web)


def test_the_main_number_badge_is_a_label(web: Web) -> None:
    web.login("admin_a")
    badge = web.page.locator("main .badge")
    assert badge.inner_text() == "Stammrufnummer"
    style = badge.evaluate(
        "e => { const s = getComputedStyle(e);"
        " return [s.borderTopStyle, s.borderTopWidth, s.cursor, e.tagName]; }"
    )
    assert style[0] == "none" or style[1] == "0px", style
    assert style[2] == "default" and style[3] == "SPAN", style
    assert web.page.get_by_role("button", name="Stammrufnummer", exact=True).count() == 0


def test_an_unknown_web_url_is_the_html_404_page(web: Web) -> None:
    response = web.goto("/web/no-such-page", "unknown", status=404)
    assert response.headers["content-type"].startswith("text/html")
    assert web.lang() == "de"
    assert web.page.inner_text("h1") == "Nicht gefunden"
    assert web.page.get_by_role("link", name="Zur Startseite", exact=True).count() == 1
    response = web.goto("/web/no-such-page?lang=en", "unknown-en", status=404)
    assert web.page.inner_text("h1") == "Not found"
    api = web.page.request.get("/v1/no-such-page")
    assert api.status == 404 and api.headers["content-type"].startswith("application/json")
