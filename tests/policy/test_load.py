"""Tests for policy.rules.load.load_rules: the shipped rules, and one located error per mistake.

Each mistake is a small text edit to one file of a copy of the shipped rules (fixture
``rules_dir`` in conftest.py). The expected line numbers refer to the shipped files as
edited; when a shipped file changes, the edit's ``old`` text must still be found exactly
once (``edit`` checks), and the line numbers may need updating.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policy.errors import ERROR_LIMIT, RuleErrors
from policy.rules.load import load_rules
from policy.rules.model import RuleRef

#: ``new`` of an edit that deletes the file.
DELETE = None
#: ``old`` of an edit that appends ``new`` to the end of the file.
APPEND = ""

#: Lines of the shipped files the appended text starts after.
BLOCKS_LINES = 85


def edit(directory: Path, file: str, old: str, new: str | None) -> None:
    """Replace the one occurrence of ``old`` in ``file`` by ``new`` (see DELETE, APPEND)."""
    path = directory / file
    if new is DELETE:
        path.unlink()
        return
    text = path.read_text(encoding="utf-8")
    if old == APPEND:
        assert text.endswith("\n")
        if file == "blocks.toml":
            assert len(text.splitlines()) == BLOCKS_LINES, "blocks.toml changed: fix BLOCKS_LINES"
        path.write_text(text + new, encoding="utf-8")
        return
    assert text.count(old) == 1, f"{old!r} must occur exactly once in {file}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def load_errors(directory: Path) -> RuleErrors:
    """Load ``directory``, which must fail, and return the RuleErrors."""
    with pytest.raises(RuleErrors) as info:
        load_rules(directory)
    return info.value


# --- the shipped rules ---------------------------------------------------------------


def test_shipped_rules_load_without_errors_or_warnings(rules_dir: Path) -> None:
    rules = load_rules(rules_dir)

    assert rules.warnings == ()
    assert len(rules.digest) == 64


def test_shipped_rules_hold_clause_9_5(rules_dir: Path) -> None:
    rules = load_rules(rules_dir)

    # Default layer: liftable blocks, each with a fee.
    assert rules.default.prefixes == {
        "499001": "premium-rate",
        "499003": "premium-rate",
        "499005": "premium-rate",
        "499009": "premium-rate",
    }
    assert rules.default.categories == {
        "service_012": "service-012",
        "user_groups": "user-groups",
        "directory": "directory",
    }
    assert rules.default.countries == {}
    for block in rules.blocks.block:
        assert block.liftable
        assert block.fee_cents is not None
        assert block.clause == "9.5"
    # No hard block is shipped (the examples in blocks.toml are commented out).
    assert (rules.hard.prefixes, rules.hard.categories, rules.hard.countries) == ({}, {}, {})
    # The directory block keeps 11822 and 11823 reachable.
    assert rules.exception_prefixes == {
        "4911822": "directory-11822-11823",
        "4911823": "directory-11822-11823",
    }
    assert rules.exception_by_id["directory-11822-11823"].of == "directory"
    assert rules.category_prefixes["49118"] == "directory"
    # Where each rule is written.
    assert (rules.ref("block", "premium-rate").line, rules.ref("block", "directory").line) == (
        13,
        44,
    )
    assert rules.ref("exception", "directory-11822-11823").line == 53
    assert rules.ref("category", "premium_rate").line == 107


def test_codecs_and_power_dialer_files_are_located(rules_dir: Path) -> None:
    """The keys a 488 (clause 2) and a power-dialer refusal (clause 7.2) rest on."""
    edit(rules_dir, "power_dialer.toml", "schema = 1\n", "schema = 1\n\n# moved down\n")

    rules = load_rules(rules_dir)

    assert rules.codecs_rule == RuleRef("codecs", "codecs.toml", 7)
    assert rules.power_dialer_rule == RuleRef("power-dialer", "power_dialer.toml", 8)


# --- one mistake, one located error --------------------------------------------------

# (file, old, new, code, line, match): ``match`` is searched in str(error) and pins the
# path, the expectation and the offending value.
MISTAKES = [
    # --- TOML itself
    pytest.param(
        "blocks.toml",
        'reason = "premium_rate"\n',
        'reason = "premium_rate\n',
        "rule_parse_error",
        15,
        r"blocks\.toml:15: rule_parse_error: expected valid TOML .*, got Illegal character",
        id="toml-syntax-unterminated-string",
    ),
    pytest.param(
        "blocks.toml",
        'prefixes = ["09001", "09003", "09005", "09009"]',
        "prefixes = [0900]",
        "rule_parse_error",
        22,
        r"blocks\.toml:22: rule_parse_error: expected valid TOML \(toml\.io v1\.0\), got .*array",
        id="toml-unquoted-prefix-with-leading-zero",
    ),
    pytest.param(
        "numbering_plan.toml",
        'prefixes = ["110", "112"]',
        'prefixes = [\n  110,\n  "112",\n]',
        "rule_schema_error",
        135,
        r"numbering_plan\.toml:135: rule_schema_error: \$\.category\[16\]\.prefixes\[0\]: "
        r"expected `str`, got `int` 110$",
        id="unquoted-prefix-int-in-multiline-array",
    ),
    # --- shape (msgspec schema)
    pytest.param(
        "blocks.toml",
        "schema = 1\n",
        "schema = 1\nversion = 2\n",
        "rule_schema_error",
        10,
        r"\$\.version: expected one of schema, customer, block, exception, "
        r"got unknown key `version`$",
        id="unknown-top-level-key",
    ),
    pytest.param(
        "blocks.toml",
        'prefixes = ["09001", "09003"',
        'prefixs = ["09001", "09003"',
        "rule_schema_error",
        22,
        r"\$\.block\[0\]\.prefixs: expected id, reason, prefixes, categories, countries, "
        r"liftable, fee_cents, clause, description, got unknown field `prefixs`$",
        id="misspelt-field-in-block",
    ),
    pytest.param(
        "blocks.toml",
        'reason = "service_number"\n',
        "",
        "rule_schema_error",
        26,
        r"\$\.block\[1\]: expected required field `reason`, got nothing$",
        id="block-without-reason",
    ),
    pytest.param(
        "blocks.toml",
        "liftable = true\nfee_cents = 1500",
        'liftable = "yes"\nfee_cents = 1500',
        "rule_schema_error",
        50,
        r"\$\.block\[3\]\.liftable: expected `bool`, got `str` 'yes'$",
        id="wrong-type-liftable-yes",
    ),
    pytest.param(
        "blocks.toml",
        'id = "user-groups"',
        'id = "User-Groups"',
        "rule_schema_error",
        36,
        r"\$\.block\[2\]\.id: expected `str` matching regex '\^\[a-z0-9\].*', got 'User-Groups'$",
        id="id-with-uppercase",
    ),
    pytest.param(
        "blocks.toml",
        "fee_cents = 1500",
        "fee_cents = -1500",
        "rule_schema_error",
        51,
        r"\$\.block\[3\]\.fee_cents: expected `int` >= 0, got -1500$",
        id="negative-fee",
    ),
    pytest.param(
        "countries.toml",
        "[[group]]",
        "[group]",
        "rule_schema_error",
        6,
        r"\$\.group: expected `array`, got `object` \{'id': 'eea'",
        id="table-instead-of-array-of-tables",
    ),
    pytest.param(
        "clip.toml",
        "schema = 1",
        "schema = 2",
        "rule_schema_error",
        5,
        r"clip\.toml:5: rule_schema_error: \$\.schema: expected schema = 1, got 2$",
        id="schema-2",
    ),
    pytest.param(
        "emergency.toml",
        "test_directory = true\n",
        "",
        "rule_schema_error",
        1,
        r"emergency\.toml:1: rule_schema_error: \$: expected required key `test_directory`, "
        r"got nothing$",
        id="missing-required-top-level-key",
    ),
    # --- blocks.toml: values and the two layers
    pytest.param(
        "blocks.toml",
        "liftable = true\nfee_cents = 1500\n",
        "liftable = true\n",
        "rule_schema_error",
        50,
        r"\$\.block\[3\]\.liftable: expected fee_cents \(the charge for lifting it, clause 9\.5\), "
        r"got liftable = true without fee_cents$",
        id="liftable-without-fee",
    ),
    pytest.param(
        "blocks.toml",
        "liftable = true\nfee_cents = 1500",
        "liftable = false\nfee_cents = 1500",
        "rule_schema_error",
        51,
        r"\$\.block\[3\]\.fee_cents: expected no fee_cents, or liftable = true, "
        r"got fee_cents = 1500 on a block that cannot be lifted$",
        id="fee-on-hard-block",
    ),
    pytest.param(
        "blocks.toml",
        'prefixes = ["09001", "09003", "09005", "09009"]',
        'prefixes = [\n  "09001",\n  "09OO3",\n]',
        "rule_schema_error",
        24,
        r"\$\.block\[0\]\.prefixes\[1\]: "
        + re.escape('expected digits, "+", "00", "0" or a German service code, got ')
        + r"'09OO3'$",
        id="prefix-with-letters-multiline-array",
    ),
    pytest.param(
        "blocks.toml",
        '"09005", "09009"]',
        '"09005", "30"]',
        "rule_schema_error",
        22,
        r"\$\.block\[0\]\.prefixes\[3\]: "
        + re.escape('expected a prefix starting with "+", "00", "0" or "1", got ')
        + r"'30'$",
        id="local-prefix",
    ),
    pytest.param(
        "blocks.toml",
        'categories = ["service_012"]\n',
        "",
        "rule_schema_error",
        26,
        r"\$\.block\[1\]: expected at least one of prefixes, categories, countries, "
        r"got a block that names nothing$",
        id="block-naming-nothing",
    ),
    pytest.param(
        "blocks.toml",
        'categories = ["user_groups"]',
        'categories = ["user_group"]',
        "rule_reference_error",
        40,
        r"\$\.block\[2\]\.categories\[0\]: expected a category id of numbering_plan\.toml, "
        r"got 'user_group'$",
        id="block-unknown-category",
    ),
    pytest.param(
        "blocks.toml",
        APPEND,
        '\n[[block]]\nid = "intl"\nreason = "country_blocked"\ncountries = ["881", "+882"]\n',
        "rule_reference_error",
        BLOCKS_LINES + 5,
        r"\$\.block\[4\]\.countries\[1\]: expected a country calling code without '\+' "
        r"\(ITU-T E\.164\), got '\+882'$",
        id="block-unknown-country-code",
    ),
    pytest.param(
        "blocks.toml",
        'of = "directory"',
        'of = "directroy"',
        "rule_reference_error",
        55,
        r"\$\.exception\[0\]\.of: expected a block id, got 'directroy'$",
        id="exception-of-unknown-block",
    ),
    pytest.param(
        "blocks.toml",
        'id = "user-groups"',
        'id = "service-012"',
        "rule_conflict_error",
        36,
        r"\$\.block\[2\]\.id: expected a unique id \(first at line 26\), "
        r"got block id 'service-012' again$",
        id="duplicate-block-id",
    ),
    pytest.param(
        "blocks.toml",
        'categories = ["service_012"]\n',
        'categories = ["service_012"]\nprefixes = ["+49 9001"]\n',
        "rule_conflict_error",
        32,
        r"\$\.block\[1\]\.prefixes\[0\]: expected one block per prefix, category and country "
        r"in each layer, got '499001' already blocked by 'premium-rate' in the default layer$",
        id="same-prefix-two-blocks-one-layer",
    ),
    pytest.param(
        "blocks.toml",
        APPEND,
        '\n[[block]]\nid = "dir-again"\nreason = "directory_service"\n'
        'categories = ["directory"]\nliftable = true\nfee_cents = 100\n',
        "rule_conflict_error",
        BLOCKS_LINES + 5,
        r"\$\.block\[4\]\.categories\[0\]: expected one block per prefix, category and country "
        r"in each layer, got 'directory' already blocked by 'directory' in the default layer$",
        id="same-category-two-blocks-one-layer",
    ),
    pytest.param(
        "blocks.toml",
        APPEND,
        '\n[[exception]]\nid = "pr-09005"\nof = "premium-rate"\nprefixes = ["09005"]\n',
        "rule_conflict_error",
        BLOCKS_LINES + 5,
        r"\$\.exception\[1\]\.prefixes\[0\]: expected an exception inside a block, not equal to "
        r"one of its prefixes, got '09005' both blocked and excepted by 'premium-rate'$",
        id="exception-equal-to-block-prefix",
    ),
    pytest.param(
        "blocks.toml",
        APPEND,
        '\n[[exception]]\nid = "dir-11823"\nof = "directory"\nprefixes = ["+49 11823"]\n',
        "rule_conflict_error",
        BLOCKS_LINES + 5,
        r"\$\.exception\[1\]\.prefixes\[0\]: expected each prefix in one exception only, "
        r"got '\+49 11823' already excepted by 'directory-11822-11823'$",
        id="prefix-in-two-exceptions",
    ),
    # --- numbering_plan.toml
    pytest.param(
        "numbering_plan.toml",
        'prefixes = ["0900"]',
        'prefixes = ["0900", "0137"]',
        "rule_conflict_error",
        111,
        r"\$\.category\[13\]\.prefixes\[1\]: expected each prefix in one category only, "
        r"got '0137' already in category 'mass_traffic'$",
        id="same-prefix-two-categories",
    ),
    pytest.param(
        "numbering_plan.toml",
        'prefixes = ["0700"]\nmin_digits = 13',
        'prefixes = ["0700"]\nmin_digits = 14',
        "rule_schema_error",
        68,
        r"\$\.category\[7\]\.min_digits: expected min_digits <= max_digits, "
        r"got min_digits 14 > max_digits 13$",
        id="min-digits-above-max-digits",
    ),
    pytest.param(
        "numbering_plan.toml",
        'prefixes = ["0"]\naction = "reject"\nreject_reason = "invalid_number"\n',
        'prefixes = ["0"]\naction = "reject"\n',
        "rule_schema_error",
        26,
        r"\$\.category\[1\]\.action: "
        + re.escape('expected reject_reason exactly when action = "reject", ')
        + r"got action 'reject' with reject_reason None$",
        id="reject-without-reject-reason",
    ),
    pytest.param(
        "numbering_plan.toml",
        'prefixes = ["0700"]\n',
        'prefixes = ["0700"]\nreject_reason = "invalid_number"\n',
        "rule_schema_error",
        68,
        r"\$\.category\[7\]\.reject_reason: "
        + re.escape('expected reject_reason exactly when action = "reject", ')
        + r"got action 'classify' with reject_reason 'invalid_number'$",
        id="reject-reason-without-reject",
    ),
    pytest.param(
        "numbering_plan.toml",
        'default_category = "international"',
        'default_category = "internat"',
        "rule_reference_error",
        14,
        r"\$\.default_category: expected the id of a category in this file, got 'internat'$",
        id="unknown-default-category",
    ),
    # --- countries.toml, clip.toml, emergency.toml, carriers.toml
    pytest.param(
        "countries.toml",
        '"48", "49",',
        '"48", "49", "999",',
        "rule_reference_error",
        13,
        r"\$\.group\[0\]\.codes\[31\]: expected a country calling code \(ITU-T E\.164\), "
        r"got '999'$",
        id="unknown-country-code-in-group",
    ),
    pytest.param(
        "countries.toml",
        "extra_codes = []",
        'extra_codes = ["+999"]',
        "rule_schema_error",
        4,
        r"\$\.extra_codes\[0\]: expected 1-3 digits, got '\+999'$",
        id="bad-extra-country-code",
    ),
    pytest.param(
        "clip.toml",
        '"social"',
        '"socail"',
        "rule_reference_error",
        9,
        r"\$\.never_present\[6\]: expected a category id of numbering_plan\.toml, got 'socail'$",
        id="clip-unknown-category",
    ),
    pytest.param(
        "emergency.toml",
        'routing_112 = "4911203001"',
        'routing_112 = "49112-03001"',
        "rule_schema_error",
        27,
        r"\$\.area\[1\]\.routing_112: expected a routing number of digits and hex digits A-F, "
        r"got '49112-03001'$",
        id="emergency-routing-bad-character",
    ),
    pytest.param(
        "emergency.toml",
        'default_area = "test-default"',
        'default_area = "test-berlin"',
        "rule_reference_error",
        11,
        r"\$\.default_area: expected the id of an area in this file, got 'test-berlin'$",
        id="unknown-default-emergency-area",
    ),
    pytest.param(
        "carriers.toml",
        'default = "carrier-intl"',
        'default = "carrier-int"',
        "rule_reference_error",
        6,
        r"\$\.default: expected the id of a carrier in this file, got 'carrier-int'$",
        id="unknown-default-carrier",
    ),
    pytest.param(
        "carriers.toml",
        'address = "127.0.0.1:5072"',
        'address = "127.0.0.1"',
        "rule_schema_error",
        19,
        r"\$\.carrier\[1\]\.address: expected host:port, got '127\.0\.0\.1'$",
        id="carrier-address-without-port",
    ),
    pytest.param(
        "carriers.toml",
        'identity_header = "p-asserted-identity"\n',
        'identity_header = "p-asserted-identity"\nprefixes = ["0049"]\n',
        "rule_conflict_error",
        22,
        r"\$\.carrier\[1\]\.prefixes\[0\]: expected each prefix routed to one carrier, "
        r"got '0049' already routed to 'carrier-de'$",
        id="prefix-routed-to-two-carriers",
    ),
    # --- the directory
    pytest.param(
        "carriers.toml",
        "",
        DELETE,
        "rule_file_error",
        0,
        r"^carriers\.toml: rule_file_error: expected a file, got no such file$",
        id="missing-file",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "code", "line", "match"), MISTAKES)
def test_each_mistake_gives_one_located_error(
    rules_dir: Path, file: str, old: str, new: str | None, code: str, line: int, match: str
) -> None:
    edit(rules_dir, file, old, new)

    errors = load_errors(rules_dir)

    assert len(errors) == 1, str(errors)
    (error,) = errors
    # Named relative to the rules directory: no server path reaches an API answer.
    assert (error.code, error.file, error.line) == (code, file, line), str(error)
    assert str(rules_dir) not in str(errors)
    assert re.search(match, str(error)), str(error)
    assert str(errors) == f"1 error occurred:\n{error}"


def test_mistake_table_covers_enough_distinct_kinds() -> None:
    ids = [p.id for p in MISTAKES]
    assert len(set(ids)) == len(ids) >= 18
    codes = {p.values[3] for p in MISTAKES}
    assert codes == {
        "rule_parse_error",
        "rule_schema_error",
        "rule_conflict_error",
        "rule_reference_error",
        "rule_file_error",
    }


# --- several mistakes at once --------------------------------------------------------


def test_decode_mistakes_in_several_files_are_reported_together_sorted(rules_dir: Path) -> None:
    edit(rules_dir, "clip.toml", 'clause = "9.6"', 'clauses = "9.6"')  # line 6
    edit(rules_dir, "clip.toml", "schema = 1", "schema = 2")  # line 5
    edit(
        rules_dir,
        "blocks.toml",
        "liftable = true\nfee_cents = 1500",
        'liftable = "yes"\nfee_cents = 1500',
    )
    edit(rules_dir, "blocks.toml", 'prefixes = ["09001"', 'prefixs = ["09001"')  # line 22
    edit(rules_dir, "carriers.toml", '"127.0.0.1:5072"', "127.0.0.1:5072")  # line 19
    edit(rules_dir, "emergency.toml", "", DELETE)

    errors = load_errors(rules_dir)

    found = [(Path(e.file).name, e.line, e.code) for e in errors]
    assert found == [
        ("blocks.toml", 22, "rule_schema_error"),
        ("blocks.toml", 50, "rule_schema_error"),
        ("carriers.toml", 19, "rule_parse_error"),
        ("clip.toml", 5, "rule_schema_error"),
        ("clip.toml", 6, "rule_schema_error"),
        ("emergency.toml", 0, "rule_file_error"),
    ]
    lines = str(errors).splitlines()
    assert lines[0] == "6 errors occurred:"
    assert lines[1:] == [str(e) for e in errors]
    assert "unknown field `prefixs`" in lines[1]
    assert "got unknown key `clauses`" in lines[5]


def test_reference_mistakes_in_several_files_are_reported_together_sorted(
    rules_dir: Path,
) -> None:
    edit(
        rules_dir,
        "numbering_plan.toml",
        'prefixes = ["0700"]\nmin_digits = 13',
        'prefixes = ["0700"]\nmin_digits = 14',
    )
    edit(
        rules_dir,
        "numbering_plan.toml",
        'default_category = "international"',
        'default_category = "x"',
    )
    edit(rules_dir, "clip.toml", '"social"', '"socail"')
    edit(rules_dir, "carriers.toml", 'default = "carrier-intl"', 'default = "carrier-int"')
    edit(rules_dir, "blocks.toml", 'categories = ["user_groups"]', 'categories = ["user_group"]')
    edit(rules_dir, "blocks.toml", 'of = "directory"', 'of = "directroy"')

    errors = load_errors(rules_dir)

    found = [(Path(e.file).name, e.line, e.path) for e in errors]
    assert found == [
        ("blocks.toml", 40, "$.block[2].categories[0]"),
        ("blocks.toml", 55, "$.exception[0].of"),
        ("carriers.toml", 6, "$.default"),
        ("clip.toml", 9, "$.never_present[6]"),
        ("numbering_plan.toml", 14, "$.default_category"),
        ("numbering_plan.toml", 68, "$.category[7].min_digits"),
    ]
    assert str(errors).startswith("6 errors occurred:\n")


def test_errors_beyond_the_limit_are_cut(rules_dir: Path) -> None:
    bad = ", ".join(f'"x{i}"' for i in range(ERROR_LIMIT + 10))
    edit(
        rules_dir,
        "blocks.toml",
        APPEND,
        f'\n[[block]]\nid = "many"\nreason = "r"\nprefixes = [{bad}]\n',
    )

    errors = load_errors(rules_dir)

    assert len(errors) == ERROR_LIMIT
    assert str(errors).startswith(f"{ERROR_LIMIT} errors occurred:\n")
    assert {e.line for e in errors} == {BLOCKS_LINES + 5}


# --- findings that are not errors ----------------------------------------------------


def test_exception_outside_its_block_is_a_located_warning(rules_dir: Path) -> None:
    edit(rules_dir, "blocks.toml", 'prefixes = ["11822", "11823"]', 'prefixes = ["11822", "0900"]')

    rules = load_rules(rules_dir)

    (warning,) = rules.warnings
    assert (warning.code, warning.file, warning.line, warning.path) == (
        "rule_reference_error",
        "blocks.toml",
        58,
        "$.exception[0].prefixes[1]",
    )
    assert re.search(
        r"^warning: blocks\.toml:58: rule_reference_error: \$\.exception\[0\]\.prefixes\[1\]: "
        r"expected an exception inside the block it names \(it has no effect\), "
        r"got '0900' is not covered by block 'directory'$",
        str(warning),
    ), str(warning)
    assert rules.exception_prefixes["49900"] == "directory-11822-11823"


def test_same_prefix_and_category_in_a_hard_and_a_default_block_is_allowed(
    rules_dir: Path,
) -> None:
    edit(
        rules_dir,
        "blocks.toml",
        APPEND,
        '\n[[block]]\nid = "fraud-09001"\nreason = "operator_block"\n'
        'prefixes = ["+49 9001"]\ncategories = ["directory"]\nliftable = false\n',
    )

    rules = load_rules(rules_dir)

    assert rules.warnings == ()
    assert rules.default.prefixes["499001"] == "premium-rate"
    assert rules.hard.prefixes == {"499001": "fraud-09001"}
    assert rules.default.categories["directory"] == "directory"
    assert rules.hard.categories == {"directory": "fraud-09001"}
    assert rules.ref("block", "fraud-09001").line == BLOCKS_LINES + 2


# --- admission.toml (clause 2: per-site call admission) ------------------------------


def test_shipped_admission_shares_and_where_a_refusal_rests(rules_dir: Path) -> None:
    rules = load_rules(rules_dir)

    shares = {s.kind: (s.media, s.kbps, s.formats) for s in rules.admission.share}
    assert shares == {
        "voice": ("audio", 100.0, ("PCMU", "PCMA", "G722")),
        "video": ("video", 920.0, ("H263", "H263-1998", "H264")),
        "fax": ("image", 14.4, ("t38",)),
    }
    assert (rules.admission.late_offer, rules.admission.clause) == ("voice", "2")
    # At the first [[share]]: the figures a site's bandwidth is spent in.
    assert rules.admission_rule == RuleRef("site-capacity", "admission.toml", 21)


ADMISSION_MISTAKES = [
    pytest.param(
        'formats = ["PCMU", "PCMA", "G722"]',
        'formats = ["PCMU", "PCMA", "G729"]',
        "rule_reference_error",
        25,
        r"\$\.share\[0\]\.formats\[2\]: expected a format codecs\.toml accepts for audio, "
        r"got 'G729'$",
        id="format-the-codec-check-refuses",
    ),
    pytest.param(
        'formats = ["H263", "H263-1998", "H264"]',
        'formats = ["H263", "H264", "H264"]',
        "rule_conflict_error",
        31,
        r"\$\.share\[1\]\.formats\[2\]: expected each video format in one share, "
        r"got 'H264' already counted as 'video'$",
        id="format-counted-twice",
    ),
    pytest.param(
        'kind = "fax"',
        'kind = "voice"',
        "rule_conflict_error",
        34,
        r"\$\.share\[2\]\.kind: expected each kind in one share, got kind 'voice' again$",
        id="kind-twice",
    ),
    pytest.param(
        'late_offer = "voice"',
        'late_offer = "audio"',
        "rule_reference_error",
        17,
        r"\$\.late_offer: expected the kind of a share in this file, got 'audio'$",
        id="late-offer-names-no-kind",
    ),
    pytest.param(
        "kbps = 100\n",
        "kbps = 0\n",
        "rule_schema_error",
        24,
        r"\$\.share\[0\]\.kbps: expected `float` > 0\.0, got 0$",
        id="share-of-nothing",
    ),
    pytest.param(
        'media = "image"',
        'media = "fax"',
        "rule_schema_error",
        35,
        r"\$\.share\[2\]\.media: expected one of the allowed values, got 'fax'$",
        id="unknown-media",
    ),
    pytest.param(
        'formats = ["t38"]',
        "formats = []",
        "rule_schema_error",
        37,
        r"\$\.share\[2\]\.formats: expected `array` of length >= 1, got \[\]$",
        id="share-without-formats",
    ),
    pytest.param(
        "kbps = 920",
        "kpbs = 920",
        "rule_schema_error",
        30,
        r"\$\.share\[1\]\.kpbs: expected kind, media, kbps, formats, description, "
        r"got unknown field `kpbs`$",
        id="misspelt-share-field",
    ),
    pytest.param(
        "call_timeout_seconds = 43200",
        "call_timeout_seconds = 0",
        "rule_schema_error",
        18,
        r"\$\.call_timeout_seconds: expected `int` >= 60, got 0$",
        id="calls-that-never-count",
    ),
]


@pytest.mark.parametrize(("old", "new", "code", "line", "match"), ADMISSION_MISTAKES)
def test_each_admission_mistake_gives_one_located_error(
    rules_dir: Path, old: str, new: str, code: str, line: int, match: str
) -> None:
    edit(rules_dir, "admission.toml", old, new)

    errors = load_errors(rules_dir)

    assert len(errors) == 1, str(errors)
    (error,) = errors
    assert (error.code, error.file, error.line) == (code, "admission.toml", line), str(error)
    assert re.search(match, str(error)), str(error)


def test_a_rules_directory_without_admission_toml_is_refused(rules_dir: Path) -> None:
    edit(rules_dir, "admission.toml", "", DELETE)

    (error,) = load_errors(rules_dir)

    assert (error.code, error.file, error.line) == ("rule_file_error", "admission.toml", 0)
