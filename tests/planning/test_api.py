"""Planning over HTTP: the cost model and its errors, the forecast, history imports, and who
may use them."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import bearer, product_payload, site_payload
from tests.planning.factories import hand


def test_the_cost_model_runs_a_scenario_body(admin: TestClient) -> None:
    response = admin.post("/api/v1/planning/costmodel", json={"scenario": hand(), "trials": 500})
    assert response.status_code == 200, response.text
    body = response.json()
    assert round(body["net_cost_per_unit_sold"]["mean"], 2) == 9.30
    assert round(body["share_of_revenue"]["p50"], 4) == 0.093
    assert body["breakdown"]["refund"] == 10.0
    assert 0 < body["break_even_yield"] < 1
    assert body["calibration"] == []


def test_a_bad_scenario_is_a_422_problem_naming_the_field(admin: TestClient) -> None:
    data = hand(**{"returns.rate": {"dist": "triangular", "low": 0.2, "mode": 0.1, "high": 0.3}})
    response = admin.post("/api/v1/planning/costmodel", json={"scenario": data})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["errors"][0]["field"] == "returns.rate"
    assert "low <= mode <= high" in problem["errors"][0]["message"]


def test_too_many_trials_over_http_is_refused(admin: TestClient) -> None:
    response = admin.post(
        "/api/v1/planning/costmodel", json={"scenario": hand(), "trials": 5_000_000}
    )
    assert response.status_code == 422


def test_a_default_scenario_starts_from_the_catalog(admin: TestClient) -> None:
    assert admin.post("/api/v1/products", json=product_payload()).status_code == 201
    response = admin.get("/api/v1/planning/costmodel/default", params={"sku": "SPK-100"})
    assert response.status_code == 200
    scenario = response.json()
    assert scenario["product"]["price"] == 129.0
    rerun = admin.post("/api/v1/planning/costmodel", json={"scenario": scenario, "trials": 100})
    assert rerun.status_code == 200, rerun.text
    missing = admin.get("/api/v1/planning/costmodel/default", params={"sku": "NOPE"})
    assert missing.status_code == 404


def test_history_can_be_imported_and_forecast(admin: TestClient) -> None:
    assert admin.post("/api/v1/products", json=product_payload()).status_code == 201
    rows: list[dict[str, Any]] = [
        {"date": f"2026-{m:02d}-{d:02d}", "sku": "SPK-100", "region": "US", "quantity": q}
        for m in range(1, 11)
        for d, q in ((5, 3), (19, 4))
    ]
    rows.append({"date": "2027-01-01", "sku": "SPK-100", "region": "US", "quantity": 1})
    imported = admin.post(
        "/api/v1/planning/history", json={"kind": "returns", "source": "old rma", "rows": rows}
    )
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert body["quantity"] == 70 and body["skipped"] == 1
    assert body["problems"][0]["field"] == "date"
    forecast = admin.get("/api/v1/planning/forecast", params={"horizon": 4, "by": "sku"})
    assert forecast.status_code == 200, forecast.text
    result = forecast.json()
    assert result["series"][0]["key"] == {"sku": "SPK-100"}
    assert len(result["series"][0]["points"]) == 4
    assert result["sources"]["imported returns"] == 70


def test_a_bad_grouping_is_a_422(admin: TestClient) -> None:
    response = admin.get("/api/v1/planning/forecast", params={"by": "colour"})
    assert response.status_code == 422


def test_technicians_may_not_plan_and_nobody_anonymous_may(
    admin: TestClient, make_token: Any
) -> None:
    assert admin.post("/api/v1/sites", json=site_payload()).status_code == 201
    technician = bearer(make_token("technician", sites=["HUB-A"]))
    response = admin.post(
        "/api/v1/planning/costmodel", json={"scenario": hand()}, headers=technician
    )
    assert response.status_code == 403
    anonymous = admin.get("/api/v1/planning/forecast", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    analyst = bearer(make_token("analyst"))
    assert admin.get("/api/v1/planning/forecast", headers=analyst).status_code == 200
    supervisor = bearer(make_token("supervisor"))
    refused = admin.post(
        "/api/v1/planning/history",
        json={"kind": "sales", "source": "x", "rows": []},
        headers=supervisor,
    )
    assert refused.status_code == 403
