"""Golden tests: one small plan per resource type -> exact components and dollars.

The plans and expectations live in tests/fixtures/cost/golden/; each golden file carries the hand
calculation it was checked against (``hand_check``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.cxr.mlops.plugins.module_utils.cost import estimate

GOLDEN = Path(__file__).resolve().parents[3] / "fixtures" / "cost" / "golden"
CASES = sorted(p.name[: -len(".golden.json")] for p in GOLDEN.glob("*.golden.json"))


def test_there_is_a_golden_case_per_priced_resource_family():
    assert len(CASES) >= 14


@pytest.mark.parametrize("case", CASES)
def test_golden(case):
    golden = json.loads((GOLDEN / (case + ".golden.json")).read_text())
    result = estimate(str(GOLDEN / (case + ".plan.json")), usage=golden["usage"])
    expected = golden["expected"]
    got = {}
    for res in result["resources"]:
        got[res["address"]] = {
            "status": res["status"], "monthly_cost": res["monthly_cost"], "price_not_found": res["price_not_found"],
            "components": [[c["name"], c["unit"], c["monthly_quantity"], c["price"], c["monthly_cost"],
                            c["price_not_found"]] for c in res["components"]]}
    assert got == expected["resources"], golden["hand_check"]
    assert result["total_monthly_cost"] == expected["total_monthly_cost"], golden["hand_check"]
    for res in result["resources"]:
        for comp in res["components"]:
            if not comp["price_not_found"]:
                # each component's cost is its quantity x price, rounded to the cent
                assert abs(comp["monthly_quantity"] * comp["price"] - comp["monthly_cost"]) <= 0.005 + 1e-9, comp
