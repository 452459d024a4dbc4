"""The operator's side of an account: numbers through their life, NPN, suspension.

Numbers are the operator's (clauses 9.1, 9.2): only operators assign, port in, activate,
port out and return them and set the main number (NPN); customers choose among their
active numbers which one an extension presents (:func:`set_presentation`). Every function
here is pure: it gets the account, the rules and the time (``now``), and returns an
:class:`~policy.state.accounts.Effect` (the new account and its audit lines) for the store to
write in one transaction, or raises :class:`~policy.errors.CustomerError`.

States and transitions (``TRANSITIONS``)::

    ordered --activate--> active --port_out--> porting_out --return--> returned
    porting --activate (on or after the port date)--^     \\--activate (port-out cancelled)
    any of ordered, porting, active, porting_out --return--> returned

A block's range is fixed once assigned (clause 9.2): a request overlapping a held block
is refused, growing it in particular. Cutting a block (:func:`split`) or returning part of
it (:func:`return_part`) marks it ``split`` and creates its parts as holdings of their own.

Geographic numbers (clause 9.3): assigned and activated only for an account whose declared
site lies in the number's Ortsnetz, and activated only with a recorded proof of the site
(trade registration, commercial register, Telekom bill, lease). The site's Ortsnetz comes
from ``rules/ortsnetz.toml`` (operator data), never from what the customer typed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from policy.errors import CustomerError
from policy.percall.numbers import NumberError, canonical, geographic_area_code
from policy.state.accounts import (
    Account,
    AuditEntry,
    Effect,
    Holding,
    NumberState,
    Porting,
    Site,
    SiteProof,
)

__all__ = [
    "BLOCK_SIZES",
    "HELD",
    "TRANSITIONS",
    "activate",
    "assign",
    "audit_line",
    "canonical_range",
    "find_holding",
    "held_overlap",
    "port_in",
    "port_out",
    "presentable_since",
    "relocate",
    "return_holding",
    "return_part",
    "set_npn",
    "set_presentation",
    "split",
]

#: Sizes of number blocks the operator assigns (clause 9.2; german-numbering.md: 10, 100,
#: 1,000 ...), each aligned on its size (``…0`` to ``…9``, ``…00`` to ``…99``).
BLOCK_SIZES = (10, 100, 1_000, 10_000)

#: The life-cycle transitions an operator may make (``split`` is made by split/return_part).
TRANSITIONS: Mapping[NumberState, frozenset[NumberState]] = {
    "ordered": frozenset({"active", "returned"}),
    "porting": frozenset({"active", "returned"}),
    "active": frozenset({"porting_out", "returned"}),
    "porting_out": frozenset({"active", "returned"}),
    "returned": frozenset(),
    "split": frozenset(),
}

#: States in which a holding still binds its numbers to the account.
HELD: frozenset[NumberState] = frozenset({"ordered", "porting", "active", "porting_out"})

#: The most extensions one account may map (a PBX's extensions, not a number space).
MAX_PRESENTATION = 10_000

_replace = msgspec.structs.replace


# --- ranges ------------------------------------------------------------------------


def _german(dial: str, field: str) -> str:
    text = dial if dial.startswith(("+", "0")) else "+" + dial
    try:
        number = canonical(text)
    except NumberError as exc:
        raise CustomerError("invalid_number", f"{field}: {exc}", field) from None
    if not number.startswith("49"):
        raise CustomerError(
            "invalid_number",
            f"{field}: expected a German number (+49 …), got {dial!r}: the operator assigns "
            "numbers of the German number space (clauses 9.1, 9.2)",
            field,
        )
    return number


def canonical_range(first: str, last: str | None = None) -> tuple[str, str]:
    """``first``..``last`` as canonical digits: one number, or an aligned block (9.2)."""
    a = _german(first, "first")
    b = a if last is None or last == "" else _german(last, "last")
    if a == b:
        return a, b
    size = int(b) - int(a) + 1
    if len(a) != len(b) or size not in BLOCK_SIZES or int(a) % size:
        raise CustomerError(
            "invalid_block_size",
            f"expected a block of {', '.join(map(str, BLOCK_SIZES))} numbers from …0 to …9 "
            f"(clause 9.2), got +{a}..+{b}",
            "last",
        )
    return a, b


def _label(h: Holding) -> str:
    return f"+{h.first}" if h.first == h.last else f"+{h.first}..+{h.last}"


def _id(account: Account, first: str, last: str) -> str:
    base = first if first == last else f"{first}-{last}"
    taken = {h.id for h in account.holdings}
    if base not in taken:
        return base
    n = 2
    while f"{base}~{n}" in taken:
        n += 1
    return f"{base}~{n}"


def find_holding(account: Account, holding_id: str) -> Holding:
    """The holding of that id (404 ``unknown_holding``)."""
    for h in account.holdings:
        if h.id == holding_id:
            return h
    raise CustomerError(
        "unknown_holding", f"account {account.id!r} holds no numbers {holding_id!r}", "id"
    )


def _overlaps(h: Holding, first: str, last: str) -> bool:
    return len(h.first) == len(first) and h.first <= last and first <= h.last


def held_overlap(account: Account, first: str, last: str) -> Holding | None:
    """A holding of ``account`` that still binds a number of ``first..last``, if any."""
    return next(
        (h for h in account.holdings if h.state in HELD and _overlaps(h, first, last)), None
    )


def _free(account: Account, first: str, last: str, taken: Iterable[Holding] = ()) -> None:
    """Refuse a range overlapping a held one of this account (or of ``taken``)."""
    for h in (*account.holdings, *taken):
        if h.state not in HELD or not _overlaps(h, first, last):
            continue
        if h.first >= first and h.last <= last and (h.first, h.last) != (first, last):
            raise CustomerError(
                "block_size_fixed",
                f"{_label(h)} is held already: a block's size cannot be increased later "
                "(clause 9.2); assign a new block instead",
                "last",
            )
        raise CustomerError(
            "number_taken", f"+{first}..+{last} overlaps {_label(h)} ({h.state})", "first"
        )


# --- Ortsnetz (clauses 9.3, 10) ------------------------------------------------------


def _ortsnetz(site: Site | None, first: str, last: str, action: str) -> str:
    """The area code of a geographic range after checking the site is in its Ortsnetz."""
    area = geographic_area_code(first)
    if area is None:
        return ""  # not geographic (032, 0800, mobile ...): not bound to a place
    if geographic_area_code(last) != area:
        raise CustomerError(
            "invalid_block_size", f"+{first}..+{last} spans more than one Ortsnetz", "last"
        )
    if site is None:
        raise CustomerError(
            "site_required",
            f"cannot {action} +{first}: a geographic number of the Ortsnetz 0{area} needs the "
            "account's declared site in that area (clause 9.3); declare the site first",
            "site",
        )
    if site.area_code != area:
        raise CustomerError(
            "outside_ortsnetz",
            f"cannot {action} +{first}: it belongs to the Ortsnetz 0{area}, the account's "
            f"site ({site.municipality or 'no municipality key'}) lies in 0{site.area_code} "
            "(clause 9.3: a geographic number only for a seat inside its local network)",
            "first",
        )
    return area


# --- audit -------------------------------------------------------------------------


def audit_line(
    account: Account,
    actor: str,
    now: float,
    action: str,
    h: Holding | None = None,
    before: str = "",
    after: str = "",
    detail: str = "",
) -> AuditEntry:
    return AuditEntry(
        at=now,
        actor=actor,
        account=account.id,
        action=action,
        subject=h.id if h else "",
        first=h.first if h else "",
        last=h.last if h else "",
        before=before,
        after=after,
        detail=detail,
    )


def _with(account: Account, old: Holding | None, *new: Holding) -> tuple[Holding, ...]:
    """The holdings with ``old`` replaced by ``new`` (or ``new`` appended)."""
    if old is None:
        return (*account.holdings, *new)
    out: list[Holding] = []
    for h in account.holdings:
        out.extend(new if h.id == old.id else (h,))
    return tuple(out)


def _move(
    account: Account,
    h: Holding,
    to: NumberState,
    now: float,
    actor: str,
    **changes: object,
) -> Effect:
    """One life-cycle transition of ``h``, checked against TRANSITIONS."""
    if to not in TRANSITIONS[h.state]:
        allowed = ", ".join(sorted(TRANSITIONS[h.state])) or "none"
        raise CustomerError(
            "invalid_transition",
            f"{_label(h)} is {h.state}: it cannot become {to} (allowed: {allowed})",
            "state",
        )
    new = _replace(h, state=to, **changes)
    account = _replace(account, holdings=_with(account, h, new))
    line = audit_line(account, actor, now, f"number.{to}", new, h.state, to)
    return Effect(account=account, audit=(line,), event=f"number.{to}")


# --- operator actions on numbers -----------------------------------------------------


def assign(account: Account, first: str, last: str | None, now: float, actor: str) -> Effect:
    """A new number or block from the operator's own ranges: ``ordered`` (clause 9.2)."""
    a, b = canonical_range(first, last)
    area = _ortsnetz(account.site, a, b, "assign")
    _free(account, a, b)
    h = Holding(
        id=_id(account, a, b), first=a, last=b, state="ordered", area_code=area, ordered_at=now
    )
    account = _replace(account, holdings=(*account.holdings, h))
    line = audit_line(account, actor, now, "number.ordered", h, "", "ordered", "assigned")
    return Effect(account=account, audit=(line,), event="number.ordered")


