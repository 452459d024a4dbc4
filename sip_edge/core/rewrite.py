"""Caller identity and emergency rewriting of a forwarded INVITE (clauses 9.3, 9.6, 10).

CLIP (clause 9.6, § 120 (2) TKG): the customer's UPN candidate is the P-Preferred-Identity
if present, else the From user part (:func:`upn_candidate`); the Decision's ``identity``
says what to present. The carrier profile's ``identity_header`` names the header that
carries the presented number; the other carries the NPN. A P-Asserted-Identity from the
customer is never trusted (RFC 3325 9.1: only a trusted network asserts), so it is always
replaced; P-Preferred-Identity is consumed. CLIR (RFC 3323 ``Privacy: id``/``user``/
``header``, or an anonymous From) keeps From anonymous and passes Privacy on, so the
carrier still gets the asserted identity but withholds it from the called party.

Emergency (NotrufV, TR Notruf 2.1): the NPN goes in From and P-Asserted-Identity even
under CLIR, Privacy is removed, and the declared site travels in the header named by
``rules/emergency.toml`` ``location_header`` (see README: which Geolocation form).
"""

from __future__ import annotations

from typing import Literal

from policy import Site
from sip_edge.wire.message import Message, SipParseError, parse_name_addr, uri_user, wire

__all__ = [
    "ANONYMOUS",
    "apply_emergency",
    "apply_identity",
    "is_clir",
    "location_value",
    "number_uri",
    "upn_candidate",
]

#: RFC 3323 4.1.1.3: the From of an anonymous call.
ANONYMOUS = '"Anonymous" <sip:anonymous@anonymous.invalid>'
_PRIVACY_HIDE = frozenset(("id", "user", "header"))


def number_uri(digits: str, host: str) -> str:
    """``<sip:+E164@host;user=phone>`` for canonical ``digits``."""
    return f"<sip:+{digits}@{host};user=phone>"


def upn_candidate(msg: Message) -> str:
    """The number the customer wants shown: P-Preferred-Identity, else From's user part."""
    ppi = msg.get("p-preferred-identity")
    source = ppi if ppi else msg.get("from") or ""
    try:
        return uri_user(parse_name_addr(source.split(",", 1)[0]).uri)
    except SipParseError:
        return ""


def is_clir(msg: Message) -> bool:
    """Whether the customer asked to withhold its number (CLIR, RFC 3323)."""
    privacy = msg.get("privacy")
    if privacy and _PRIVACY_HIDE & {p.strip().lower() for p in privacy.split(";")}:
        return True
    try:
        uri = parse_name_addr(msg.get("from") or "").uri.lower()
    except SipParseError:
        return False
    return "anonymous@" in uri or uri.endswith("anonymous.invalid")


def _replace_from(msg: Message, value: str) -> None:
    """Set From's name-addr to ``value``, keeping its tag and other parameters."""
    params = parse_name_addr(msg.get("from") or "").params
    msg.set("from", f"{value}{params}")


def apply_identity(
    msg: Message,
    presented: str | None,
    npn: str | None,
    identity_header: Literal["from", "p-asserted-identity"],
    host: str,
) -> None:
    """Map the presented number and the NPN onto From / P-Asserted-Identity (clause 9.6)."""
    clir = is_clir(msg)
    msg.remove("p-preferred-identity")
    msg.remove("p-asserted-identity")
    if presented is None:
        if not clir:
            msg.remove("privacy")
        return
    asserted = npn or presented
    if identity_header == "from":
        from_number, pai = presented, asserted
    else:
        from_number, pai = asserted, presented
    if clir:
        _replace_from(msg, ANONYMOUS)
    else:
        display = parse_name_addr(msg.get("from") or "").display
        prefix = f"{display} " if display and "anonymous" not in display.lower() else ""
        _replace_from(msg, prefix + number_uri(from_number, host))
        msg.remove("privacy")
    msg.add("p-asserted-identity", number_uri(pai, host))


def location_value(account: str, site: Site) -> str:
    """The location header's value: an RFC 6442 locationValue with the site as parameters.

    ``<urn:x-callpolicy:site:ACCOUNT>;address="...";ags=MUNICIPALITY`` (generic-params
    of RFC 6442's grammar). Control characters are dropped and quotes escaped, so a site
    address can never inject a header.
    """
    text = "".join(ch if ch.isprintable() else " " for ch in site.address)
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    value = f'<urn:x-callpolicy:site:{account}>;address="{wire(text)}"'
    if site.municipality.isdigit():
        value += f";ags={site.municipality}"
    return value


def apply_emergency(
    msg: Message,
    npn: str | None,
    host: str,
    location_header: str,
    location: str | None,
) -> None:
    """Emergency identity and location: NPN in From and PAI despite CLIR (NotrufV)."""
    msg.remove("p-preferred-identity")
    msg.remove("p-asserted-identity")
    msg.remove("privacy")
    key = location_header.lower()
    msg.remove(key)  # the declared site is authoritative, not what the PBX claims
    if npn:
        _replace_from(msg, number_uri(npn, host))
        msg.add("p-asserted-identity", number_uri(npn, host))
    if location is not None:
        msg.add(key, location, location_header)
        if key == "geolocation":
            msg.set("geolocation-routing", "no")  # RFC 6442 4.2: routing is done already
