"""Translations and locale formats (Babel): the customer-facing languages, message catalogs
read from the package's .po files at startup (no compile step), Accept-Language negotiation,
and dates, numbers and money in the customer's locale."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _format_date
from babel.dates import format_datetime as _format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import NullTranslations, Translations

LOCALES = ("en", "de", "fr", "es", "ja")
DEFAULT_LOCALE = "en"
LANGUAGE_NAMES = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "ja": "日本語",
}
CATALOGS = Path(__file__).resolve().parents[1] / "locales"


def catalog_path(locale: str) -> Path:
    """The .po file of a language."""
    return CATALOGS / f"{locale}.po"


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> NullTranslations:
    """The language's messages, compiled in memory from its .po file (English: the source)."""
    path = catalog_path(locale)
    if locale == DEFAULT_LOCALE or not path.is_file():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled)


def gettext(locale: str, message: str, **params: Any) -> str:
    """`message` in the language, with %(name)s parameters filled in."""
    text = translations(supported(locale)).gettext(message)
    return text % params if params else text


def translator(locale: str) -> Callable[..., str]:
    """A `_(message, **params)` bound to one language (for templates and labels)."""
    locale = supported(locale)

    def _(message: str, **params: Any) -> str:
        return gettext(locale, message, **params)

    return _


def supported(locale: str | None) -> str:
    """The locale if we have it (by its language), else the default."""
    language = (locale or "").replace("-", "_").split("_")[0].lower()
    return language if language in LOCALES else DEFAULT_LOCALE


def negotiate(accept_language: str | None) -> str:
    """The best of our languages for an Accept-Language header (q-values honoured)."""
    if not accept_language:
        return DEFAULT_LOCALE
    preferences: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept_language.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            preferences.append((-quality, index, tag.strip()))
    for _quality, _index, tag in sorted(preferences):
        if tag == "*":
            return DEFAULT_LOCALE
        language = tag.replace("-", "_").split("_")[0].lower()
        if language in LOCALES:
            return language
    return DEFAULT_LOCALE


def _babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse(supported(locale))
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LOCALE)


def format_date(value: date, locale: str, format: str = "long") -> str:
    """A date as the locale writes it ('November 22, 2026', '22. November 2026', …)."""
    return _format_date(value, format=format, locale=_babel_locale(locale))


def format_datetime(
    value: datetime, locale: str, timezone: str = "UTC", format: str = "medium"
) -> str:
    """A moment in the given time zone, as the locale writes it."""
    from babel.dates import get_timezone

    return _format_datetime(
        value, format=format, tzinfo=get_timezone(timezone), locale=_babel_locale(locale)
    )


def format_number(value: Decimal | float, locale: str) -> str:
    """A number as the locale writes it ('2.5', '2,5')."""
    return format_decimal(value, locale=_babel_locale(locale))


def format_money(amount: Decimal | float | str, currency: str, locale: str) -> str:
    """An amount in its currency, as the locale writes it ('$129.00', '129,00 €', '￥19,350')."""
    return format_currency(Decimal(str(amount)), currency, locale=_babel_locale(locale))