def port_in(
    account: Account,
    first: str,
    last: str | None,
    previous_provider: str,
    port_date: float,
    now: float,
    actor: str,
) -> Effect:
    """A number ported in from ``previous_provider`` on ``port_date``: ``porting`` (9.1)."""
    a, b = canonical_range(first, last)
    if not previous_provider.strip():
        raise CustomerError(
            "invalid_target",
            f"previous_provider: expected the name of the previous provider, got "
            f"{previous_provider!r}",
            "previous_provider",
        )
    area = _ortsnetz(account.site, a, b, "port in")
    _free(account, a, b)
    porting = Porting(previous_provider=previous_provider.strip(), port_date=port_date)
    h = Holding(
        id=_id(account, a, b),
        first=a,
        last=b,
        state="porting",
        area_code=area,
        ordered_at=now,
        porting=porting,
    )
    account = _replace(account, holdings=(*account.holdings, h))
    line = audit_line(
        account,
        actor,
        now,
        "number.porting",
        h,
        "",
        "porting",
        f"from {porting.previous_provider}, port date {port_date:.0f}",
    )
    return Effect(account=account, audit=(line,), event="number.porting")


def activate(
    account: Account, holding_id: str, now: float, actor: str, proof: SiteProof | None = None
) -> Effect:
    """Make a holding usable (clause 6.2: billing starts now); checks date, site, proof."""
    h = find_holding(account, holding_id)
    if h.state == "porting" and h.porting is not None and now < h.porting.port_date:
        raise CustomerError(
            "port_date_not_reached",
            f"{_label(h)} is ported in on {h.porting.port_date:.0f}; it cannot be active "
            f"before then (now {now:.0f}; clause 9.1: the previous provider serves until then)",
            "id",
        )
    changes: dict[str, object] = {}
    if h.area_code:
        _ortsnetz(account.site, h.first, h.last, "activate")
        proof = proof or h.proof
        site = account.site
        assert site is not None  # _ortsnetz refused a missing site
        if proof is None:
            raise CustomerError(
                "proof_required",
                f"cannot activate {_label(h)}: a geographic number needs a verified proof of "
                "the site (Gewerbeamt, Handelsregister, Telekom bill or lease; clause 9.3)",
                "proof",
            )
        if proof.municipality and proof.municipality != site.municipality:
            raise CustomerError(
                "proof_required",
                f"the proof {proof.reference!r} was made for municipality "
                f"{proof.municipality}, the site is in {site.municipality}: verify the site "
                "again (clause 9.3)",
                "proof",
            )
        changes["proof"] = _replace(proof, municipality=proof.municipality or site.municipality)
    if h.activated_at is None or h.state != "porting_out":
        changes["activated_at"] = now
    return _move(account, h, "active", now, actor, **changes)


