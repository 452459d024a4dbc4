"""The account's pages: overview, site, "test a number", and the published block list.

The overview shows what clause 5.1's Telefonie-Konto is for at a glance: the numbers
with their life-cycle state and which is the main number (clauses 9.1, 9.2, 9.6), the
declared site (clauses 9.3, 10), and whether the operator suspended the account
(clause 1) or the edge flagged it as a power dialer (clause 7.2), with the reason. An
operator sees the operator's controls there too (``operator.py``).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get, post
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Template

from policy import (
    Account,
    BlockMatch,
    Call,
    CompiledAccount,
    CustomerError,
    Explanation,
    NumberError,
    Snapshot,
    canonical_prefix,
    move_site,
    published_blocks,
    resolve_site,
)
from policy import explain as explain_call

from .i18n import e164, text_or, when
from .pages import W, WDep, customer_error, page

__all__ = ["HANDLERS", "overview_page"]

Dial = Annotated[str, QueryParameter(name="to", max_length=128)]
From = Annotated[str, QueryParameter(name="from", max_length=128)]

#: Suspension grounds an operator may give (``policy.SuspensionGround``), for the form.
GROUNDS = ("network_integrity", "security", "fraud_suspected", "unpaid", "customer_request")
PROOF_KINDS = ("gewerbeamt", "handelsregister", "telekom_bill", "lease")


def numbers_of(account: Account) -> list[dict[str, Any]]:
    """Each holding as the overview shows it, the main number (NPN) marked."""
    rows = []
    for h in account.holdings:
        rows.append(
            {
                "id": h.id,
                "first": h.first,
                "last": h.last,
                "state": h.state,
                "area_code": h.area_code,
                "activated_at": h.activated_at,
                "main": bool(account.npn) and h.holds(account.npn),
                "single_active": h.state == "active" and h.first == h.last,
                "activatable": h.state in ("ordered", "porting"),
            }
        )
    return rows


def overview_page(
    w: W,
    account: Account,
    *,
    status: int = 200,
    error: tuple[str, str] | None = None,
    notice: str = "",
) -> Template:
    """The overview of ``account`` (with the operator's controls for operators)."""
    return page(
        w,
        "overview.html",
        account.name or account.id,
        status=status,
        error=error,
        notice=notice,
        nav_account=account.id,
        account=account,
        numbers=numbers_of(account),
        grounds=GROUNDS,
        proof_kinds=PROOF_KINDS,
        operator=w.me().role == "operator",
    )


@get("/accounts/{account_id:str}", sync_to_thread=False)
def overview(w: WDep, account_id: FromPath[str], done: FromQuery[str] = "") -> Template:
    """Numbers, main number, site, suspension and power-dialer status."""
    account = w.account(account_id)
    notice = w.t(f"done.{done}") if done in DONE else ""
    return overview_page(w, account, notice=notice)


#: The notices a redirect after a change may ask for (``?done=``): a fixed set, so the
#: query cannot put text of its own on the page.
DONE = frozenset(
    {
        "block_added",
        "site_moved",
        "suspended",
        "resumed",
        "assigned",
        "activated",
        "npn_set",
        "user_created",
        "user_disabled",
        "user_enabled",
        "password_set",
    }
)


def site_page(
    w: W,
    account: Account,
    *,
    status: int = 200,
    error: tuple[str, str] | None = None,
    notice: str = "",
) -> Template:
    """The declared site and, for those who may change it, the form to move it."""
    return page(
        w,
        "site.html",
        w.t("title.site"),
        status=status,
        error=error,
        notice=notice,
        nav_account=account.id,
        account=account,
        may_change=w.me().role != "employee",
        form=w.form,
    )


@get("/accounts/{account_id:str}/site", sync_to_thread=False)
def site(w: WDep, account_id: FromPath[str], done: FromQuery[str] = "") -> Template:
    """Where emergency calls are routed from (clauses 9.3, 10)."""
    notice = w.t("done.site_moved") if done == "site_moved" else ""
    return site_page(w, w.account(account_id), notice=notice)


@post("/accounts/{account_id:str}/site", sync_to_thread=True, status_code=200)
def move(w: WDep, account_id: FromPath[str]) -> Template:
    """Move the site inside its Ortsnetz; outside it 409 with clause 10's explanation."""
    account = w.may_change(account_id)
    rules = w.runtime.snapshot.rules
    try:
        new_site = resolve_site(
            rules, w.field("address"), w.field("municipality", 8), w.field("area_code", 6)
        )
        if not new_site.address:
            raise CustomerError("invalid_site", "address: required", "address")
        account = w.store.update_account(account_id, lambda a: move_site(a, new_site), w.now)
    except CustomerError as exc:
        status, code, text = customer_error(w, exc)
        return site_page(w, account, status=status, error=(code, text))
    return site_page(w, account, notice=w.t("done.site_moved"))


@get("/accounts/{account_id:str}/test", sync_to_thread=False)
def test_number(
    w: WDep, account_id: FromPath[str], to: Dial = "", from_number: From = ""
) -> Template:
    """Test a number: the decision for a call of this account, why, and the rule."""
    account = w.account(account_id)
    result = None
    if to:
        snap = w.runtime.snapshot  # read once: a reload may swap it meanwhile
        compiled = w.runtime.compiled(account, snap)
        e = explain_call(snap, Call(to=to, from_number=from_number), compiled)
        decision_id = w.decisions.record(
            e.decision, account=account.id, dial=to, revision=snap.revision, now=w.now
        )
        result = {
            "e": e,
            "decision_id": decision_id,
            "steps": steps_shown(w, snap, compiled, account, e),
            "own_blocks": [_block_match(w, m) for m in e.customer_blocks],
        }
    return page(
        w,
        "test.html",
        w.t("title.test"),
        nav_account=account.id,
        account=account,
        to=to,
        from_number=from_number,
        result=result,
    )


def _block_match(w: W, m: BlockMatch) -> str:
    """One of the account's own blocks as the pages show it: ``Rufnummernbereich +49900``."""
    if m.kind == "prefix":
        value = e164(m.canonical or m.value)
    elif m.kind == "country":
        value = e164(m.value)
    else:
        value = m.value
    return f"{w.t('kind.' + m.kind)} {value}"


def _block_note(w: W, block: str, exception: str, snap: Snapshot) -> str:
    if not block:
        return w.t("note.no_block")
    if exception:
        ref = snap.rules.ref("exception", exception)
        return w.t("note.block_excepted", block=block, exception=ref)
    return w.t("note.block", block=block)


def steps_shown(
    w: W, snap: Snapshot, compiled: CompiledAccount, account: Account, e: Explanation
) -> list[dict[str, Any]]:
    """The chain of steps of ``e`` with each step's name and note in the page's language.

    ``policy``'s notes are English (for the API and the CLI); the page says the same from
    the same facts ``explain`` used: the number's destination class, the account's
    suspension, its own blocks and its lifted blocks. A step not known here shows its
    code and no note.
    """
    digits = e.decision.number
    notes: dict[str, str] = {}
    if not digits:
        notes["number"] = w.t("note.number", reason=_reason(w, e.decision.reason))
    else:
        cls = snap.trie.lookup(digits)
        c = snap.classes[cls]
        s = account.suspension
        prefixes = compiled.blocked_prefixes
        by_account = cls in compiled.blocked_classes or (
            prefixes is not None and prefixes.lookup(digits) >= 0
        )
        matches = ", ".join(_block_match(w, m) for m in e.customer_blocks)
        lifted = w.t("yes" if cls in compiled.lifted_classes else "no")
        notes = {
            "emergency": w.t("note.category", category=c.category),
            "operator_suspension": w.t(
                "note.suspended",
                ground=w.t(f"ground.{s.ground}"),
                note=f" ({s.note})" if s.note else "",
                time=when(s.since, w.lang),
                by=s.by,
            )
            if s is not None
            else w.t("note.not_suspended"),
            "not_a_destination": w.t("note.action", category=c.category, action=c.action),
            "length": w.t("note.length", n=len(digits), min=c.min_digits, max=c.max_digits),
            "operator_hard_block": _block_note(w, c.hard, c.hard_exception, snap),
            "customer_block": w.t("note.customer_block", blocks=matches or w.t("note.some_block"))
            if by_account
            else w.t("note.customer_none"),
            "lifted_default_block": w.t("note.lifted", block=c.default, lifted=lifted)
            if c.default
            else w.t("note.no_block"),
            "operator_default_block": _block_note(w, c.default, c.default_exception, snap),
            "allow": w.t("note.allow"),
        }
    return [
        {
            "code": step.step,
            "name": text_or(w.lang, f"step.{step.step}", "step.other", code=step.step),
            "outcome": step.outcome,
            "note": notes.get(step.step, ""),
            "rule": step.rule,
        }
        for step in e.steps
    ]


def _reason(w: W, code: str) -> str:
    return text_or(w.lang, f"reason.{code}", "reason.other", code=code)


@get("/operator-blocks", sync_to_thread=False)
def published(w: WDep) -> Template:
    """The operator's published block list (clause 9.5; public, as the API's)."""
    entries = [
        {
            "e": e,
            # Numbers as on every page: E.164 (the list's own form, as dialled, is in its CSV).
            "value": e164(e.canonical[0]) if e.kind != "category" and e.canonical else e.value,
            "numbers": [e164(p) if p else w.t("published.all_numbers") for p in e.canonical],
            "excluding": [e164(_canonical(p)) for p in e.excluding],
        }
        for e in published_blocks(w.runtime.snapshot.rules)
    ]
    return page(w, "published.html", w.t("title.published"), entries=entries)


def _canonical(dialled: str) -> str:
    """A prefix of the published list as dialled (``0181``, ``118``, ``+881``) as E.164
    digits (the list carries the canonical form of its own prefixes, not of those it
    excludes)."""
    try:
        return canonical_prefix(dialled)
    except NumberError:  # not expected (the list's own output); shown as it is
        return dialled.lstrip("+")


HANDLERS = [overview, site, move, test_number, published]
