"""The one schema of the policy core: rule files, account policy, calls and decisions.

Every value that crosses a boundary is a ``msgspec.Struct`` defined here. Operator files are
decoded with ``forbid_unknown_fields=True`` because a misspelt key must fail loudly (the
rules engine would otherwise accept it silently, ``notes/durable-rules.md``). Evolution rule
(msgspec ``schema-evolution``): new fields get defaults, field types never change, and each
file carries ``schema = 1``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

__all__ = [
    "AccountPolicy",
    "AdmissionFile",
    "BlockRule",
    "BlocksFile",
    "Call",
    "Carrier",
    "CarriersFile",
    "Category",
    "ClipFile",
    "CodecsFile",
    "CountriesFile",
    "CountryGroup",
    "Decision",
    "EmergencyArea",
    "EmergencyFile",
    "EscalationStep",
    "ExceptionRule",
    "Identity",
    "MediaShare",
    "NumberRange",
    "NumberingPlanFile",
    "OperatorCase",
    "OperatorCasesFile",
    "Ortsnetz",
    "OrtsnetzFile",
    "PowerDialerFile",
    "RuleRef",
    "SipAnswer",
    "Verdict",
]

RuleId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
ReasonCode = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Clause = Annotated[str, Meta(pattern=r"^[0-9]+(\.[0-9]+)*$")]
Digits = Annotated[int, Meta(ge=1, le=32)]
Cents = Annotated[int, Meta(ge=0, le=10_000_000)]

Verdict = Literal["allow", "block", "emergency", "reject"]


class _RuleFile(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Common base of operator files: a schema version."""

    schema: Literal[1] = 1


# --- numbering_plan.toml -------------------------------------------------------------