def _npn_free(account: Account, h: Holding, action: str) -> None:
    if account.npn and h.holds(account.npn):
        raise CustomerError(
            "npn_in_use",
            f"cannot {action} {_label(h)}: it holds the main number +{account.npn}; set "
            "another active number as main number first (clause 9.6)",
            "id",
        )


def _unpresent(account: Account, h: Holding) -> dict[str, str]:
    """The presentation without the extensions that showed numbers of ``h``."""
    return {ext: n for ext, n in account.presentation.items() if not h.holds(n)}


def port_out(account: Account, holding_id: str, now: float, actor: str) -> Effect:
    """The customer leaves with the numbers: ``porting_out`` (no longer presented)."""
    h = find_holding(account, holding_id)
    _npn_free(account, h, "port out")
    effect = _move(account, h, "porting_out", now, actor)
    return _replace(effect, account=_replace(effect.account, presentation=_unpresent(account, h)))


def return_holding(account: Account, holding_id: str, now: float, actor: str) -> Effect:
    """The numbers go back to the operator (or the port-out completed): ``returned``."""
    h = find_holding(account, holding_id)
    _npn_free(account, h, "return")
    effect = _move(account, h, "returned", now, actor, ended_at=now)
    return _replace(effect, account=_replace(effect.account, presentation=_unpresent(account, h)))


