"""The planning commands: `backhaul costmodel`, `backhaul forecast` and `backhaul history`."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from backhaul.cli import app
from tests.conftest import product_payload
from tests.planning.factories import EXAMPLES

runner = CliRunner()


def test_costmodel_prints_the_result_and_writes_json_and_charts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "costmodel",
            "--scenario",
            str(EXAMPLES / "cam-ai1.toml"),
            "--trials",
            "20000",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "CAM-AI1" in result.output and "break-even yield" in result.output
    data = json.loads((out / "result.json").read_text())
    assert set(data["net_cost_per_unit_sold"]) == {"mean", "p10", "p50", "p90"}
    assert {"share_of_revenue", "breakdown", "break_even_yield"} <= set(data)
    for name in ("histogram", "tornado", "breakdown", "scenarios"):
        assert (out / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    page = (out / "charts.html").read_text()
    assert "<script src='plotly.min.js'>" in page and "cdn" not in page.lower()
    assert (out / "plotly.min.js").stat().st_size > 1_000_000


def test_a_bad_scenario_file_fails_with_the_field_and_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    text = (EXAMPLES / "spk-100.toml").read_text()
    bad.write_text(text.replace("units_sold = 150000", "units_sold = -5"))
    result = runner.invoke(app, ["costmodel", "--scenario", str(bad)])
    assert result.exit_code == 2
    assert "product.units_sold: Input should be greater than 0" in result.output
    missing = runner.invoke(app, ["costmodel", "--scenario", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_forecast_from_csv_writes_the_forecast_and_the_backtest(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    exported = runner.invoke(
        app, ["history", "demo-export", "--out", str(demo), "--units", "12000"]
    )
    assert exported.exit_code == 0, exported.output
    truth = json.loads((demo / "truth.json").read_text())
    assert truth["RNG-200"]["rate"] == 0.14
    with (demo / "returns.csv").open("a") as handle:
        handle.write("2026-10-01,SPK-100,US,-3,\n2031-01-01,SPK-100,US,1,\n")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "forecast",
            "--returns",
            str(demo / "returns.csv"),
            "--sales",
            str(demo / "sales.csv"),
            "--horizon",
            "8",
            "--by",
            "sku",
            "--jobs",
            "1",
            "--scenarios",
            str(EXAMPLES),
            "--hubs",
            "US=HUB-US,EU=HUB-EU,JP=HUB-JP",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2 skipped" in result.output and "overall" in result.output
    with (out / "backtest.csv").open() as handle:
        backtest = list(csv.DictReader(handle))
    assert list(backtest[0]) == ["series", "model", "mase", "bias", "chosen"]
    overall = {row["model"]: row for row in backtest if row["series"] == "overall"}
    assert set(overall) == {"seasonal_naive", "auto_ets", "auto_theta", "cohort", "chosen"}
    with (out / "forecast.csv").open() as handle:
        forecast = list(csv.DictReader(handle))
    assert len(forecast) == 4 * 8
    assert {"week", "sku", "model", "forecast", "lo80", "hi80", "lo95", "hi95"} <= set(forecast[0])
    assert all(float(r["lo95"]) <= float(r["forecast"]) <= float(r["hi95"]) for r in forecast)
    for name in ("hours.csv", "parts.csv", "returns.png", "charts.html"):
        assert (out / name).exists()
    with (out / "parts.csv").open() as handle:
        parts = {row["part"] for row in csv.DictReader(handle)}
    assert "RNG-200 cell 22 mAh" in parts  # named by the scenario's [parts] table


def test_forecast_without_files_reads_the_database(database: str, tmp_path: Path) -> None:
    loaded = runner.invoke(app, ["demo", "--units", "2000"])
    assert loaded.exit_code == 0, loaded.output
    assert "returns of history" in loaded.output
    result = runner.invoke(app, ["forecast", "--horizon", "4", "--by", "hub", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "imported returns" in result.output and "HUB-EU" in result.output


def test_history_import_reports_bad_rows(admin: Any, tmp_path: Path) -> None:
    assert admin.post("/api/v1/products", json=product_payload()).status_code == 201
    source = tmp_path / "legacy.csv"
    source.write_text(
        "date,sku,region,quantity\n2025-01-06,SPK-100,US,5\n2025-01-07,SPK-100,US,x\n"
    )
    result = runner.invoke(app, ["history", "import", str(source), "--kind", "sales"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "1 weekly rows (5 units) written, 1 skipped" in text
    assert "not a whole number" in result.output
