"""The park simulator: physics on generated data, determinism, and exact reconciliation."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from smartpark.catalogue import load_catalogue
from smartpark.registry.schema import parse_registry
from smartpark_sim.engine import Engine, Outgoing
from smartpark_sim.models import COUNTERS
from smartpark_sim.scenario import load_scenario
from tests.services import Database, Mosquitto, fresh_database, wait_until

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "simulator" / "scenarios" / "demo-park.yaml"
START = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # Tuesday 00:00 in Asia/Shanghai


@pytest.fixture(scope="module")
def demo_day() -> list[Outgoing]:
    """Two simulated days of the demo park, with all its faults."""
    engine = Engine(load_scenario(DEMO), START)
    return list(engine.generate(START, START + timedelta(days=2)))


def series(items: list[Outgoing], device: str, metric: str) -> list[tuple[datetime, float, str]]:
    points = [
        (i.time, v, f)
        for i in items
        if i.device == device and i.kind == "telemetry"
        for m, v, f in i.readings
        if m == metric
    ]
    return sorted(points)  # type: ignore[arg-type]


def test_counters_only_rise_except_the_declared_reset(demo_day: list[Outgoing]) -> None:
    drops = defaultdict(int)
    for device, metric in {
        (i.device, m)
        for i in demo_day
        if i.kind == "telemetry"
        for m, _, _ in i.readings
        if m in COUNTERS
    }:
        values = [v for _, v, _ in series(demo_day, device, metric)]  # type: ignore[arg-type]
        drops[(device, metric)] = sum(1 for a, b in itertools.pairwise(values) if b < a)
    assert {k: n for k, n in drops.items() if n} == {("ts-elec-wm-01", "water.intake"): 1}


def _increase(items: list[Outgoing], device: str, metric: str) -> float:
    values = [v for _, v, _ in series(items, device, metric)]
    return values[-1] - values[0]


def test_water_reuse_rates_meet_and_miss_their_targets(demo_day: list[Outgoing]) -> None:
    def rate(device: str) -> float:
        reused, intake = (
            _increase(demo_day, device, "water.reused"),
            _increase(demo_day, device, "water.intake"),
        )
        return reused / (reused + intake)

    assert rate("hz-steel-wm-01") == pytest.approx(0.93, abs=0.005)  # meets a 90% lead value
    assert rate("dz-chem-wm-01") == pytest.approx(0.85, abs=0.005)  # misses it


def test_recovered_heat_never_exceeds_available(demo_day: list[Outgoing]) -> None:
    for device in ("hz-steel-hm-01", "ak-pbzn-hm-01", "dz-chem-hm-01", "ak-food-hm-01"):
        available = series(demo_day, device, "heat.waste.available")
        recovered = series(demo_day, device, "heat.waste.recovered")
        steps = zip(
            itertools.pairwise(available),
            itertools.pairwise(recovered),
            strict=True,
        )
        assert all((r2[1] - r1[1]) <= (a2[1] - a1[1]) + 1e-9 for (a1, a2), (r1, r2) in steps), (
            device
        )


def test_stack_concentrations_follow_oxygen_dilution(demo_day: list[Outgoing]) -> None:
    """Corrected to 6% O2, SO2 scatters around the configured 28 mg/m3 (outside the spike)."""
    o2 = {t: v for t, v, _ in series(demo_day, "hz-steel-cems-1", "emission.o2")}
    spike_from, spike_to = START + timedelta(hours=20), START + timedelta(hours=21)
    corrected = [
        v * (21 - 6) / (21 - o2[t])
        for t, v, _ in series(demo_day, "hz-steel-cems-1", "emission.so2")
        if not spike_from <= t < spike_to
    ]
    assert sum(corrected) / len(corrected) == pytest.approx(28, rel=0.02)
    spike = [
        v
        for t, v, _ in series(demo_day, "hz-steel-cems-1", "emission.so2")
        if spike_from <= t < spike_to
    ]
    assert len(spike) == 60 and min(spike) > 3 * 28 * 0.7  # an hour far above any limit
    assert all(v < 21 for _, v, _ in series(demo_day, "hz-steel-cems-1", "emission.o2"))


def test_power_matches_the_energy_counter(demo_day: list[Outgoing]) -> None:
    power = series(demo_day, "ts-elec-em-02", "energy.power")
    kwh = series(demo_day, "ts-elec-em-02", "energy.electricity.import")
    for (t, kw, _), (_, before, _), (_, after, _) in zip(power[1:], kwh, kwh[1:], strict=False):
        assert after - before == pytest.approx(kw / 60, rel=1e-4, abs=1e-4), t


def test_pv_follows_the_sun_and_production_follows_shifts(demo_day: list[Outgoing]) -> None:
    pv = {t: v for t, v, _ in series(demo_day, "park-pv-inv-01", "energy.power")}
    local_midnight, local_noon = START + timedelta(hours=0), START + timedelta(hours=12, minutes=30)
    assert pv[local_midnight] == 0.0
    assert pv[local_noon] > 250  # 2,500 kW in late November, through some cloud
    pharma = {t: v for t, v, _ in series(demo_day, "sl-pharma-em-01", "energy.power")}
    day_shift = sum(v for t, v in pharma.items() if 8 <= (t + timedelta(hours=8)).hour < 20)
    night = sum(v for t, v in pharma.items() if not 8 <= (t + timedelta(hours=8)).hour < 20)
    assert day_shift > 2 * night


def test_faults_are_in_the_data(demo_day: list[Outgoing]) -> None:
    flags = [f for _, _, f in series(demo_day, "hz-steel-cems-2", "emission.so2")]
    assert flags.count("M") == 120  # two hours of maintenance
    stuck = {
        v
        for t, v, _ in series(demo_day, "dz-chem-cems-1", "emission.nox")
        if START + timedelta(hours=14) <= t < START + timedelta(hours=17)
    }
    assert len(stuck) == 1
    dropped = [i.seq for i in demo_day if i.device == "ak-food-em-01" and i.kind == "telemetry"]
    assert len(dropped) == 2 * 1440 - 20  # 20 minutes dropped out
    assert len([i for i in demo_day if i.kind == "duplicate"]) == 10
    malformed = [i for i in demo_day if i.kind in ("malformed", "unknown_device")]
    assert len(malformed) == 4 + 2 + 2 + 2 + 6


def test_a_seed_reproduces_a_run_bit_for_bit() -> None:
    scenario = load_scenario(DEMO)
    runs = [
        [
            (i.topic, i.payload)
            for i in Engine(scenario, START).generate(START, START + timedelta(hours=3))
        ]
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    other = Engine(scenario.model_copy(update={"seed": 7}), START).generate(
        START, START + timedelta(hours=3)
    )
    assert [(i.topic, i.payload) for i in other] != runs[0]


def test_registry_is_what_smartpark_imports() -> None:
    out = sim("registry", str(DEMO), capture_output=True, text=True, check=True).stdout
    registry = parse_registry(yaml.safe_load(out), set(load_catalogue()), "sim")
    devices = [d for e in registry.parks[0].enterprises for d in e.devices]
    assert 40 <= len(devices) <= 100
    assert len(registry.parks[0].enterprises) == 8


def test_simulator_speaks_only_the_contract() -> None:
    """It may share the catalogue, never smartpark's storage or ingestion code."""
    for path in (ROOT / "simulator" / "smartpark_sim").glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)] + [
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
        ]
        assert not [
            n
            for n in names
            if n.startswith("smartpark.") and not n.startswith("smartpark.catalogue")
        ], path