def _aligned_parts(first: int, last: int, width: int) -> list[tuple[str, str]]:
    """``first..last`` as the fewest aligned decimal blocks (and single numbers)."""
    out: list[tuple[str, str]] = []
    n = first
    while n <= last:
        size = 1
        while size * 10 <= BLOCK_SIZES[-1] and n % (size * 10) == 0 and n + size * 10 - 1 <= last:
            size *= 10
        out.append((str(n).zfill(width), str(n + size - 1).zfill(width)))
        n += size
    return out


def _cut(
    account: Account,
    h: Holding,
    parts: list[tuple[str, str]],
    returned: tuple[str, str] | None,
    now: float,
    actor: str,
    action: str,
) -> Effect:
    if h.state == "split":
        raise CustomerError("invalid_transition", f"{_label(h)} was split already", "id")
    if h.state == "returned":
        raise CustomerError("invalid_transition", f"{_label(h)} is {h.state}", "id")
    parent = _replace(h, state="split", ended_at=now)
    account = _replace(account, holdings=_with(account, h, parent))
    children: list[Holding] = []
    lines = [
        audit_line(account, actor, now, action, parent, h.state, "split", f"{len(parts)} parts")
    ]
    for a, b in parts:
        state: NumberState = "returned" if (a, b) == returned else h.state
        child = _replace(
            h,
            id=_id(_replace(account, holdings=(*account.holdings, *children)), a, b),
            first=a,
            last=b,
            state=state,
            parent=h.id,
            ended_at=now if state == "returned" else None,
        )
        children.append(child)
        lines.append(
            audit_line(account, actor, now, f"number.{state}", child, "", state, f"part of {h.id}")
        )
    account = _replace(account, holdings=(*account.holdings, *children))
    return Effect(account=account, audit=tuple(lines), event=action)


def split(account: Account, holding_id: str, size: int, now: float, actor: str) -> Effect:
    """Cut a block into aligned blocks of ``size`` (each keeps the state and dates)."""
    h = find_holding(account, holding_id)
    if size not in (1, *BLOCK_SIZES) or size >= h.size:
        raise CustomerError(
            "invalid_block_size",
            f"expected a part size below {h.size} of 1, {', '.join(map(str, BLOCK_SIZES))}, "
            f"got {size}",
            "size",
        )
    width, first = len(h.first), int(h.first)
    parts = [
        (str(n).zfill(width), str(n + size - 1).zfill(width))
        for n in range(first, int(h.last) + 1, size)
    ]
    return _cut(account, h, parts, None, now, actor, "number.split")


def return_part(
    account: Account, holding_id: str, first: str, last: str | None, now: float, actor: str
) -> Effect:
    """Return part of a block (an aligned sub-block or one number); the rest stays held."""
    h = find_holding(account, holding_id)
    a, b = canonical_range(first, last)
    if not (h.holds(a) and h.holds(b)) or (a, b) == (h.first, h.last):
        raise CustomerError(
            "invalid_block_size", f"+{a}..+{b} is not a proper part of {_label(h)}", "first"
        )
    if account.npn and a <= account.npn <= b and len(account.npn) == len(a):
        _npn_free(account, _replace(h, first=a, last=b), "return")
    width = len(h.first)
    parts = [
        *_aligned_parts(int(h.first), int(a) - 1, width),
        (a, b),
        *_aligned_parts(int(b) + 1, int(h.last), width),
    ]
    effect = _cut(account, h, parts, (a, b), now, actor, "number.return_part")
    part = _replace(h, first=a, last=b)
    return _replace(
        effect, account=_replace(effect.account, presentation=_unpresent(effect.account, part))
    )


