"""Checks and alerts on real TimescaleDB, with hand-computed expectations and the edges."""

from __future__ import annotations

import http.server
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import orjson
import psycopg
import pytest
from sqlalchemy.exc import IntegrityError

from smartpark.alerts.notify import dispatch, signature, webhook_sender
from smartpark.alerts.service import Targets, acknowledge
from smartpark.catalogue import load_catalogue
from smartpark.checks.config import parse_config
from smartpark.checks.runner import run_checks
from smartpark.errors import ConfigurationError
from smartpark.ingestion.types import Reading
from smartpark.storage.checks import save_config
from smartpark.storage.readings import Batch, store_batch
from smartpark.storage.registry import load_snapshot
from tests.services import Database

CATALOGUE = load_catalogue()
# 2026-11-27 is a whole local day in Asia/Shanghai: 2026-11-26T16:00Z .. 2026-11-27T16:00Z.
DAY_START = datetime(2026, 11, 26, 16, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)

CONFIG: dict[str, Any] = {
    "park": "qinba-demo",
    "validity": {
        "source": "HJ 75-2017",
        "min_valid_minutes_per_hour": 45,
        "min_valid_hours_per_day": 20,
        "valid_flags": ["N"],
        "air_oxygen_percent": 21,
    },
    "ratios": {
        "water_reuse": {
            "source": "MIIT RG4",
            "numerator": ["water.reused"],
            "denominator": ["water.reused", "water.intake"],
            "target": 0.9,
            "min_coverage": 0.9,
            "windows": ["day"],
        }
    },
    "outlets": [
        {
            "enterprise": "hz-steel",
            "outlet": "stack-1",
            "kind": "stack",
            "reference_o2": 6,
            "flow_metric": "emission.flow",
            "source": "GB 13223-2011",
            "limits": {"emission.so2": {"hourly": 35}},
        }
    ],
    "permits": [],
    "factors": [
        {
            "version": "T-1",
            "valid_from": "2026-01-01",
            "source": "test",
            "co2": {"energy.electricity.import": {"kg_co2_per_unit": 0.5, "source": "test"}},
        }
    ],
    "alerts": {"source": "test", "hold_minutes": 60, "hysteresis": 0.05},
}
TARGETS = Targets("smartpark", ("http://127.0.0.1:1/hook",))


def setup(db: Database, config: dict[str, Any] | None = None) -> dict[str, int]:
    parsed = parse_config(config or CONFIG, "test", set(CATALOGUE))
    with db.engine.begin() as conn:
        save_config(conn, "qinba-demo", parsed.model_dump(mode="json"), "test", None)
        snap = load_snapshot(conn)
    ids = {name: ref.id for name, ref in snap.metrics.items()}
    ids["cems"] = snap.devices[("qinba-demo", "hz-steel-cems-1")].id
    ids["meter"] = snap.devices[("qinba-demo", "hz-steel-wm-01")].id
    return ids


def store(db: Database, readings: list[Reading]) -> None:
    with psycopg.connect(db.url) as conn:
        store_batch(conn, Batch(readings=readings), DAY_START)


def cems_hour(
    ids: dict[str, int],
    start: datetime,
    so2: list[tuple[float, str]],
    o2: float = 9.0,
    minutes: int = 60,
) -> list[Reading]:
    """SO2 samples minute by minute from `start`, with O2 and flow for every minute."""
    out = [
        Reading(ids["cems"], ids["emission.so2"], start + i * MINUTE, v, f)
        for i, (v, f) in enumerate(so2)
    ]
    out += [
        Reading(ids["cems"], ids["emission.o2"], start + i * MINUTE, o2, "N")
        for i in range(minutes)
    ]
    out += [
        Reading(ids["cems"], ids["emission.flow"], start + i * MINUTE, 100_000.0, "N")
        for i in range(minutes)
    ]
    return out


