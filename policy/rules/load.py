"""Load a rules directory: decode every file, canonicalise prefixes, check references.

The result is a :class:`RuleSet`: the decoded files plus the canonical, located tables the
compiler works from. Every mistake in every file is collected (up to ``ERROR_LIMIT``) and
raised together as :class:`~policy.errors.RuleErrors`; findings that do not stop loading
(an exception no block covers) are kept as warnings.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import phonenumbers

from policy.errors import RuleError, RuleErrors, RuleWarning
from policy.percall.numbers import NumberError, canonical_prefix, geographic_area_code
from policy.rules._decode import Source, decode_toml, located
from policy.rules.model import (
    AdmissionFile,
    BlockRule,
    BlocksFile,
    CarriersFile,
    Category,
    ClipFile,
    CodecsFile,
    CountriesFile,
    EmergencyFile,
    ExceptionRule,
    NumberingPlanFile,
    OrtsnetzFile,
    PowerDialerFile,
    RuleRef,
)

__all__ = ["FILES", "Layer", "RuleSet", "load_rules", "longest", "rules_from_sources"]

#: The files of a rules directory and the schema of each.
FILES: Mapping[str, type[Any]] = {
    "numbering_plan": NumberingPlanFile,
    "blocks": BlocksFile,
    "countries": CountriesFile,
    "clip": ClipFile,
    "emergency": EmergencyFile,
    "carriers": CarriersFile,
    "codecs": CodecsFile,
    "power_dialer": PowerDialerFile,
    "ortsnetz": OrtsnetzFile,
    "admission": AdmissionFile,
}


@dataclass(frozen=True)
class Layer:
    """The blocks of one layer (clause 9.5): ``hard`` (not liftable) or ``default``."""

    prefixes: Mapping[str, str] = field(default_factory=dict)
    """Canonical prefix -> block id."""
    categories: Mapping[str, str] = field(default_factory=dict)
    """Category id -> block id."""
    countries: Mapping[str, str] = field(default_factory=dict)
    """Country calling code -> block id."""


@dataclass(frozen=True)
class RuleSet:
    """A validated rules directory, ready to compile."""

    directory: str
    sources: tuple[Source, ...]
    digest: str
    """sha256 over every file's name and text: the rule revision."""
    plan: NumberingPlanFile
    blocks: BlocksFile
    countries: CountriesFile
    clip: ClipFile
    emergency: EmergencyFile
    carriers: CarriersFile
    codecs: CodecsFile
    power_dialer: PowerDialerFile
    country_codes: frozenset[str]
    category_prefixes: Mapping[str, str]
    """Canonical prefix -> category id."""
    hard: Layer
    default: Layer
    exception_prefixes: Mapping[str, str]
    """Canonical prefix -> exception id."""
    carrier_prefixes: Mapping[str, str]
    """Canonical prefix -> carrier id."""
    refs: Mapping[str, RuleRef]
    """``category:ID``, ``block:ID``, ``exception:ID``, ``carrier:ID``, ``area:ID`` -> where."""
    codecs_rule: RuleRef
    """Where a 488 rests (clause 2): ``codecs``, at the ``audio`` key of codecs.toml."""
    power_dialer_rule: RuleRef
    """Where a power-dialer refusal rests (clause 7.2): ``power-dialer``, at the
    ``max_attempts_per_second`` key of power_dialer.toml."""
    ortsnetz: OrtsnetzFile
    ortsnetz_of: Mapping[str, tuple[str, ...]]
    """Municipality key (AGS) -> area codes of the local networks it lies in (clause 9.3)."""
    admission: AdmissionFile
    admission_rule: RuleRef
    """Where a refusal for a site's bandwidth rests (clause 2): ``site-capacity``, at the
    first ``[[share]]`` of admission.toml."""
    warnings: tuple[RuleWarning, ...] = ()

    @cached_property
    def category_by_id(self) -> Mapping[str, Category]:
        """Category id -> category."""
        return {c.id: c for c in self.plan.category}

    @cached_property
    def block_by_id(self) -> Mapping[str, BlockRule]:
        """Block id -> block."""
        return {b.id: b for b in self.blocks.block}

    @cached_property
    def exception_by_id(self) -> Mapping[str, ExceptionRule]:
        """Exception id -> exception."""
        return {e.id: e for e in self.blocks.exception}

    def ref(self, kind: str, rule_id: str) -> RuleRef:
        """The location of rule ``rule_id`` of ``kind`` (``block``, ``category`` ...)."""
        return self.refs[f"{kind}:{rule_id}"]


