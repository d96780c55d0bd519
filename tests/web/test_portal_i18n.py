"""Every customer-facing message (portal pages, emails, the label) is translated in every
catalog, with the same placeholders; the catalogs load from the package's .po files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from backhaul.kit import i18n

ROOT = Path(i18n.__file__).resolve().parents[1]
SOURCES = [
    *sorted((ROOT / "web" / "templates").glob("portal_*.html")),
    *sorted((ROOT / "integrations" / "templates").glob("*.txt")),
]
PYTHON = [
    ROOT / "web" / "portal_pages.py",
    ROOT / "returns" / "labels.py",
    ROOT / "integrations" / "notifications.py",
]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def messages() -> set[str]:
    found = set()
    for path in SOURCES:
        found |= {m for _line, m, _c, _x in extract_from_file("jinja2", str(path))}
    for path in PYTHON:
        found |= {m for _line, m, _c, _x in extract_from_file("python", str(path))}
    return {m for m in found if isinstance(m, str)}


def test_messages_are_found() -> None:
    assert len(messages()) > 100


@pytest.mark.parametrize("locale", ["de", "fr", "es", "ja"])
def test_every_message_is_translated_with_its_placeholders(locale: str) -> None:
    with i18n.catalog_path(locale).open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    for message in sorted(messages()):
        entry = catalog.get(message)
        assert entry is not None and entry.string, f"{locale}: no translation for {message!r}"
        assert set(PLACEHOLDER.findall(str(entry.string))) == set(PLACEHOLDER.findall(message))
        assert not entry.fuzzy


def test_a_translation_is_used_and_english_is_the_source() -> None:
    assert i18n.gettext("de", "Refund") == "Erstattung"
    assert i18n.gettext("en", "Refund") == "Refund"
    assert i18n.gettext("ja", "Your return %(rma)s", rma="RMA-1") == "返品 RMA-1"
    assert i18n.supported("pt-BR") == "en" and i18n.supported("ja_JP") == "ja"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ja-JP,ja;q=0.9,en;q=0.8", "ja"),
        ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7", "fr"),
        ("de;q=0.1, es", "es"),
        ("pt-BR, *;q=0.5", "en"),
        ("", "en"),
        ("en;q=garbage, ja;q=0.5", "ja"),
    ],
)
def test_accept_language_is_negotiated(header: str, expected: str) -> None:
    assert i18n.negotiate(header) == expected