def results(db: Database, check: str) -> list[tuple[Any, ...]]:
    return db.rows(
        "SELECT subject, window_start, status, value FROM check_result WHERE check_name = %s ORDER BY window_start",
        check,
    )


def test_hourly_concentration_edges(tsdb: Database) -> None:
    ids = setup(tsdb)
    h1 = DAY_START
    # Hour 1: 44 valid minutes far above the limit: not a valid hour, never compared.
    store(tsdb, cems_hour(ids, h1, [(100.0, "N")] * 44 + [(100.0, "C")] * 16))
    run_checks(tsdb.engine, h1 + HOUR + 5 * MINUTE, CATALOGUE, TARGETS)
    # Hour 2: 45 valid minutes at 28 mg/m3 and 9% O2: 28 x 15/12 = 35.0, exactly the limit;
    # 15 calibration minutes at 500 are ignored.
    store(tsdb, cems_hour(ids, h1 + HOUR, [(28.0, "N")] * 45 + [(500.0, "C")] * 15))
    run_checks(tsdb.engine, h1 + 2 * HOUR + 5 * MINUTE, CATALOGUE, TARGETS)
    rows = results(tsdb, "concentration.hourly.emission.so2")
    assert [(r[1], r[2]) for r in rows] == [(h1, "invalid"), (h1 + HOUR, "ok")]
    assert rows[1][3] == pytest.approx(35.0)
    assert tsdb.rows("SELECT rule, subject FROM alert") == []


def test_a_late_upload_turns_a_compliant_hour_into_an_exceedance(tsdb: Database) -> None:
    ids = setup(tsdb)
    hour = DAY_START + 3 * HOUR
    at = hour + HOUR + 5 * MINUTE
    store(tsdb, cems_hour(ids, hour, [(28.0, "N")] * 45))
    run_checks(tsdb.engine, at, CATALOGUE, TARGETS)
    assert results(tsdb, "concentration.hourly.emission.so2")[-1][2] == "ok"
    # The logger uploads its last 15 minutes late: (45 x 28 + 15 x 40) / 60 = 31.0, and
    # 31.0 x 15 / 12 = 38.75 > 35.
    store(
        tsdb,
        [
            Reading(ids["cems"], ids["emission.so2"], hour + (45 + i) * MINUTE, 40.0, "N")
            for i in range(15)
        ],
    )
    run_checks(tsdb.engine, at, CATALOGUE, TARGETS)  # `checks run --at` re-evaluates the window
    last = results(tsdb, "concentration.hourly.emission.so2")[-1]
    assert (last[2], last[3]) == ("violation", pytest.approx(38.75))
    assert tsdb.rows("SELECT rule, subject, state, severity FROM alert") == [
        ("concentration.hourly.emission.so2", "hz-steel/stack-1", "OPEN", "critical")
    ]
    assert (
        tsdb.scalar(
            "SELECT count(*) FROM check_result WHERE check_name = 'concentration.hourly.emission.so2'"
        )
        == 1
    )


def test_water_reuse_over_a_day_with_a_counter_reset(tsdb: Database) -> None:
    ids = setup(tsdb)
    meter, intake, reused = ids["meter"], ids["water.intake"], ids["water.reused"]
    readings = []
    value = 1000.0
    for h in range(-1, 24):
        t = DAY_START + h * HOUR
        if h == 12:
            value = 4.0  # meter replaced: 4 m3 since the new one started
        elif h >= 0:
            value += 10.0
        readings.append(Reading(meter, intake, t, value, "N"))
        readings.append(Reading(meter, reused, t, 5000.0 + 90.0 * (h + 1), "N"))
    store(tsdb, readings)
    run_checks(tsdb.engine, DAY_START + 24 * HOUR + 5 * MINUTE, CATALOGUE, TARGETS)
    # intake: 23 hours of +10 and the reset hour's 4 = 234; reused: 24 x 90 = 2160
    # reuse = 2160 / (2160 + 234) = 0.902255...
    row = tsdb.rows(
        "SELECT status, value, coverage, inputs->'numerator', inputs->'denominator' FROM check_result WHERE check_name = 'ratio.water_reuse.day' AND subject = 'hz-steel'"
    )
    assert row == [("ok", pytest.approx(2160 / 2394), 1.0, 2160.0, 2394.0)]