class _Checker:
    """Collects errors and warnings while building the canonical tables."""

    def __init__(self, sources: Mapping[str, Source]) -> None:
        self.sources = sources
        self.errors: list[RuleError] = []
        self.warnings: list[RuleWarning] = []
        self.refs: dict[str, RuleRef] = {}

    def unique(self, file: str, kind: str, path: str, rule_id: str) -> None:
        """Record where rule ``rule_id`` of ``kind`` is; a second one is a conflict."""
        key = f"{kind}:{rule_id}"
        if key in self.refs:
            self.error(
                file,
                "rule_conflict_error",
                f"{path}.id",
                f"{kind} id {rule_id!r} again",
                f"a unique id (first at line {self.refs[key].line})",
            )
        else:
            self.refs[key] = _ref(self.sources[file], path, rule_id)

    def error(self, file: str, code: str, path: str, found: str, expected: str) -> None:
        self.errors.append(located(self.sources[file], code, path, found, expected))

    def warn(self, file: str, code: str, path: str, found: str, expected: str) -> None:
        e = located(self.sources[file], code, path, found, expected)
        self.warnings.append(RuleWarning(e.code, e.file, e.line, e.path, e.found, e.expected))

    def prefixes(self, file: str, base: str, values: Iterable[str]) -> list[tuple[int, str]]:
        """Canonicalise the prefixes at ``base`` (``$.block[2].prefixes``)."""
        out = []
        for j, text in enumerate(values):
            try:
                out.append((j, canonical_prefix(text)))
            except NumberError as exc:
                self.error(file, "rule_schema_error", f"{base}[{j}]", repr(text), exc.expected)
        return out


def _read(directory: str, errors: list[RuleError]) -> dict[str, Source]:
    """Read every file of FILES; each Source and error names its file relative to ``directory``.

    Relative names (``blocks.toml``) keep the server's paths out of API answers (rule refs,
    reload errors); the CLI joins the directory back on (``RuleErrors.under``).
    """
    sources: dict[str, Source] = {}
    for name in FILES:
        file = f"{name}.toml"
        try:
            with open(os.path.join(directory, file), encoding="utf-8") as fh:
                sources[name] = Source(file, fh.read())
        except FileNotFoundError:
            errors.append(RuleError("rule_file_error", file, 0, "", "no such file", "a file"))
        except OSError as exc:  # strerror: the message without the (absolute) path
            found = exc.strerror or type(exc).__name__
            errors.append(RuleError("rule_file_error", file, 0, "", found, "a readable file"))
        except UnicodeDecodeError as exc:
            errors.append(RuleError("rule_file_error", file, 0, "", str(exc), "a UTF-8 file"))
    return sources


def _ref(source: Source, path: str, rule_id: str) -> RuleRef:
    return RuleRef(rule_id, source.file, located(source, "rule_schema_error", path, "", "").line)


def _file_refs(sources: Mapping[str, Source]) -> tuple[RuleRef, RuleRef]:
    """The RuleRefs of codecs.toml and power_dialer.toml, located like every other rule.

    These files hold one setting each rather than rules with ids, so the ref names the
    file and points at the key a refusal rests on. They are fields of the RuleSet, not of
    the file schemas: an operator file may hold only what the operator writes (model.py,
    ``forbid_unknown_fields``).
    """
    return (
        # Clause 2: an offer without any of the ``audio`` formats is answered 488.
        _ref(sources["codecs"], "$.audio", "codecs"),
        # Clause 7.2: the per-second limit is the first a burst of attempts runs into.
        _ref(sources["power_dialer"], "$.max_attempts_per_second", "power-dialer"),
    )


def load_rules(directory: str | os.PathLike[str]) -> RuleSet:
    """Load and check the rules in ``directory``; raise RuleErrors listing every mistake."""
    directory = os.fspath(directory)
    errors: list[RuleError] = []
    sources = _read(directory, errors)
    return rules_from_sources(directory, sources, errors)


