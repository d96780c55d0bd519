"""The `backhaul` command: what an operator types and what they get back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer.main
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backhaul.cli import app as cli

runner = CliRunner()

CREATE_SPEAKER = [
    "products",
    "create",
    "--sku",
    "spk-100",
    "--name",
    "Speaker",
    "--family",
    "audio",
    "--category",
    "speaker",
    "--serial-pattern",
    "SPK[0-9]{6}",
    "--weight-g",
    "800",
    "--msrp",
    "129.00",
    "--currency",
    "usd",
    "--hs-code",
    "8518.22",
]


def test_keys_create_prints_the_token_alone_and_it_works(client: TestClient) -> None:
    result = runner.invoke(cli, ["keys", "create", "--role", "admin", "--name", "ci"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("bhk_")
    assert "\n" not in token
    response = client.get("/api/v1/brands", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_keys_create_refuses_an_unknown_site(database: str) -> None:
    result = runner.invoke(cli, ["keys", "create", "--role", "technician", "--site", "NOWHERE"])
    assert result.exit_code == 2
    assert "sites" in result.stderr and "NOWHERE" in result.stderr


def test_catalog_from_the_command_line(database: str) -> None:
    assert runner.invoke(cli, CREATE_SPEAKER).exit_code == 0
    again = runner.invoke(cli, CREATE_SPEAKER)
    assert again.exit_code == 2
    assert "sku" in again.stderr and "already exists" in again.stderr
    update = runner.invoke(
        cli,
        ["products", "update", "SPK-100", "--set", "msrp=119.00", "--set", "warranty_months=24"],
    )
    assert update.exit_code == 0, update.output
    assert "version 2" in update.stdout
    listing = runner.invoke(cli, ["products", "list"])
    assert "SPK-100" in listing.stdout and "119.00" in listing.stdout
    bad = runner.invoke(cli, ["products", "update", "SPK-100", "--set", "weight_g=-1"])
    assert bad.exit_code == 2
    assert "weight_g" in bad.stderr
    unknown = runner.invoke(cli, ["products", "update", "SPK-100", "--set", "colour=red"])
    assert unknown.exit_code == 2
    assert "colour" in unknown.stderr


def test_sites_and_users(database: str) -> None:
    site = runner.invoke(
        cli,
        [
            "sites",
            "create",
            "--code",
            "hub-x",
            "--name",
            "Hub X",
            "--region",
            "eu",
            "--timezone",
            "Europe/Paris",
            "--labour-rate",
            "40",
            "--currency",
            "EUR",
            "--capability",
            "wipe:purge",
        ],
    )
    assert site.exit_code == 0, site.output
    bad_zone = runner.invoke(cli, ["sites", "update", "HUB-X", "--set", "timezone=Mars/Base"])
    assert bad_zone.exit_code == 2
    assert "timezone" in bad_zone.stderr
    caps = runner.invoke(
        cli, ["sites", "update", "HUB-X", "--set", 'capabilities=["wipe:purge", "flash"]']
    )
    assert caps.exit_code == 0, caps.output
    assert "flash" in runner.invoke(cli, ["sites", "list"]).stdout
    user = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--username",
            "tech.x",
            "--role",
            "technician",
            "--site",
            "HUB-X",
            "--password",
            "long-enough-1",
        ],
    )
    assert user.exit_code == 0, user.output
    no_site = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--username",
            "tech.y",
            "--role",
            "technician",
            "--password",
            "long-enough-1",
        ],
    )
    assert no_site.exit_code == 2
    assert "sites" in no_site.stderr


def test_units_import_reports_added_duplicates_and_rejected(database: str, tmp_path: Path) -> None:
    assert runner.invoke(cli, CREATE_SPEAKER).exit_code == 0
    sales = tmp_path / "sales.csv"
    sales.write_text(
        "serial,sku,order_ref,customer_email,sold_at,region,channel,price,currency\n"
        " spk000001 ,SPK-100,O-1,a@example.com,2026-01-05,US,web,129.00,USD\n"
        "SPK000002,SPK-100,O-2,a@example.com,2026-01-05T10:00:00+01:00,EU,web,119,EUR\n"
        "XYZ,SPK-100,O-3,a@example.com,2026-01-05,US,web,129.00,USD\n"
        "SPK000004,NOPE,O-4,a@example.com,2026-01-05,US,web,129.00,USD\n"
        "SPK000005,SPK-100,O-5,not-an-email,2026-01-05,US,web,129.00,USD\n"
    )
    first = runner.invoke(cli, ["units", "import", str(sales)])
    assert first.exit_code == 0, first.output
    assert "2 added" in first.stdout and "3 rejected" in first.stdout
    assert "customer_email" in first.stdout and "unknown SKU" in first.stdout
    second = runner.invoke(cli, ["units", "import", str(sales)])
    assert "0 added" in second.stdout and "2 already registered" in second.stdout


def test_lifecycle_prints_the_table(database: str) -> None:
    result = runner.invoke(cli, ["lifecycle", "--markdown"])
    assert result.exit_code == 0
    assert "| `flash` | `sanitized (after a passed inspection)`, `firmware_failed` |" in (
        result.stdout
    )


def _commands(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, [*path, name])


def _words(text: str) -> str:
    return " ".join(text.replace("`", "").split())


def test_every_command_explains_itself() -> None:
    """Every command has a help text, and `--help` shows its summary whole: the help is
    rendered as Markdown, which would drop an unquoted `<PLACEHOLDER>` or a `*word*`."""
    commands = list(_commands(typer.main.get_command(cli), []))
    assert len(commands) > 60
    for path, command in commands:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Usage" in result.stdout
        assert command.help, f"backhaul {' '.join(path)} has no help text"
        summary = command.help.strip().split("\n\n")[0]
        assert _words(summary) in _words(result.stdout), path
        for parameter in command.params:
            unquoted = re.sub(r"`[^`]*`", "", getattr(parameter, "help", None) or "")
            assert "<" not in unquoted, f"{path} {parameter.name}: quote <...> in backticks"
