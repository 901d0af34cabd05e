"""Green evaluation on real TimescaleDB: a year of rolled-up data and inputs, factor versions,
reports (the PDF's first page rendered to PNG and checked for content)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
import yaml

from tests.services import Database, fresh_database
from tests.test_evaluation_domain import EXPECTED_TERMS, METRICS

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "simulator" / "scenarios" / "demo-park.yaml"
# One device per metric in the demo registry (the evaluation sums a park's devices).
DEVICE_FOR = {
    "energy.electricity.import": "ts-elec-em-02",
    "energy.electricity.renewable": "park-pv-inv-01",
    "energy.gas": "ak-food-em-01",
    "energy.coal": "ak-pbzn-em-01",
    "water.intake": "hz-steel-wm-02",
    "water.reused": "hz-steel-wm-02",
    "water.reclaimed": "park-wwtp-rw-01",
    "wastewater.discharge": "park-wwtp-rw-01",
    "heat.waste.available": "ak-food-hm-01",
    "heat.waste.recovered": "ak-food-hm-01",
    "waste.solid.generated": "ts-elec-ws-01",
    "waste.solid.utilized": "ts-elec-ws-01",
    "waste.hazardous.generated": "ts-elec-ws-01",
    "waste.hazardous.disposed": "ts-elec-ws-01",
}
INPUTS_2025 = {
    "industrial_value_added": ("10k CNY", 20_000),
    "land_area": ("km2", 2),
    "waste_gas_recovery_rate": ("%", 92),
    "recycled_resource_rate": ("%", 70),
    "main_pollutant_emissions": ("t", 100),
    "major_accidents_3y": ("count", 0),
    "clean_production_audit_share": ("%", 100),
    "energy_emission_targets_met": ("bool", 1),
}
CONFIG = yaml.safe_load((ROOT / "examples" / "checks-demo-park.yaml").read_text())
FACTORS_A = {
    "version": "A",
    "valid_from": "2020-01-01",
    "source": "test set A",
    "co2": {
        "energy.electricity.import": {"kg_co2_per_unit": 0.5, "source": "test"},
        "energy.electricity.renewable": {"kg_co2_per_unit": 0.0, "source": "test"},
        "energy.gas": {"kg_co2_per_unit": 2.0, "source": "test"},
        "energy.coal": {"kg_co2_per_unit": 2000.0, "source": "test"},
    },
}


def cli(db: Database, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SMARTPARK_DATABASE_URL": db.url}
    return subprocess.run(
        [sys.executable, "-m", "smartpark", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def spread(db: Database, year: int, totals: dict[str, float]) -> None:
    """A year of daily rollups adding up to `totals`."""
    days = (date(year + 1, 1, 1) - date(year, 1, 1)).days
    rows = []
    for metric, total in totals.items():
        device = db.scalar("SELECT id FROM device WHERE code = %s", DEVICE_FOR[metric])
        metric_id = db.scalar("SELECT id FROM metric WHERE name = %s", metric)
        rows += [
            (device, metric_id, date(year, 1, 1) + timedelta(days=d), total / days)
            for d in range(days)
        ]
    import psycopg

    columns = "device_id, metric_id, day, hours, samples, n_normal, n_manual, consumed"
    sql = f"COPY rollup_day ({columns}) FROM STDIN"
    with psycopg.connect(db.url) as conn, conn.cursor() as cur, cur.copy(sql) as copy:
        for device, metric_id, day, amount in rows:
            copy.write_row((device, metric_id, day, 24, 24, 24, 0, amount))


@pytest.fixture
def park(tmp_path: Path) -> Any:
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        subprocess.run(
            [sys.executable, "-m", "smartpark_sim", "registry", str(DEMO)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    with fresh_database(True, registry) as db:
        spread(db, 2025, METRICS)
        spread(
            db,
            2024,
            {
                "energy.electricity.import": 12_000_000.0,
                "energy.gas": 1_000_000.0,
                "energy.coal": 2_000.0,
            },
        )
        csv_file = tmp_path / "inputs.csv"
        lines = ["park,enterprise,period,key,value,unit"] + [
            f"qinba-demo,,2025,{k},{v},{u}" for k, (u, v) in INPUTS_2025.items()
        ]
        lines += [
            "qinba-demo,,2024,industrial_value_added,18000,10k CNY",
            "qinba-demo,,2024,main_pollutant_emissions,110,t",
        ]
        csv_file.write_text("\n".join(lines) + "\n")
        out = cli(db, "inputs", "import", str(csv_file), "--by", "officer.wang")
        assert out.returncode == 0 and out.stdout.strip() == "stored 10 input(s)", out.stderr
        yield db, tmp_path


def configure(db: Database, tmp_path: Path, factors: list[dict[str, Any]]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "factors": factors}, allow_unicode=True))
    out = cli(db, "config", "import", str(path))
    assert out.returncode == 0, out.stderr


def test_a_year_of_data_and_inputs_gives_the_hand_computed_evaluation(park: Any) -> None:
    db, tmp_path = park
    configure(db, tmp_path, [FACTORS_A])
    out = cli(db, "evaluation", "run", "--park", "qinba-demo", "--period", "2025")
    assert out.returncode == 0, out.stderr
    # Same park as tests/test_evaluation_domain.py: every term worked out there by hand.
    terms = EXPECTED_TERMS
    expected_index = 100 * sum(terms) / 13
    assert out.stdout.strip() == f"evaluation 1: gate passed, green index {expected_index:.1f}"
    result = db.scalar("SELECT result FROM evaluation WHERE id = 1")
    values = {r["id"]: r["value"] for r in result["indicators"]}
    assert values["EG1"] == pytest.approx(20_000 / 4117.7)
    assert values["HG2"] == pytest.approx(17.5)  # CO2 intensity 12,000/18,000 -> 11,000/20,000
    assert result["accounts"]["co2_t"] == pytest.approx(11_000.0)
    assert result["coverage"]["water.intake"] == 1.0
    assert db.rows("SELECT factor_version, set_version, gate_passed FROM evaluation") == [
        ("A", "2016.1", True)
    ]
    assert db.scalar("SELECT count(*) FROM periodic_input WHERE entered_by = 'officer.wang'") == 10


def test_a_factor_change_rerun_keeps_history_explainable(park: Any) -> None:
    db, tmp_path = park
    configure(db, tmp_path, [FACTORS_A])
    assert cli(db, "evaluation", "run", "--park", "qinba-demo", "--period", "2025").returncode == 0
    newer = {
        **FACTORS_A,
        "version": "B",
        "valid_from": "2025-01-01",
        "co2": {
            **FACTORS_A["co2"],
            "energy.electricity.import": {"kg_co2_per_unit": 0.4, "source": "test"},
        },
    }
    configure(db, tmp_path, [FACTORS_A, newer])
    assert cli(db, "evaluation", "run", "--park", "qinba-demo", "--period", "2025").returncode == 0
    rows = db.rows(
        "SELECT id, factor_version, result->'accounts'->'co2_t' FROM evaluation ORDER BY id"
    )
    # 2025 with B: 1e7 x 0.4 + 1e6 x 2 + 2000 x 2000 = 10,000 t; the first evaluation still says 11,000 (A)
    assert rows == [(1, "A", pytest.approx(11_000.0)), (2, "B", pytest.approx(10_000.0))]


def test_reports_html_csv_json_and_a_pdf_that_renders(park: Any) -> None:
    db, tmp_path = park
    configure(db, tmp_path, [FACTORS_A])
    assert (
        cli(db, "evaluation", "run", "--park", "qinba-demo", "--period", "2024").returncode == 0
    )  # last year, for comparison
    assert cli(db, "evaluation", "run", "--park", "qinba-demo", "--period", "2025").returncode == 0
    for suffix in ("html", "csv", "json", "pdf"):
        out = cli(db, "evaluation", "report", "2", "--out", str(tmp_path / f"report.{suffix}"))
        assert out.returncode == 0, out.stderr
    html = (tmp_path / "report.html").read_text()
    assert (
        "工业用水重复利用率" in html
        and "Previous year (2024)" in html
        and "<svg" in html
        and "http" not in html.split("<body>")[1].split("xmlns")[0]
    )
    assert (tmp_path / "report.csv").read_text().splitlines()[
        0
    ] == "id,zh,en,category,unit,direction,lead,value,score,used,missing"
    pdf = pypdfium2.PdfDocument(str(tmp_path / "report.pdf"))
    assert len(pdf) >= 2
    image = pdf[0].render(scale=1).to_pil().convert("L")
    image.save(tmp_path / "report-page-1.png")
    dark = image.point(lambda p: 255 if p < 128 else 0).histogram()[255]
    assert dark > 2000, f"the first page looks blank ({dark} dark pixels)"


def test_bad_inputs_are_refused_with_line_and_field(park: Any) -> None:
    db, tmp_path = park
    bad = tmp_path / "bad.csv"
    bad.write_text("park,enterprise,period,key,value,unit\nqinba-demo,,2025,land_area,2,m2\n")
    out = cli(db, "inputs", "import", str(bad))
    assert (
        out.returncode == 2
        and "line 2: unit: land_area is entered in 'km2', not 'm2'" in out.stderr
    )
    bad.write_text("park,enterprise,period,key,value,unit\nqinba-demo,,2025-13,land_area,2,km2\n")
    assert (
        "line 2: period '2025-13' has no month 13" in cli(db, "inputs", "import", str(bad)).stderr
    )
    bad.write_text(
        "park,enterprise,period,key,value,unit\nqinba-demo,,2025,waste_gas_recovery_rate,120,%\n"
    )
    assert (
        "value: waste_gas_recovery_rate must be at most 100, got 120"
        in cli(db, "inputs", "import", str(bad)).stderr
    )


def test_the_monthly_scheduler_job_evaluates_the_month_and_its_year_once(park: Any) -> None:
    from smartpark.checks.scheduler import Scheduler
    from smartpark.config import Settings

    db, tmp_path = park
    configure(db, tmp_path, [FACTORS_A])
    jobs = Scheduler(db.engine, Settings(database_url=db.url), None)
    jobs._evaluate("qinba-demo")
    jobs._evaluate("qinba-demo")  # a second scheduler (or a rerun) in the same hour: claimed
    labels = sorted(label for (label,) in db.rows("SELECT period_label FROM evaluation"))
    assert (
        len(labels) == 2
        and labels[0].isdigit()
        and len(labels[1]) == 7
        and labels[1].startswith(labels[0])
    )