def rules_from_sources(
    directory: str, sources: Mapping[str, Source], errors: list[RuleError] | None = None
) -> RuleSet:
    """Check rule file texts already read (a snapshot file carries its sources)."""
    errors = [] if errors is None else errors
    decoded: dict[str, Any] = {}
    for name, source in sources.items():
        value = decode_toml(source, FILES[name], errors)
        if value is not None:
            decoded[name] = value
    if errors or len(decoded) != len(FILES):
        raise RuleErrors(errors)
    return _build(directory, sources, decoded)


def _check_plan(chk: _Checker, plan: NumberingPlanFile) -> tuple[dict[str, str], set[str]]:
    """numbering_plan.toml: categories and their prefixes; one category per prefix."""
    # numbering_plan.toml: categories and their prefixes; one category per prefix.
    category_prefixes: dict[str, str] = {}
    for i, cat in enumerate(plan.category):
        base = f"$.category[{i}]"
        chk.unique("numbering_plan", "category", base, cat.id)
        if cat.min_digits > cat.max_digits:
            chk.error(
                "numbering_plan",
                "rule_schema_error",
                f"{base}.min_digits",
                f"min_digits {cat.min_digits} > max_digits {cat.max_digits}",
                "min_digits <= max_digits",
            )
        if (cat.action == "reject") != (cat.reject_reason is not None):
            chk.error(
                "numbering_plan",
                "rule_schema_error",
                f"{base}.reject_reason" if cat.reject_reason else f"{base}.action",
                f"action {cat.action!r} with reject_reason {cat.reject_reason!r}",
                'reject_reason exactly when action = "reject"',
            )
        canon = chk.prefixes("numbering_plan", f"{base}.prefixes", cat.prefixes)
        if cat.action == "emergency":
            _check_emergency_category(chk, base, cat, canon, cat.id == plan.default_category)
        for j, prefix in canon:
            other = category_prefixes.get(prefix)
            if other is not None and other != cat.id:
                chk.error(
                    "numbering_plan",
                    "rule_conflict_error",
                    f"{base}.prefixes[{j}]",
                    f"{cat.prefixes[j]!r} already in category {other!r}",
                    "each prefix in one category only",
                )
            category_prefixes[prefix] = cat.id
    category_ids = {c.id for c in plan.category}
    if plan.default_category not in category_ids:
        chk.error(
            "numbering_plan",
            "rule_reference_error",
            "$.default_category",
            repr(plan.default_category),
            "the id of a category in this file",
        )

    return category_prefixes, category_ids


#: The emergency numbers (clause 9.3), canonical: each routes by its own routing numbers
#: in emergency.toml (``routing_110``/``fallback_110``, ``routing_112``/``fallback_112``).
EMERGENCY_NUMBERS = ("49110", "49112")


def _check_emergency_category(
    chk: _Checker, base: str, cat: Category, canon: list[tuple[int, str]], default: bool
) -> None:
    """An ``action = "emergency"`` category holds 110 and/or 112, exactly, and no more.

    decide() routes 110 by the area's 110 numbers and 112 by its 112 numbers; any other
    number would have no routing of its own, so it is refused here rather than being
    routed as one of them (clause 9.3).
    """
    expected = "110 or 112 (an emergency category routes by the number dialled)"
    for j, prefix in canon:
        if prefix not in EMERGENCY_NUMBERS:
            chk.error(
                "numbering_plan", "rule_schema_error", f"{base}.prefixes[{j}]",
                repr(cat.prefixes[j]), expected,
            )  # fmt: skip
    if (cat.min_digits, cat.max_digits) != (5, 5):
        chk.error(
            "numbering_plan", "rule_schema_error", f"{base}.max_digits",
            f"min_digits {cat.min_digits}, max_digits {cat.max_digits}",
            "5 and 5 in an emergency category (49110, 49112: nothing longer or shorter)",
        )  # fmt: skip
    if default:
        chk.error(
            "numbering_plan", "rule_schema_error", "$.default_category", repr(cat.id),
            "a category that is not an emergency one (it takes every unmatched number)",
        )  # fmt: skip