def test_ratio_with_half_a_day_of_data_says_so(tsdb: Database) -> None:
    ids = setup(tsdb)
    store(
        tsdb,
        [
            Reading(ids["meter"], m, DAY_START + h * HOUR, 10.0 * h, "N")
            for h in range(12)
            for m in (ids["water.intake"], ids["water.reused"])
        ],
    )
    run_checks(tsdb.engine, DAY_START + 24 * HOUR + 5 * MINUTE, CATALOGUE, TARGETS)
    assert tsdb.rows(
        "SELECT status, value, inputs->>'note' FROM check_result WHERE check_name = 'ratio.water_reuse.day' AND subject = 'hz-steel'"
    ) == [("insufficient_data", None, "data for 50% of the window, 90% needed")]


def test_alert_lifecycle_with_hysteresis_and_hold(tsdb: Database) -> None:
    ids = setup(tsdb)
    t0 = DAY_START
    levels = [40.0, 40.0, 27.0, 28.0, 26.0, 26.0]  # corrected x 1.25: 50, 50, 33.75, 35, 32.5, 32.5
    for i, level in enumerate(levels):
        store(tsdb, cems_hour(ids, t0 + i * HOUR, [(level, "N")] * 60))
    states = []
    for i in range(len(levels)):
        run_checks(tsdb.engine, t0 + (i + 1) * HOUR + 5 * MINUTE, CATALOGUE, TARGETS)
        states.append(tsdb.rows("SELECT state, clear_since IS NOT NULL FROM alert ORDER BY id"))
    # hour 3 (33.75) is under the limit but inside the 5% band (> 33.25): not clear yet;
    # hour 4 (35.0) is at the limit, still inside the band; hours 5-6 (32.5) are clear,
    # and an hour later (the 60-minute hold) the alert resolves.
    assert states == [
        [("OPEN", False)],
        [("OPEN", False)],
        [("OPEN", False)],
        [("OPEN", False)],
        [("OPEN", True)],
        [("RESOLVED", True)],
    ]
    assert [r[0] for r in tsdb.rows("SELECT to_state FROM alert_transition ORDER BY id")] == [
        "OPEN",
        "RESOLVED",
    ]
    # Each transition notifies over MQTT and the configured webhook.
    assert tsdb.rows("SELECT channel, payload->>'state' FROM outbox ORDER BY id") == [
        ("mqtt", "OPEN"),
        ("webhook", "OPEN"),
        ("mqtt", "RESOLVED"),
        ("webhook", "RESOLVED"),
    ]
    assert (
        tsdb.scalar("SELECT target FROM outbox WHERE channel = 'mqtt' LIMIT 1")
        == "smartpark/qinba-demo/alerts/hz-steel"
    )


def test_acknowledge_keeps_one_alert_and_records_who(tsdb: Database) -> None:
    ids = setup(tsdb)
    store(tsdb, cems_hour(ids, DAY_START, [(40.0, "N")] * 60))
    run_checks(tsdb.engine, DAY_START + HOUR + 5 * MINUTE, CATALOGUE, TARGETS)
    alert_id = tsdb.scalar("SELECT id FROM alert")
    with tsdb.engine.begin() as conn:
        acknowledge(conn, alert_id, "officer.li", "called the plant", DAY_START + 2 * HOUR)
    store(tsdb, cems_hour(ids, DAY_START + HOUR, [(40.0, "N")] * 60))
    run_checks(tsdb.engine, DAY_START + 2 * HOUR + 5 * MINUTE, CATALOGUE, TARGETS)
    assert tsdb.rows("SELECT state FROM alert") == [("ACKNOWLEDGED",)]
    assert tsdb.rows("SELECT from_state, to_state, by, note FROM alert_transition ORDER BY id") == [
        (
            None,
            "OPEN",
            "smartpark",
            tsdb.scalar(
                "SELECT message FROM alert_transition t JOIN alert a ON a.id = t.alert_id ORDER BY t.id LIMIT 1"
            ),
        ),
        ("OPEN", "ACKNOWLEDGED", "officer.li", "called the plant"),
    ]


