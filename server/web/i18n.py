"""German and English texts of the web pages (German is the default: a German operator).

One catalogue per language, the same keys in both (a test holds them equal). Templates
call ``t("key", name=value)``; a missing key is a bug and raises, so a page never shows
a key instead of a text. Codes that come from the policy layer or the rule files (error
codes, decision reasons) have a text each where one is known, and a generic text naming
the code otherwise (``text_or``), so a German page never shows an English message.

Numbers are shown in one form on every page, E.164 with ``+`` (``+49137``, filter
``e164``); times in Europe/Berlin with the zone's abbreviation (``when``: MEZ/MESZ in
German, CET/CEST in English). Machines get ISO 8601 UTC (the CSV export).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from ._texts_de import DE
from ._texts_en import EN

__all__ = [
    "CATALOGUES",
    "DEFAULT_LANG",
    "LANGS",
    "TIME_ZONE",
    "Translate",
    "e164",
    "money",
    "text_or",
    "translator",
    "when",
]

LANGS = ("de", "en")
DEFAULT_LANG = "de"
CATALOGUES: dict[str, dict[str, str]] = {"de": DE, "en": EN}

#: The operator's time zone: every time on a page is shown in it.
TIME_ZONE = ZoneInfo("Europe/Berlin")
#: The zone abbreviations people read in each language (tzdata's are the English ones).
_ZONE_NAMES: dict[str, dict[str, str]] = {"de": {"CET": "MEZ", "CEST": "MESZ"}}

Translate = Callable[..., str]
"""``t(key, **values)``: the text of ``key`` in the page's language, formatted."""


def translator(lang: str) -> Translate:
    """The ``t`` of ``lang`` (``DEFAULT_LANG`` for an unknown one)."""
    catalogue = CATALOGUES.get(lang, CATALOGUES[DEFAULT_LANG])

    def t(key: str, **values: object) -> str:
        text = catalogue[key]
        return text.format(**values) if values else text

    return t


def text_or(lang: str, key: str, fallback: str, **values: object) -> str:
    """The text of ``key`` in ``lang`` if the catalogue has one, else that of ``fallback``
    (both formatted with ``values``): for codes the catalogue may not know."""
    catalogue = CATALOGUES.get(lang, CATALOGUES[DEFAULT_LANG])
    t = translator(lang)
    return t(key if key in catalogue else fallback, **values)


def e164(digits: str | None) -> str:
    """A number or prefix as shown on every page: E.164 with ``+`` (``49137`` -> ``+49137``)."""
    if not digits:
        return "–"
    return "+" + str(digits).lstrip("+")


def money(cents: int | None, lang: str) -> str:
    """A fee as people read it: ``15,00 €`` in German, ``€15.00`` in English."""
    if cents is None:
        return "–"
    euros, rest = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    if lang == "de":
        return f"{sign}{euros:,}".replace(",", ".") + f",{rest:02d} €"
    return f"{sign}€{euros:,}.{rest:02d}"


def when(seconds: float | None, lang: str = DEFAULT_LANG) -> str:
    """A time in Europe/Berlin with its zone: ``2026-01-01 15:30 MEZ`` (``CET`` in English)."""
    if seconds is None:
        return "–"
    local = dt.datetime.fromtimestamp(seconds, TIME_ZONE)
    zone = local.tzname() or ""
    zone = _ZONE_NAMES.get(lang, {}).get(zone, zone)
    return f"{local:%Y-%m-%d %H:%M} {zone}"