def _check_countries(chk: _Checker, countries: CountriesFile) -> set[str]:
    """countries.toml: calling codes from phonenumbers plus the file's extras."""
    # countries.toml: calling codes from phonenumbers plus the file's extras.
    country_codes = {str(c) for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE}
    for j, code in enumerate(countries.extra_codes):
        if not (code.isascii() and code.isdigit() and 1 <= len(code) <= 3):
            chk.error(
                "countries", "rule_schema_error", f"$.extra_codes[{j}]", repr(code), "1-3 digits"
            )
        country_codes.add(code)
    for i, group in enumerate(countries.group):
        chk.unique("countries", "group", f"$.group[{i}]", group.id)
        for j, code in enumerate(group.codes):
            if code not in country_codes:
                chk.error(
                    "countries",
                    "rule_reference_error",
                    f"$.group[{i}].codes[{j}]",
                    repr(code),
                    "a country calling code (ITU-T E.164)",
                )

    return country_codes


def _check_blocks(
    chk: _Checker, blocks: BlocksFile, category_ids: set[str], country_codes: set[str]
) -> tuple[Layer, Layer, dict[str, list[str]]]:
    """blocks.toml: two layers; within a layer one block per prefix, category and country."""
    # blocks.toml: two layers; within a layer one block per prefix, category and country.
    hard = Layer({}, {}, {})
    default = Layer({}, {}, {})
    block_prefixes: dict[str, list[str]] = {}
    for i, block in enumerate(blocks.block):
        base = f"$.block[{i}]"
        chk.unique("blocks", "block", base, block.id)
        layer = default if block.liftable else hard
        if block.liftable and block.fee_cents is None:
            chk.error(
                "blocks",
                "rule_schema_error",
                f"{base}.liftable",
                "liftable = true without fee_cents",
                "fee_cents (the charge for lifting it, clause 9.5)",
            )
        if not block.liftable and block.fee_cents is not None:
            chk.error(
                "blocks",
                "rule_schema_error",
                f"{base}.fee_cents",
                f"fee_cents = {block.fee_cents} on a block that cannot be lifted",
                "no fee_cents, or liftable = true",
            )
        if not (block.prefixes or block.categories or block.countries):
            chk.error(
                "blocks",
                "rule_schema_error",
                base,
                "a block that names nothing",
                "at least one of prefixes, categories, countries",
            )
        layer_name = "default" if block.liftable else "hard"
        for j, prefix in chk.prefixes("blocks", f"{base}.prefixes", block.prefixes):
            block_prefixes.setdefault(prefix, []).append(block.id)
            _claim(chk, layer.prefixes, prefix, block.id, layer_name, f"{base}.prefixes[{j}]")
        for j, cat_id in enumerate(block.categories):
            if cat_id not in category_ids:
                chk.error(
                    "blocks",
                    "rule_reference_error",
                    f"{base}.categories[{j}]",
                    repr(cat_id),
                    "a category id of numbering_plan.toml",
                )
            else:
                _claim(
                    chk, layer.categories, cat_id, block.id, layer_name, f"{base}.categories[{j}]"
                )
        for j, code in enumerate(block.countries):
            if code not in country_codes:
                chk.error(
                    "blocks",
                    "rule_reference_error",
                    f"{base}.countries[{j}]",
                    repr(code),
                    "a country calling code without '+' (ITU-T E.164)",
                )
            else:
                _claim(chk, layer.countries, code, block.id, layer_name, f"{base}.countries[{j}]")

    return hard, default, block_prefixes