def set_npn(account: Account, number: str, now: float, actor: str) -> Effect:
    """Make an active number of the account its main number (Stammrufnummer, 9.6)."""
    npn = _german(number, "npn")
    if not account.owns_active(npn):
        raise CustomerError(
            "npn_not_active",
            f"+{npn} is not an active number of account {account.id!r}: the main number must "
            "be one of its active numbers",
            "npn",
        )
    line = audit_line(account, actor, now, "npn.set", None, account.npn, npn)
    line = _replace(line, subject=npn)
    return Effect(account=_replace(account, npn=npn), audit=(line,), event="npn.set")


def relocate(
    account: Account,
    site: Site,
    new_numbers: Iterable[tuple[str, str | None]],
    now: float,
    actor: str,
) -> Effect:
    """Move the site out of its Ortsnetz (clause 10): new numbers are ordered in the new
    area, the old area's geographic numbers are returned, and an NPN among them is cleared
    (the operator sets a new one once the new numbers are active)."""
    old = [
        h
        for h in account.holdings
        if h.state in HELD and h.area_code and h.area_code != site.area_code
    ]
    lines: list[AuditEntry] = []
    for h in old:
        if h.state != "returned":
            h2 = _replace(h, state="returned", ended_at=now)
            account = _replace(account, holdings=_with(account, h, h2))
            lines.append(
                audit_line(
                    account,
                    actor,
                    now,
                    "number.returned",
                    h2,
                    h.state,
                    "returned",
                    "site moved out of the Ortsnetz (clause 10)",
                )
            )
            account = _replace(account, presentation=_unpresent(account, h))
    if account.npn and not account.owns_active(account.npn):
        lines.append(
            _replace(
                audit_line(account, actor, now, "npn.set", None, account.npn, ""),
                subject=account.npn,
            )
        )
        account = _replace(account, npn="")
    before = account.site
    account = _replace(account, site=site)
    lines.append(
        audit_line(
            account,
            actor,
            now,
            "site.relocate",
            None,
            before.area_code if before else "",
            site.area_code,
            site.address,
        )
    )
    for first, last in new_numbers:
        effect = assign(account, first, last, now, actor)
        account = effect.account
        lines.extend(effect.audit)
    return Effect(account=account, audit=tuple(lines), event="site.relocate")


def presentable_since(account: Account, number: str) -> float | None:
    """Since when the account may present canonical ``number`` (None: it may not now)."""
    for h in account.active():
        if h.holds(number):
            return h.activated_at
    return None


# --- the customer's choice (clause 9.6) ------------------------------------------------


def set_presentation(
    account: Account, mapping: Mapping[str, str], now: float, actor: str
) -> Effect:
    """Which active own number each extension presents (the UPN candidates, 9.6)."""
    if len(mapping) > MAX_PRESENTATION:
        raise CustomerError(
            "invalid_presentation", f"at most {MAX_PRESENTATION} extensions, got {len(mapping)}"
        )
    out: dict[str, str] = {}
    for ext, dial in mapping.items():
        field = f"presentation[{ext!r}]"
        if not ext or len(ext) > 64 or not ext.isprintable() or any(c in ext for c in " @:;<>"):
            raise CustomerError(
                "invalid_presentation", f"{field}: expected an extension (From user part)", field
            )
        number = _german(dial, field)
        if not account.owns_active(number):
            raise CustomerError(
                "not_active",
                f"{field}: +{number} is not an active number of this account; only active "
                "own numbers may be presented (clause 9.6, § 120 TKG)",
                field,
            )
        out[ext] = number
    line = audit_line(
        account, actor, now, "presentation.set", None, "", "", f"{len(out)} extensions"
    )
    return Effect(
        account=_replace(account, presentation=out), audit=(line,), event="presentation.set"
    )