def test_one_open_alert_per_rule_and_subject_is_enforced_by_the_database(tsdb: Database) -> None:
    setup(tsdb)
    insert = (
        "INSERT INTO alert (park_id, rule, subject, state, severity, message, opened_at, last_violation_at) "
        "VALUES ('qinba-demo', 'r', 's', 'OPEN', 'warning', 'm', now(), now())"
    )
    with tsdb.engine.begin() as conn:
        conn.exec_driver_sql(insert)
    with pytest.raises(IntegrityError), tsdb.engine.begin() as conn:
        conn.exec_driver_sql(insert)


def test_two_schedulers_evaluate_a_window_once(tsdb: Database) -> None:
    ids = setup(tsdb)
    store(tsdb, cems_hour(ids, DAY_START, [(40.0, "N")] * 60))
    at = DAY_START + HOUR + 5 * MINUTE
    barrier = threading.Barrier(2)
    summaries = []

    def scheduler(name: str) -> None:
        barrier.wait()
        summaries.append(run_checks(tsdb.engine, at, CATALOGUE, TARGETS, claim_as=name))

    threads = [threading.Thread(target=scheduler, args=(f"scheduler-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(s.skipped_parks for s in summaries) == [0, 1]
    assert tsdb.scalar("SELECT count(*) FROM check_run") == 1
    assert tsdb.scalar("SELECT count(*) FROM alert") == 1
    assert tsdb.scalar("SELECT count(*) FROM alert_transition") == 1


class Receiver(http.server.BaseHTTPRequestHandler):
    """A webhook receiver: answers 500 to the first `fail` requests, records the rest."""

    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    fail = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if Receiver.fail > 0:
            Receiver.fail -= 1
            self.send_response(500)
        else:
            Receiver.received.append((dict(self.headers), body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def test_a_crash_between_storing_an_alert_and_notifying_loses_nothing_and_sends_once(
    tsdb: Database,
) -> None:
    ids = setup(tsdb)
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    Receiver.received, Receiver.fail = [], 1
    try:
        store(tsdb, cems_hour(ids, DAY_START, [(40.0, "N")] * 60))
        # The evaluation commits the alert and its outbox rows; the process "crashes" before
        # any dispatcher runs. Nothing has been sent, nothing is lost.
        run_checks(
            tsdb.engine, DAY_START + HOUR + 5 * MINUTE, CATALOGUE, Targets("smartpark", (url,))
        )
        assert tsdb.scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 2
        published: list[tuple[str, bytes]] = []
        senders = {
            "webhook": webhook_sender("s3cret"),
            "mqtt": lambda topic, body, _id: published.append((topic, body)),
        }
        now = datetime.now(UTC)
        assert dispatch(tsdb.engine, senders, now) == 1  # MQTT went; the webhook answered 500
        assert tsdb.rows(
            "SELECT channel, attempts, last_error FROM outbox WHERE sent_at IS NULL"
        ) == [("webhook", 1, "HTTP Error 500: Internal Server Error")]
        assert dispatch(tsdb.engine, senders, now) == 0  # not due before its backoff
        assert dispatch(tsdb.engine, senders, now + timedelta(seconds=6)) == 1
        assert dispatch(tsdb.engine, senders, now + timedelta(hours=1)) == 0  # never twice
        assert len(published) == 1 and len(Receiver.received) == 1
        headers, body = Receiver.received[0]
        assert headers["X-Smartpark-Signature"] == signature("s3cret", body)
        payload = orjson.loads(body)
        assert (payload["state"], payload["rule"], payload["delivery_id"]) == (
            "OPEN",
            "concentration.hourly.emission.so2",
            int(headers["X-Smartpark-Delivery"]),
        )
    finally:
        server.shutdown()


def test_permit_pace_and_carbon(tsdb: Database) -> None:
    permit = {
        "enterprise": "hz-steel",
        "outlet": "stack-1",
        "pollutant": "emission.so2",
        "period": "month",
        "amount_t": 1.0,
        "source": "test permit",
    }
    ids = setup(tsdb, {**CONFIG, "permits": [permit], "carbon_budget_t": {"ak-food": 100.0}})
    # 10 hours at 28 mg/m3 (valid means) x 100,000 m3/h = 2.8 kg/h -> 28 kg in 10 hours.
    for h in range(10):
        store(tsdb, cems_hour(ids, DAY_START + h * HOUR, [(28.0, "N")] * 60))
    with tsdb.engine.connect() as conn:
        meter = load_snapshot(conn).devices[("qinba-demo", "ak-food-em-01")].id
    # An electricity counter read on the hour. The month so far ends at 10:00, so hours 0..9
    # count: 1,000 kWh in each of hours 1..9 (hour 0 has no earlier reading) = 9,000 kWh
    # x 0.5 kg/kWh = 4.5 t of CO2, in 10 hours with data.
    store(
        tsdb,
        [
            Reading(meter, ids["energy.electricity.import"], DAY_START + h * HOUR, 1000.0 * h, "N")
            for h in range(11)
        ],
    )
    run_checks(tsdb.engine, DAY_START + 10 * HOUR + 5 * MINUTE, CATALOGUE, TARGETS)
    row = tsdb.rows(
        "SELECT status, value, inputs->'hours_counted' FROM check_result WHERE check_name = 'permit.month.emission.so2'"
    )
    # November has 720 hours: 0.028 t in 10 of them projects 2.016 t against 1.0 t
    assert row == [("warning", pytest.approx(0.028), 10)]
    assert tsdb.scalar(
        "SELECT message FROM alert WHERE rule = 'permit.month.emission.so2'"
    ).endswith("(on pace for 2.0 t of 1.0 t)")
    carbon = tsdb.rows(
        "SELECT status, value, inputs->>'factor_version', inputs->>'note' FROM check_result WHERE check_name = 'carbon.month' AND subject = 'ak-food'"
    )
    # 4.5 t in 10 of 720 hours projects 324 t against a 100 t budget
    assert carbon == [("warning", pytest.approx(4.5), "T-1", "on pace for 324.0 t of 100.0 t")]


def test_bad_configuration_is_refused_naming_the_field() -> None:
    bad = {**CONFIG, "outlets": [{**CONFIG["outlets"][0], "reference_o2": None}]}
    with pytest.raises(
        ConfigurationError, match=r"outlets\.0: Value error, a stack outlet needs reference_o2"
    ):
        parse_config(bad, "cfg.yaml", set(CATALOGUE))
    bad = {**CONFIG, "ratios": {"water_reuse": {**CONFIG["ratios"]["water_reuse"], "target": 1.5}}}
    with pytest.raises(
        ConfigurationError,
        match=r"cfg\.yaml: ratios\.water_reuse\.target: Input should be less than or equal to 1",
    ):
        parse_config(bad, "cfg.yaml", set(CATALOGUE))
    bad = {k: v for k, v in CONFIG.items() if k != "validity"}
    with pytest.raises(ConfigurationError, match=r"cfg\.yaml: validity: Field required"):
        parse_config(bad, "cfg.yaml", set(CATALOGUE))


def test_mqtt_notification_reaches_a_subscriber(tsdb: Database, mosquitto: Any) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from smartpark.alerts.notify import MqttSender
    from smartpark.config import MqttEndpoint

    ids = setup(tsdb)
    received: list[bytes] = []
    subscribed = threading.Event()
    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="alert-watcher", protocol=paho.MQTTv5)
    sub.on_message = lambda _c, _u, m: received.append(m.payload)
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("smartpark/qinba-demo/alerts/#", qos=1)
    sub.loop_start()
    assert subscribed.wait(10)
    sender = MqttSender(MqttEndpoint.parse(mosquitto.url), "notify-test")
    try:
        store(tsdb, cems_hour(ids, DAY_START, [(40.0, "N")] * 60))
        run_checks(tsdb.engine, DAY_START + HOUR + 5 * MINUTE, CATALOGUE, Targets("smartpark"))
        assert dispatch(tsdb.engine, {"mqtt": sender}, datetime.now(UTC)) == 1
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not received and datetime.now(UTC) < deadline:
            threading.Event().wait(0.05)
        assert len(received) == 1
        assert orjson.loads(received[0])["subject"] == "hz-steel/stack-1"
    finally:
        sender.close()
        sub.disconnect()
        sub.loop_stop()


def test_cli_config_import_and_checks_run(tsdb: Database, tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    import yaml

    env = {**os.environ, "SMARTPARK_DATABASE_URL": tsdb.url}
    cli = [sys.executable, "-m", "smartpark"]
    good = tmp_path / "checks.yaml"
    good.write_text(yaml.safe_dump(CONFIG))
    out = subprocess.run(
        [*cli, "config", "import", str(good)], env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert (
        out.stdout.strip()
        == "configuration for qinba-demo: 1 ratio(s), 1 outlet(s), 0 permit(s), 1 factor set(s)"
    )
    wrong_park = tmp_path / "other.yaml"
    wrong_park.write_text(yaml.safe_dump({**CONFIG, "park": "nowhere"}))
    out = subprocess.run(
        [*cli, "config", "import", str(wrong_park)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2 and "park: no park 'nowhere' in the registry" in out.stderr
    with tsdb.engine.connect() as conn:
        snap = load_snapshot(conn)
    ids = {
        "cems": snap.devices[("qinba-demo", "hz-steel-cems-1")].id,
        **{n: m.id for n, m in snap.metrics.items()},
    }
    store(tsdb, cems_hour(ids, DAY_START, [(40.0, "N")] * 60))
    at = (DAY_START + HOUR + 5 * MINUTE).astimezone(ZoneInfo("Asia/Shanghai")).isoformat()
    out = subprocess.run(
        [*cli, "checks", "run", "--at", at], env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "1 alert(s) opened" in out.stdout and "0 park(s) already claimed" in out.stdout
    out = subprocess.run(
        [*cli, "checks", "run", "--at", "2026-11-27T09:05:00"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2 and "needs a UTC offset" in out.stderr


def test_two_scheduler_processes_evaluate_a_window_once(tsdb: Database) -> None:
    """Two processes claiming the same park-hour at the same moment: one evaluates."""
    import os
    import subprocess
    import sys

    ids = setup(tsdb)
    store(tsdb, cems_hour(ids, DAY_START, [(40.0, "N")] * 60))
    env = {**os.environ, "SMARTPARK_DATABASE_URL": tsdb.url}
    at = (DAY_START + HOUR + 5 * MINUTE).isoformat()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "smartpark",
                "checks",
                "run",
                "--at",
                at,
                "--claim-as",
                f"scheduler-{i}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert [p.returncode for p in procs] == [0, 0]
    endings = sorted(o.rsplit(",", 1)[1].strip() for o in outputs)
    assert endings == ["0 park(s) already claimed", "1 park(s) already claimed"]
    assert tsdb.scalar("SELECT count(*) FROM check_run") == 1
    assert tsdb.scalar("SELECT count(*) FROM alert") == 1
    assert tsdb.scalar("SELECT count(*) FROM alert_transition") == 1