def _check_exceptions(
    chk: _Checker,
    blocks: BlocksFile,
    block_prefixes: Mapping[str, list[str]],
    category_prefixes: Mapping[str, str],
    country_codes: set[str],
) -> dict[str, str]:
    """blocks.toml exceptions: each inside the one block it names."""
    exception_prefixes: dict[str, str] = {}
    block_by_id = {b.id: b for b in blocks.block}
    for i, exc in enumerate(blocks.exception):
        base = f"$.exception[{i}]"
        chk.unique("blocks", "exception", base, exc.id)
        target = block_by_id.get(exc.of)
        if target is None:
            chk.error("blocks", "rule_reference_error", f"{base}.of", repr(exc.of), "a block id")
        for j, prefix in chk.prefixes("blocks", f"{base}.prefixes", exc.prefixes):
            path = f"{base}.prefixes[{j}]"
            if prefix in exception_prefixes:
                chk.error(
                    "blocks",
                    "rule_conflict_error",
                    path,
                    f"{exc.prefixes[j]!r} already excepted by {exception_prefixes[prefix]!r}",
                    "each prefix in one exception only",
                )
            if exc.of in block_prefixes.get(prefix, ()):
                chk.error(
                    "blocks",
                    "rule_conflict_error",
                    path,
                    f"{exc.prefixes[j]!r} both blocked and excepted by {exc.of!r}",
                    "an exception inside a block, not equal to one of its prefixes",
                )
            exception_prefixes[prefix] = exc.id
            if target is not None and not _covers(target, prefix, category_prefixes, country_codes):
                chk.warn(
                    "blocks",
                    "rule_reference_error",
                    path,
                    f"{exc.prefixes[j]!r} is not covered by block {exc.of!r}",
                    "an exception inside the block it names (it has no effect)",
                )

    return exception_prefixes


def _check_clip(chk: _Checker, clip: ClipFile, category_ids: set[str]) -> None:
    """clip.toml: only known categories."""
    # clip.toml
    for j, cat_id in enumerate(clip.never_present):
        if cat_id not in category_ids:
            chk.error(
                "clip",
                "rule_reference_error",
                f"$.never_present[{j}]",
                repr(cat_id),
                "a category id of numbering_plan.toml",
            )


def _check_emergency(chk: _Checker, emergency: EmergencyFile) -> None:
    """emergency.toml: routing numbers and the default area."""
    # emergency.toml
    for i, area in enumerate(emergency.area):
        chk.unique("emergency", "area", f"$.area[{i}]", area.id)
        for key in ("routing_110", "routing_112", "fallback_110", "fallback_112"):
            value = getattr(area, key)
            # Routing numbers may contain hex digits (TR Notruf): not dialable, but valid.
            if not value or not all(ch in "0123456789ABCDEFabcdef" for ch in value):
                chk.error(
                    "emergency",
                    "rule_schema_error",
                    f"$.area[{i}].{key}",
                    repr(value),
                    "a routing number of digits and hex digits A-F",
                )
    served: dict[str, str] = {}
    for i, area in enumerate(emergency.area):
        for j, ags in enumerate(area.municipalities):
            if not (ags.isascii() and ags.isdigit() and len(ags) == 8):
                chk.error(
                    "emergency",
                    "rule_schema_error",
                    f"$.area[{i}].municipalities[{j}]",
                    repr(ags),
                    "a municipality key (AGS) of 8 digits",
                )
            elif ags in served:
                chk.error(
                    "emergency",
                    "rule_conflict_error",
                    f"$.area[{i}].municipalities[{j}]",
                    f"{ags!r} already served by area {served[ags]!r}",
                    "each municipality in one emergency origin area",
                )
            served[ags] = area.id
    if emergency.default_area not in {a.id for a in emergency.area}:
        chk.error(
            "emergency",
            "rule_reference_error",
            "$.default_area",
            repr(emergency.default_area),
            "the id of an area in this file",
        )


def _check_ortsnetz(chk: _Checker, onb: OrtsnetzFile) -> dict[str, tuple[str, ...]]:
    """ortsnetz.toml: one entry per area code, each a geographic German area code."""
    file = "ortsnetz"
    seen: dict[str, int] = {}
    of: dict[str, list[str]] = {}
    for i, area in enumerate(onb.ortsnetz):
        path = f"$.ortsnetz[{i}].area_code"
        if area.area_code in seen:
            chk.error(
                file,
                "rule_conflict_error",
                path,
                repr(area.area_code),
                f"one entry per area code (also ortsnetz[{seen[area.area_code]}])",
            )
            continue
        seen[area.area_code] = i
        # An area code that is not geographic (032, 0800 ...) has no Ortsnetz; phonenumbers
        # knows the geographic area codes (german-numbering.md), so it cross-checks here.
        if geographic_area_code("49" + area.area_code + "234567") != area.area_code:
            chk.error(
                file,
                "rule_schema_error",
                path,
                repr(area.area_code),
                "the area code of a German local network (Ortsnetzkennzahl)",
            )
        for ags in area.municipalities:
            of.setdefault(ags, []).append(area.area_code)
    return {ags: tuple(codes) for ags, codes in of.items()}