class Category(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A named class of the number space, found by longest prefix."""

    id: RuleId
    prefixes: tuple[str, ...] = ()
    """Prefixes as dialled: ``+881``, ``0900``, ``118`` (canonicalised at load)."""
    description: str = ""
    clause: Clause | None = None
    action: Literal["classify", "emergency", "reject"] = "classify"
    """``emergency`` routes to a PSAP and is never blocked; ``reject`` is not a destination."""
    reject_reason: ReasonCode | None = None
    """The reason code of a ``reject`` category (e.g. ``carrier_selection``)."""
    min_digits: Digits = 3
    """Fewest E.164 digits (country code included) of a complete number."""
    max_digits: Digits = 15
    """Most E.164 digits (country code included); ITU-T E.164 allows 15."""


class NumberingPlanFile(_RuleFile, frozen=True, kw_only=True):
    """``rules/numbering_plan.toml``: the categories of the number space."""

    default_category: RuleId
    """The category of numbers no prefix matches (the root of the trie)."""
    category: tuple[Category, ...]


# --- blocks.toml ---------------------------------------------------------------------


class BlockRule(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An operator block (clause 9.5): by prefixes, categories and/or country codes."""

    id: RuleId
    reason: ReasonCode
    prefixes: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    """Country calling codes without ``+`` (``881``)."""
    liftable: bool = False
    """Whether a customer may have it lifted (Freischaltung, clause 9.5)."""
    fee_cents: Cents | None = None
    """The charge for lifting it; required when ``liftable``."""
    clause: Clause | None = None
    description: str = ""


class ExceptionRule(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Prefixes that one block does not cover (11822/11823 of the directory block)."""

    id: RuleId
    of: RuleId
    """The id of the block this exception punches a hole in."""
    prefixes: tuple[str, ...]
    clause: Clause | None = None
    description: str = ""


class CustomerFees(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Fees for blocks the customer set itself (clause 9.5)."""

    unblock_fee_cents: Cents = 0
    """The charge for lifting a block the customer had set itself."""


class BlocksFile(_RuleFile, frozen=True, kw_only=True):
    """``rules/blocks.toml``: operator blocks and their exceptions."""

    customer: CustomerFees = CustomerFees()
    block: tuple[BlockRule, ...] = ()
    exception: tuple[ExceptionRule, ...] = ()


# --- countries.toml ------------------------------------------------------------------


class CountryGroup(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A named set of country calling codes."""

    id: RuleId
    codes: tuple[str, ...]
    description: str = ""
    clause: Clause | None = None


class CountriesFile(_RuleFile, frozen=True, kw_only=True):
    """``rules/countries.toml``: calling codes beyond phonenumbers' list, and groups."""

    extra_codes: tuple[str, ...] = ()
    group: tuple[CountryGroup, ...] = ()


# --- clip.toml -----------------------------------------------------------------------


class ClipFile(_RuleFile, frozen=True, kw_only=True):
    """``rules/clip.toml``: which numbers may be presented as the calling number."""

    never_present: tuple[str, ...]
    """Categories never sent as a UPN (§ 120 (2) TKG: 0900, 0137, 118xx, short codes)."""
    clause: Clause | None = None


# --- emergency.toml ------------------------------------------------------------------


class EmergencyArea(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An emergency origin area and its PSAP routing numbers (TR Notruf 2.1)."""

    id: RuleId
    routing_110: str
    routing_112: str
    fallback_110: str
    fallback_112: str
    municipalities: tuple[str, ...] = ()
    """Municipality keys (AGS, 8 digits) whose sites this area serves (TR Notruf)."""
    description: str = ""


class EmergencyFile(_RuleFile, frozen=True, kw_only=True):
    """``rules/emergency.toml``: emergency origin areas (clauses 9.3, 10)."""

    test_directory: bool
    """True when this is made-up test data; the BNetzA directory may not be shipped."""
    default_area: RuleId
    """The area used when an account declared no site (or an unknown one)."""
    location_header: str = "Geolocation"
    area: tuple[EmergencyArea, ...]


# --- ortsnetz.toml ------------------------------------------------------------------

AreaCode = Annotated[str, Meta(pattern=r"^[2-9][0-9]{1,4}$")]
"""An Ortsnetzkennzahl without the trunk prefix 0: 2-5 digits (``30``, ``4154``)."""
Ags = Annotated[str, Meta(pattern=r"^[0-9]{8}$")]
"""An amtlicher Gemeindeschlüssel: 8 digits."""


class Ortsnetz(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One local network area (Ortsnetzbereich) and the municipalities it covers.

    One line of the BNetzA's ONB list (Ortsnetzkennzahl, Ortsnetzname) joined with the
    municipality keys whose territory lies in the area (from the BNetzA's ONB GIS data).
    A municipality split between areas is listed under each; its sites then need an area
    code, and the proof (clause 9.3) says which.
    """

    area_code: AreaCode
    name: str
    municipalities: tuple[Ags, ...] = ()


class OrtsnetzFile(_RuleFile, frozen=True, kw_only=True):
    """``rules/ortsnetz.toml``: municipality keys -> local network areas (clauses 9.3, 10)."""

    test_directory: bool
    """True when this is a made-up or partial test subset, not the operator's full copy."""
    source: str = ""
    """Where the operator's copy came from (BNetzA ONB list and GIS data, with date)."""
    ortsnetz: tuple[Ortsnetz, ...]


# --- carriers.toml -------------------------------------------------------------------


class Carrier(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An outbound route and what it can carry (clause 9.6)."""

    id: RuleId
    address: str
    """``host:port`` of the carrier's SIP interface."""
    carries_upn: bool
    """Whether this carrier carries a User Provided Number; if not, the NPN is sent."""
    identity_header: Literal["from", "p-asserted-identity"] = "from"
    """Where the carrier wants the presented number; the other header carries the NPN."""
    prefixes: tuple[str, ...] = ()
    """Destinations routed to this carrier (longest prefix); the default carrier takes the rest."""
    transport: Literal["udp", "tcp"] = "udp"
    description: str = ""


class CarriersFile(_RuleFile, frozen=True, kw_only=True):
    """``rules/carriers.toml``: routes."""

    default: RuleId
    carrier: tuple[Carrier, ...]


# --- codecs.toml ---------------------------------------------------------------------


class CodecsFile(_RuleFile, frozen=True, kw_only=True):
    """``rules/codecs.toml``: the payload formats an offer must include one of (clause 2)."""

    audio: tuple[str, ...]
    video: tuple[str, ...] = ()
    image: tuple[str, ...] = ()
    """``t38`` for fax (the SDP ``m=image`` line)."""
    clause: Clause | None = None


# --- power_dialer.toml ---------------------------------------------------------------


class EscalationStep(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One escalation level and the number of rejected attempts in a window that reach it."""

    level: Literal["warn", "throttle", "suspend"]
    rejected_at_least: Annotated[int, Meta(ge=1)]


class PowerDialerFile(_RuleFile, frozen=True, kw_only=True):
    """``rules/power_dialer.toml``: per-account limits and escalation (clause 7.2)."""

    max_attempts_per_second: Annotated[int, Meta(ge=1)]
    max_concurrent_setups: Annotated[int, Meta(ge=1)]
    window_seconds: Annotated[int, Meta(ge=1, le=3600)] = 60
    escalation: tuple[EscalationStep, ...] = ()
    clause: Clause | None = None


# --- admission.toml ------------------------------------------------------------------


class MediaShare(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The share of a site's bandwidth one media line of a call uses (clause 2)."""

    kind: RuleId
    """``voice``, ``video``, ``fax``: the name ``late_offer`` refers to."""
    media: Literal["audio", "video", "image"]
    """The SDP media type (``m=`` line) the formats are offered on."""
    kbps: Annotated[float, Meta(gt=0, le=100_000)]
    """kbit/s per call for a media line offering one of ``formats``."""
    formats: Annotated[tuple[str, ...], Meta(min_length=1)]
    """Payload format names as in codecs.toml (``PCMA``, ``H264``, ``t38``)."""
    description: str = ""


class AdmissionFile(_RuleFile, frozen=True, kw_only=True):
    """``rules/admission.toml``: per-site call admission by bandwidth (clause 2)."""

    late_offer: RuleId
    """The ``kind`` an INVITE without SDP counts as (its offer comes in the 2xx)."""
    call_timeout_seconds: Annotated[int, Meta(ge=60, le=7 * 86_400)] = 43_200
    """After this a call whose BYE the edge never saw stops counting (no leak)."""
    share: tuple[MediaShare, ...]
    clause: Clause | None = None


# --- accounts and calls --------------------------------------------------------------


class NumberRange(Struct, frozen=True, forbid_unknown_fields=True):
    """A number block of an account, first..last inclusive (clause 9.2: its size is fixed)."""

    first: str
    last: str


class AccountPolicy(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What the policy needs to know about one account (stored by the store, later)."""

    account: str
    npn: str = ""
    """Network Provided Number: the main number (Stammrufnummer), as written or canonical."""
    area_code: str = ""
    """Area code of the site's local network (``30``), for dialling without one."""
    numbers: tuple[str, ...] = ()
    number_blocks: tuple[NumberRange, ...] = ()
    blocked_categories: tuple[str, ...] = ()
    blocked_countries: tuple[str, ...] = ()
    blocked_prefixes: tuple[str, ...] = ()
    lifted: tuple[str, ...] = ()
    """Ids of operator default blocks this account has paid to lift (clause 9.5)."""
    emergency_area: str = ""
    """Emergency origin area of the declared site (clause 9.3)."""
    suspended: bool = False
    """Whether the operator suspended the account's outgoing calls (clause 1; 110/112 go on)."""
    suspension: str = ""
    """The suspension as explain shows it: ground, note, since when and by whom."""
    dialer_flag: Literal["none", "warn", "throttle", "suspend"] = "none"
    """The power-dialer escalation (clause 7.2; the edge enforces it), for explain."""
    presentation: dict[str, str] = {}
    """Extension (the From user a PBX sends) -> the own number presented for it (clause 9.6),
    as written (``+4930…``); one that is not an own number of the account gets the NPN."""


class Call(Struct, frozen=True, kw_only=True):
    """One outgoing call attempt as the policy sees it."""

    to: str
    """The dial string: ``+49…``, ``0…``, a local number, a ``tel:``/``sip:`` URI."""
    from_number: str = ""
    """The calling number the customer sent (UPN candidate), if any."""


# --- decisions -----------------------------------------------------------------------


class RuleRef(Struct, frozen=True):
    """The rule a decision came from: its id and where it is written."""

    id: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.id} ({self.file}:{self.line})" if self.line else self.id


class SipAnswer(Struct, frozen=True):
    """How the edge answers a refused call: status line and Q.850 cause (RFC 3326 Reason)."""

    status: int
    phrase: str
    cause: int


class Identity(Struct, frozen=True):
    """The calling number to assert, and whether it is the UPN or the NPN fallback."""

    number: str
    source: Literal["upn", "npn"]


class Decision(Struct, frozen=True):
    """The answer for one call (DESIGN.md, Decision)."""

    verdict: Verdict
    reason: str
    rule: RuleRef | None = None
    sip: SipAnswer | None = None
    route: str = ""
    """Carrier id for ``allow``; PSAP routing number for ``emergency``."""
    identity: Identity | None = None
    number: str = ""
    """The canonical E.164 digits of the destination ('' when the dial string was invalid)."""
    category: str = ""
    fallback: str = ""
    """``emergency`` only: the area's fallback PSAP routing number, tried when the one in
    ``route`` refuses or does not answer (clause 9.3, TR Notruf)."""


# --- operator test cases (rules/tests/*.toml) ----------------------------------------


class OperatorCase(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One operator-written expectation: dial string and account -> verdict and reason."""

    note: str
    dial: str
    account: str = "plain"
    from_number: str = ""
    verdict: Verdict
    reason: str | None = None
    route: str | None = None
    identity: Literal["upn", "npn"] | None = None


class OperatorCasesFile(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A file of operator test cases with the accounts they use."""

    account: dict[str, AccountPolicy] = {}
    case: tuple[OperatorCase, ...]


#: Reused decoders and encoders (msgspec perf tips: build them once).
json_encoder = msgspec.json.Encoder()
