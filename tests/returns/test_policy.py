"""Policies and reason codes as data: bad files fail with the file, line and field."""

from __future__ import annotations

import pytest

from backhaul.returns import policy as policies
from backhaul.returns import reasons
from backhaul.returns.config import ConfigError

US = policies.packaged_sources()["US"][1]


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        policies.parse(text, "us.toml")
    return caught.value


def _line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_a_wrong_value_names_the_file_line_and_field() -> None:
    bad = US.replace("return_window_days = 30", "return_window_days = -3")
    error = _error(bad)
    assert error.line == _line_of(bad, "return_window_days")
    assert error.field == "return_window_days"
    assert error.detail.startswith(f"us.toml:{error.line}: return_window_days:")


def test_a_wrong_type_in_a_table_names_the_nested_field() -> None:
    bad = US.replace("in_transit_days = 7", 'in_transit_days = "a week"')
    error = _error(bad)
    assert error.field == "sla.in_transit_days" and error.line == _line_of(bad, "in_transit_days")


def test_an_unknown_key_is_refused_where_it_is() -> None:
    bad = US.replace("pickup = true", "pickup = true\nrestocking_fees = 3")
    error = _error(bad)
    assert error.field == "restocking_fees" and error.line == _line_of(bad, "restocking_fees")


def test_a_resolution_that_does_not_exist_is_refused() -> None:
    bad = US.replace('window_resolutions = ["refund", "exchange"]', 'window_resolutions = ["cash"]')
    error = _error(bad)
    assert error.field == "window_resolutions.0" and error.line == _line_of(bad, "window_resol")


def test_a_toml_syntax_error_names_its_line() -> None:
    bad = US.replace('currency = "USD"', "currency = USD")
    error = _error(bad)
    assert error.line == _line_of(bad, "currency = USD") and error.field is None


def test_an_unknown_time_zone_and_a_missing_default_product_section_are_refused() -> None:
    assert _error(US.replace("America/New_York", "Mars/Olympus")).field == "timezone"
    error = _error(US.replace("[products.default]", "[products.SPK-100]"))
    assert error.field == "products"


def test_every_packaged_policy_is_valid_and_cites_its_version() -> None:
    for region, (source, text) in policies.packaged_sources().items():
        parsed = policies.parse(text, source, region)
        assert parsed.policy_version == f"{region}/{parsed.version}"


def test_the_reason_taxonomy_has_two_levels_and_five_languages() -> None:
    taxonomy = reasons.taxonomy()
    codes = set(taxonomy.reasons)
    assert {
        "setup.pairing",
        "setup.account",
        "expectations.not_expected",
        "defect.hardware",
        "defect.firmware",
        "damage.transit",
        "remorse.changed_mind",
        "wrong_item.model",
        "missing_parts.accessories",
        "privacy.concern",
    } <= codes
    for reason in taxonomy.reasons.values():
        assert reason.code.count(".") == 1
        assert set(reason.label) == set(reasons.LANGUAGES) and all(reason.label.values())
    assert taxonomy.get("setup.pairing").setup_help  # type: ignore[union-attr]
    assert taxonomy.get("damage.transit").photos  # type: ignore[union-attr]
    assert taxonomy.get("defect.hardware").warranty  # type: ignore[union-attr]


def test_a_bad_taxonomy_names_the_line() -> None:
    text = reasons.DATA.read_text(encoding="utf-8")
    bad = text.replace('ja = "ペアリング・接続ができない"', 'jp = "x"')
    with pytest.raises(ConfigError) as caught:
        reasons.parse(bad, "reasons.toml")
    assert caught.value.line == _line_of(bad, 'jp = "x"')
    assert caught.value.field is not None and "pairing" in caught.value.field