def _check_power_dialer(chk: _Checker, dialer: PowerDialerFile) -> None:
    """power_dialer.toml: one step per level, thresholds rising with the level."""
    order = {"warn": 0, "throttle": 1, "suspend": 2}
    seen: dict[str, int] = {}
    for i, step in enumerate(dialer.escalation):
        if step.level in seen:
            chk.error(
                "power_dialer",
                "rule_conflict_error",
                f"$.escalation[{i}].level",
                f"level {step.level!r} again",
                "each level once",
            )
        seen[step.level] = step.rejected_at_least
    ranked = sorted(seen.items(), key=lambda kv: order[kv[0]])
    for (low, low_at), (high, high_at) in itertools.pairwise(ranked):
        if high_at <= low_at:
            i = next(j for j, s in enumerate(dialer.escalation) if s.level == high)
            chk.error(
                "power_dialer",
                "rule_conflict_error",
                f"$.escalation[{i}].rejected_at_least",
                f"{high} at {high_at}, not above {low} at {low_at}",
                "thresholds rising from warn to throttle to suspend",
            )


def _check_admission(chk: _Checker, admission: AdmissionFile, codecs: CodecsFile) -> None:
    """admission.toml: kinds unique, each format one codecs.toml accepts and in one share
    of its media only, ``late_offer`` a kind of this file."""
    accepted = {
        "audio": {f.lower() for f in codecs.audio},
        "video": {f.lower() for f in codecs.video},
        "image": {f.lower() for f in codecs.image},
    }
    counted: dict[tuple[str, str], str] = {}
    kinds: set[str] = set()
    for i, share in enumerate(admission.share):
        base = f"$.share[{i}]"
        if share.kind in kinds:
            chk.error(
                "admission",
                "rule_conflict_error",
                f"{base}.kind",
                f"kind {share.kind!r} again",
                "each kind in one share",
            )
        kinds.add(share.kind)
        for j, fmt in enumerate(share.formats):
            key = (share.media, fmt.lower())
            if key[1] not in accepted[share.media]:
                chk.error(
                    "admission",
                    "rule_reference_error",
                    f"{base}.formats[{j}]",
                    repr(fmt),
                    f"a format codecs.toml accepts for {share.media}",
                )
            elif key in counted:
                chk.error(
                    "admission",
                    "rule_conflict_error",
                    f"{base}.formats[{j}]",
                    f"{fmt!r} already counted as {counted[key]!r}",
                    f"each {share.media} format in one share",
                )
            counted.setdefault(key, share.kind)
    if admission.late_offer not in kinds:
        chk.error(
            "admission",
            "rule_reference_error",
            "$.late_offer",
            repr(admission.late_offer),
            "the kind of a share in this file",
        )


def _check_carriers(chk: _Checker, carriers: CarriersFile) -> dict[str, str]:
    """carriers.toml: addresses, one carrier per prefix, the default exists."""
    # carriers.toml
    carrier_prefixes: dict[str, str] = {}
    for i, carrier in enumerate(carriers.carrier):
        base = f"$.carrier[{i}]"
        chk.unique("carriers", "carrier", base, carrier.id)
        host, _, port = carrier.address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            chk.error(
                "carriers",
                "rule_schema_error",
                f"{base}.address",
                repr(carrier.address),
                "host:port",
            )
        for j, prefix in chk.prefixes("carriers", f"{base}.prefixes", carrier.prefixes):
            if prefix in carrier_prefixes:
                chk.error(
                    "carriers",
                    "rule_conflict_error",
                    f"{base}.prefixes[{j}]",
                    f"{carrier.prefixes[j]!r} already routed to {carrier_prefixes[prefix]!r}",
                    "each prefix routed to one carrier",
                )
            carrier_prefixes[prefix] = carrier.id
    if carriers.default not in {c.id for c in carriers.carrier}:
        chk.error(
            "carriers",
            "rule_reference_error",
            "$.default",
            repr(carriers.default),
            "the id of a carrier in this file",
        )

    return carrier_prefixes


