"""The green evaluation on a small park worked out by hand (MIIT 2016 set)."""

from __future__ import annotations

import pytest

from smartpark.evaluation.domain import Quantities, co2_tonnes, energy_accounts, evaluate
from smartpark.evaluation.indicators import load_energy_table, load_indicator_set

SET = load_indicator_set("miit-2016")
ENERGY = {
    "energy.electricity.import": 10_000_000.0,
    "energy.electricity.renewable": 2_000_000.0,
    "energy.gas": 1_000_000.0,
    "energy.coal": 2_000.0,
}
FACTORS = {
    "energy.electricity.import": 0.5,
    "energy.electricity.renewable": 0.0,
    "energy.gas": 2.0,
    "energy.coal": 2000.0,
}
INPUTS = {
    "industrial_value_added": 20_000.0,
    "land_area": 2.0,
    "waste_gas_recovery_rate": 92.0,
    "recycled_resource_rate": 70.0,
    "main_pollutant_emissions": 100.0,
    "major_accidents_3y": 0.0,
    "clean_production_audit_share": 100.0,
    "energy_emission_targets_met": 1.0,
}
METRICS = {
    **ENERGY,
    "water.intake": 100_000.0,
    "water.reused": 900_000.0,
    "water.reclaimed": 50_000.0,
    "wastewater.discharge": 60_000.0,
    "heat.waste.available": 10_000.0,
    "heat.waste.recovered": 5_000.0,
    "waste.solid.generated": 1_000.0,
    "waste.solid.utilized": 960.0,
    "waste.hazardous.generated": 10.0,
    "waste.hazardous.disposed": 10.0,
}


def park(
    inputs: dict[str, float] | None = None, metrics: dict[str, float] | None = None
) -> Quantities:
    m = METRICS if metrics is None else metrics
    accounts = energy_accounts(m, load_energy_table())
    return Quantities(
        m,
        dict.fromkeys(m, 1.0),
        INPUTS if inputs is None else inputs,
        accounts["tce"],
        co2_tonnes(m, FACTORS),
    )


# The index terms worked out by hand, capped at 1.2: EG1 1.2, EG2 5.97/15, EG3 65.31/75,
# RG1 1.2, RG2 1/15, RG3 96/95, RG4 1.0, the best two optional RG5 1.2 and RG7 92/90 (RG6
# 0.833 and RG8 0.875 not used), HG1 5/3 -> 1.2, HG2 1.2, HG3 (negative: lower is better) 1.2,
# HG4 1.0.
EXPECTED_TERMS = [
    1.2, 245.8 / 4117.7 * 100 / 15, 2689.1 / 4117.7 * 100 / 75, 1.2, 1 / 15, 96 / 95, 1.0,
    1.2, 92 / 90, 1.2, 1.2, 1.2, 1.0,
]  # fmt: skip

PREVIOUS = Quantities(
    inputs={"industrial_value_added": 18_000.0, "main_pollutant_emissions": 110.0}, co2_t=12_000.0
)


def test_energy_accounts_in_standard_coal() -> None:
    accounts = energy_accounts(ENERGY, load_energy_table())
    # 1e7 kWh x 0.1229 = 1229 tce; 2e6 kWh x 0.1229 = 245.8; 1e6 m3 x 1.2143 = 1214.3; 2000 t x 714.3 = 1428.6
    assert accounts["tce"] == pytest.approx({"all": 4117.7, "clean": 2689.1, "renewable": 245.8})
    # 1e7 x 0.5 + 1e6 x 2.0 + 2000 x 2000 = 11,000,000 kg
    assert co2_tonnes(ENERGY, FACTORS) == pytest.approx(11_000.0)


def test_worked_example_every_indicator_the_gate_and_the_index() -> None:
    result = evaluate(SET, park(), PREVIOUS, violations={})
    values = {r["id"]: r["value"] for r in result["indicators"]}
    expected = {
        "EG1": 20_000 / 4117.7,  # 4.857 10k CNY/tce
        "EG2": 245.8 / 4117.7 * 100,  # 5.97 %
        "EG3": 2689.1 / 4117.7 * 100,  # 65.31 %
        "RG1": 20_000 * 10_000 / 100_000,  # 2000 CNY/m3
        "RG2": 20_000 / 10_000 / 2,  # 1.0 (100M CNY)/km2
        "RG3": 96.0,
        "RG4": 90.0,  # 900,000 / (900,000 + 100,000)
        "RG5": 50_000 / 110_000 * 100,  # 45.45 %
        "RG6": 50.0,
        "RG7": 92.0,
        "RG8": 70.0,
        "HG1": 3.0,  # 60,000 t / 20,000 10k CNY
        "HG2": (12_000 / 18_000 - 11_000 / 20_000) / (12_000 / 18_000) * 100,  # 17.5 %
        "HG3": ((100 - 110) / 110) / ((20_000 - 18_000) / 18_000),  # -0.818
        "HG4": 100.0,
    }
    assert values == pytest.approx(expected)
    terms = EXPECTED_TERMS
    assert sorted(r["id"] for r in result["indicators"] if r["used"]) == sorted(
        ["EG1", "EG2", "EG3", "RG1", "RG2", "RG3", "RG4", "RG5", "RG7", "HG1", "HG2", "HG3", "HG4"]
    )
    assert result["gate"]["passed"] is True
    assert result["green_index"] == pytest.approx(100 * sum(terms) / 13)  # 96.68
    assert [w["id"] for w in result["weakest"]] == ["RG2", "EG2", "EG3"]
    assert result["weakest"][0]["to_reach_lead"] == "raise from 1 to 15 100M CNY/km2"


def test_optional_group_takes_the_best_two_that_have_values() -> None:
    inputs = {
        k: v
        for k, v in INPUTS.items()
        if k not in ("waste_gas_recovery_rate", "recycled_resource_rate")
    }
    result = evaluate(SET, park(inputs), PREVIOUS, violations={})
    used = {r["id"] for r in result["indicators"] if r["used"] and r["group"]}
    assert used == {"RG5", "RG6"}  # RG7 and RG8 have no input: the two with values count


def test_missing_data_is_named_and_the_gate_withholds_the_index() -> None:
    inputs = {
        k: v for k, v in INPUTS.items() if k not in ("industrial_value_added", "major_accidents_3y")
    }
    result = evaluate(SET, park(inputs), None, violations={"concentration.daily.emission.so2": 2})
    eg1 = next(r for r in result["indicators"] if r["id"] == "EG1")
    assert (eg1["value"], eg1["missing"]) == (None, ["input industrial_value_added not entered"])
    hg2 = next(r for r in result["indicators"] if r["id"] == "HG2")
    assert hg2["missing"] == ["needs the previous period"]
    gate = {g["id"]: g["passed"] for g in result["gate"]["items"]}
    assert gate == {
        "no_major_accident": None,
        "targets_met": True,
        "audits": True,
        "within_limits": False,
    }
    assert result["gate"]["passed"] is False and result["green_index"] is None
    assert set(result["incomplete"]) >= {"EG1", "RG1", "RG2", "HG1", "HG2", "HG3"}