def sim(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """`python -m smartpark_sim ARGS` (the simulator speaks only MQTT to smartpark)."""
    return subprocess.run([sys.executable, "-m", "smartpark_sim", *args], **kwargs)  # noqa: PLW1510 - callers pass check


COUNTER_DELTAS = """
SELECT device, metric, sum(CASE WHEN prev IS NULL THEN 0 WHEN value >= prev THEN value - prev ELSE value END)
FROM (SELECT device, metric, value, lag(value) OVER (PARTITION BY device, metric ORDER BY time) AS prev
      FROM reading_view) s
GROUP BY device, metric
"""


def test_a_backfilled_day_reconciles_exactly(
    mosquitto: Mosquitto, ingestor_factory: Any, tmp_path: Path
) -> None:
    with _registry_db(DEMO, tmp_path) as db:
        ingestor = ingestor_factory(db, mosquitto.url)
        manifest_path = tmp_path / "manifest.json"
        sim(
            "run",
            str(DEMO),
            "--broker",
            mosquitto.url,
            "--backfill",
            "-1d..now",
            "--manifest",
            str(manifest_path),
            check=True,
            capture_output=True,
        )
        manifest = orjson.loads(manifest_path.read_bytes())
        expected = manifest["expected"]
        wait_until(
            lambda: db.scalar("SELECT count(*) FROM reading") == expected["readings"], timeout=120
        )
        wait_until(
            lambda: db.scalar("SELECT count(*) FROM dead_letter") == expected["dead_letters"],
            timeout=30,
        )
        _reconcile(db, manifest)
        ingestor.stop()


def _reconcile(db: Database, manifest: dict[str, Any]) -> None:
    expected = manifest["expected"]
    assert (
        expected["readings"] > 150_000
        and expected["dead_letters"] == 16
        and expected["missing_seq"] == 20
    )
    counts = {
        (d, m): c
        for d, m, c in db.rows("SELECT device, metric, count(*) FROM reading_view GROUP BY 1, 2")
    }
    assert counts == {
        (d, m): t["count"]
        for d, dev in manifest["devices"].items()
        for m, t in dev["metrics"].items()
    }
    deltas = {(d, m): v for d, m, v in db.rows(COUNTER_DELTAS)}
    for device, dev in manifest["devices"].items():
        for metric, tally in dev["metrics"].items():
            if "counter_delta_sum" in tally:
                assert deltas[(device, metric)] == pytest.approx(
                    tally["counter_delta_sum"], rel=1e-9, abs=1e-6
                ), (device, metric)
    flags = {
        (d, m, f): c
        for d, m, f, c in db.rows(
            "SELECT device, metric, flag, count(*) FROM reading_view GROUP BY 1, 2, 3"
        )
    }
    assert flags == {
        (d, m, f): c
        for d, dev in manifest["devices"].items()
        for m, t in dev["metrics"].items()
        for f, c in t["flags"].items()
    }
    missing = dict(
        db.rows(
            "SELECT d.code, sum(e.seq_to - e.seq_from + 1 - e.filled)::int FROM data_quality_event e JOIN device d ON d.id = e.device_id "
            "WHERE e.kind = 'seq_gap' GROUP BY 1 HAVING sum(e.seq_to - e.seq_from + 1 - e.filled) > 0"
        )
    )
    assert missing == {
        d: sum(b - a + 1 for a, b in dev["seq_missing"])
        for d, dev in manifest["devices"].items()
        if dev["seq_missing"]
    }
    repeats = db.rows(
        "SELECT d.code, e.seq_from FROM data_quality_event e JOIN device d ON d.id = e.device_id "
        "WHERE e.kind = 'seq_repeat' ORDER BY 1, 2"
    )
    assert len(repeats) == expected["seq_repeats"] == 10, f"{repeats}"
    assert db.scalar("SELECT count(*) FROM data_quality_event WHERE kind = 'seq_reset'") == 0
    assert db.scalar("SELECT count(*) FROM reading_conflict") == 0
    statuses = [
        s
        for (s,) in db.rows(
            "SELECT e.status FROM device_status_event e JOIN device d ON d.id = e.device_id WHERE d.code = 'sl-pharma-wm-01' ORDER BY e.id"
        )
    ]
    assert statuses == ["online", "offline", "online"]


def _registry_db(scenario: Path, tmp_path: Path) -> Any:
    registry = tmp_path / f"{scenario.stem}-registry.yaml"
    out = sim("registry", str(scenario), capture_output=True, text=True, check=True)
    registry.write_text(out.stdout)
    return fresh_database(True, registry)


def test_accelerated_live_mode(mosquitto: Mosquitto, ingestor_factory: Any, tmp_path: Path) -> None:
    """--speed 600 --duration 10m: ten simulated minutes in about a second of real time."""
    with _registry_db(DEMO, tmp_path) as db:
        ingestor = ingestor_factory(db, mosquitto.url)
        manifest_path = tmp_path / "live.json"
        sim(
            "run",
            str(DEMO),
            "--broker",
            mosquitto.url,
            "--speed",
            "600",
            "--duration",
            "10m",
            "--manifest",
            str(manifest_path),
            check=True,
            capture_output=True,
            timeout=120,
        )
        manifest = orjson.loads(manifest_path.read_bytes())
        devices = [d for _, d in load_scenario(DEMO).devices()]
        per_minute = sum(1 for d in devices if d.interval == 60)
        # 10 simulated minutes: each one-minute device sends 10 messages (15-minute ones 0 or 1).
        sent = sum(d["messages"] for d in manifest["devices"].values())
        assert per_minute * 10 <= sent <= per_minute * 10 + len(devices) - per_minute
        wait_until(
            lambda: db.scalar("SELECT count(*) FROM reading") == manifest["expected"]["readings"],
            timeout=60,
        )
        ingestor.stop()


def test_broker_restart_during_a_backfill_loses_nothing(
    mosquitto: Mosquitto, ingestor_factory: Any, tmp_path: Path
) -> None:
    """Devices buffer while the broker is down and send after reconnecting; smartpark's
    session was persisted by the broker. Everything published arrives."""
    with _registry_db(DEMO, tmp_path) as db:
        ingestor = ingestor_factory(db, mosquitto.url, mqtt_client_id="sim-outage")
        manifest_path = tmp_path / "outage.json"
        sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "smartpark_sim",
                "run",
                str(DEMO),
                "--broker",
                mosquitto.url,
                "--backfill",
                "-12h..now",
                "--manifest",
                str(manifest_path),
            ],
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: db.scalar("SELECT count(*) FROM reading") > 10_000, timeout=60)
        mosquitto.restart()
        assert sim.wait(180) == 0
        manifest = orjson.loads(manifest_path.read_bytes())
        expected = manifest["expected"]
        wait_until(
            lambda: db.scalar("SELECT count(*) FROM reading") == expected["readings"], timeout=120
        )
        counts = {
            (d, m): c
            for d, m, c in db.rows(
                "SELECT device, metric, count(*) FROM reading_view GROUP BY 1, 2"
            )
        }
        assert counts == {
            (d, m): t["count"]
            for d, dev in manifest["devices"].items()
            for m, t in dev["metrics"].items()
        }
        assert db.scalar("SELECT count(*) FROM reading_conflict") == 0
        ingestor.stop()


def test_load_mode_reports_its_rate_and_reconciles(
    mosquitto: Mosquitto, ingestor_factory: Any, tmp_path: Path
) -> None:
    scenario = ROOT / "simulator" / "scenarios" / "load.yaml"
    with _registry_db(scenario, tmp_path) as db:
        ingestor = ingestor_factory(db, mosquitto.url)
        manifest_path = tmp_path / "load.json"
        out = sim(
            "load",
            str(scenario),
            "--broker",
            mosquitto.url,
            "--rate",
            "1000",
            "--duration",
            "3s",
            "--processes",
            "2",
            "--manifest",
            str(manifest_path),
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "msg/s achieved (target 1,000)" in out.stdout
        manifest = orjson.loads(manifest_path.read_bytes())
        assert manifest["load"]["messages"] == 3000
        assert manifest["expected"]["readings"] == 15000
        wait_until(lambda: db.scalar("SELECT count(*) FROM reading") == 15000, timeout=60)
        assert db.scalar("SELECT count(DISTINCT device) FROM reading_view") == 2000
        ingestor.stop()