def _build(directory: str, sources: Mapping[str, Source], d: Mapping[str, Any]) -> RuleSet:
    chk = _Checker(sources)
    plan: NumberingPlanFile = d["numbering_plan"]
    blocks: BlocksFile = d["blocks"]
    countries: CountriesFile = d["countries"]
    clip: ClipFile = d["clip"]
    emergency: EmergencyFile = d["emergency"]
    carriers: CarriersFile = d["carriers"]
    _check_power_dialer(chk, d["power_dialer"])
    category_prefixes, category_ids = _check_plan(chk, plan)
    country_codes = _check_countries(chk, countries)
    hard, default, block_prefixes = _check_blocks(chk, blocks, category_ids, country_codes)
    exception_prefixes = _check_exceptions(
        chk, blocks, block_prefixes, category_prefixes, country_codes
    )
    _check_clip(chk, clip, category_ids)
    _check_emergency(chk, emergency)
    ortsnetz_of = _check_ortsnetz(chk, d["ortsnetz"])
    carrier_prefixes = _check_carriers(chk, carriers)
    _check_admission(chk, d["admission"], d["codecs"])
    refs = chk.refs
    if chk.errors:
        raise RuleErrors(chk.errors)
    codecs_rule, power_dialer_rule = _file_refs(sources)
    digest = hashlib.sha256()
    for name in FILES:
        digest.update(name.encode() + b"\0" + sources[name].text.encode() + b"\0")
    return RuleSet(
        directory=directory,
        sources=tuple(sources[n] for n in FILES),
        digest=digest.hexdigest(),
        plan=plan,
        blocks=blocks,
        countries=countries,
        clip=clip,
        emergency=emergency,
        carriers=carriers,
        codecs=d["codecs"],
        power_dialer=d["power_dialer"],
        country_codes=frozenset(country_codes),
        category_prefixes=category_prefixes,
        hard=hard,
        default=default,
        exception_prefixes=exception_prefixes,
        carrier_prefixes=carrier_prefixes,
        refs=refs,
        codecs_rule=codecs_rule,
        power_dialer_rule=power_dialer_rule,
        ortsnetz=d["ortsnetz"],
        ortsnetz_of=ortsnetz_of,
        admission=d["admission"],
        # Clause 2: a site's bandwidth is spent in the shares this file gives each media.
        admission_rule=_ref(sources["admission"], "$.share[0]", "site-capacity"),
        warnings=tuple(chk.warnings),
    )


def _claim(
    chk: _Checker, table: Mapping[str, str], key: str, block_id: str, layer: str, path: str
) -> None:
    """Give ``key`` to ``block_id`` in one layer; a second block there is a conflict."""
    other = table.get(key)
    if other is not None and other != block_id:
        chk.error(
            "blocks",
            "rule_conflict_error",
            path,
            f"{key!r} already blocked by {other!r} in the {layer} layer",
            "one block per prefix, category and country in each layer",
        )
        return
    assert isinstance(table, dict)
    table[key] = block_id


def longest(table: Mapping[str, str], digits: str) -> tuple[str, str] | None:
    """The (prefix, value) of the longest prefix of ``digits`` in ``table``."""
    for n in range(len(digits), -1, -1):
        value = table.get(digits[:n])
        if value is not None:
            return digits[:n], value
    return None


def _covers(
    block: Any, prefix: str, category_prefixes: Mapping[str, str], codes: frozenset[str] | set[str]
) -> bool:
    """Whether ``block`` covers the numbers starting with ``prefix``."""
    canon = set()
    for text in block.prefixes:
        try:
            canon.add(canonical_prefix(text))
        except NumberError:
            continue
    if any(prefix.startswith(p) for p in canon):
        return True
    cat = longest(category_prefixes, prefix)
    if cat is not None and cat[1] in block.categories:
        return True
    return any(prefix.startswith(code) for code in block.countries if code in codes)
