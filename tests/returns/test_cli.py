"""`backhaul returns ...`: check and publish policies, list cases and reasons, dispatch."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from backhaul.cli import app
from backhaul.returns import cli as returns_cli
from backhaul.returns import policy as policies
from backhaul.settings import get_settings
from tests.returns.conftest import ReturnsWorld

runner = CliRunner()
US = policies.packaged_sources()["US"][1]


def test_policies_check_names_the_file_line_and_field(tmp_path: Path) -> None:
    good = tmp_path / "us.toml"
    good.write_text(US, encoding="utf-8")
    result = runner.invoke(app, ["returns", "policies", "check", str(good)])
    assert result.exit_code == 0 and "US/2026.1 is valid" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text(US.replace("legal_warranty_months = 0", "legal_warranty_months = 999"))
    result = runner.invoke(app, ["returns", "policies", "check", str(bad)])
    line = next(n for n, text in enumerate(bad.read_text().splitlines(), 1) if "999" in text)
    assert result.exit_code == 2
    assert f"bad.toml:{line}: legal_warranty_months:" in " ".join(result.output.split())


def test_publish_list_cases_and_dispatch(
    returns_world: ReturnsWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    newer = tmp_path / "us.toml"
    newer.write_text(US.replace('version = "2026.1"', 'version = "2026.9"'), encoding="utf-8")
    published = runner.invoke(app, ["returns", "policies", "publish", str(newer)])
    assert published.exit_code == 0 and "US/2026.9" in published.output
    assert "2026.9" in runner.invoke(app, ["returns", "policies", "list"]).output
    case = returns_world.open(serial=returns_world.sell())
    monkeypatch.setattr(returns_cli.out, "width", 200)  # a wide terminal: no truncated cells
    listed = runner.invoke(app, ["returns", "cases"])
    assert listed.exit_code == 0 and case["rma"] in listed.output
    shown = runner.invoke(app, ["returns", "show", case["rma"]])
    assert shown.exit_code == 0 and "US/2026.9" in shown.output
    reasons = runner.invoke(app, ["returns", "reasons", "--language", "ja"])
    assert "ペアリング" in reasons.output
    monkeypatch.setenv("BACKHAUL_MAIL_DIR", str(tmp_path / "mail"))
    get_settings.cache_clear()
    dispatched = runner.invoke(app, ["returns", "dispatch"])
    assert dispatched.exit_code == 0 and "1 emails delivered" in dispatched.output
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 1
