"""The routes behind the dashboard on real TimescaleDB: overview, rollups, check series,
device quality, alert history and live stream, configuration, evaluation runs, readiness."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from smartpark.api.health import components
from smartpark.checks.runner import run_checks
from smartpark.embedded.broker import free_port
from smartpark.evaluation.service import run_evaluation
from smartpark.ingestion.types import Reading
from smartpark.storage.health import beat
from smartpark.storage.rollups import refresh_all
from smartpark.web import STATIC
from tests.conftest import TOPIC
from tests.services import Publisher, running_api, wait_until
from tests.test_api import (
    api,  # noqa: F401  (the fixture)
    auth,
)
from tests.test_checks import CATALOGUE, CONFIG, DAY_START, HOUR, MINUTE, TARGETS, store

SPAN = {"start": "2026-11-27T00:00:00+08:00", "end": "2026-11-28T00:00:00+08:00"}


def test_parks_catalogue_and_overview(api: Any) -> None:  # noqa: F811
    client, db, tokens = api
    parks = client.get("/api/v1/parks", headers=auth(tokens, "viewer")).json()
    assert parks["items"] == [
        {"id": "qinba-demo", "name": "Qinba demo park", "timezone": "Asia/Shanghai"}
    ]
    catalogue = client.get("/api/v1/metrics-catalogue", headers=auth(tokens, "viewer")).json()
    assert len(catalogue["items"]) == 26
    assert catalogue["items"][0] == {
        "name": "emission.flow", "unit": "m3/h", "kind": "gauge",
        "description": "Flue-gas flow, dry, standard conditions",
    }  # fmt: skip
    body = client.get("/api/v1/parks/qinba-demo/overview", headers=auth(tokens, "viewer")).json()
    by_id = {e["id"]: e for e in body["enterprises"]}
    assert (by_id["hz-steel"]["devices"], by_id["hz-steel"]["open_alerts"]) == (2, 1)
    assert (by_id["hz-steel"]["critical_alerts"], by_id["ak-food"]["open_alerts"]) == (1, 1)
    assert body["open_alerts"] == 2
    assert body["ratios"] == []  # no water data yet
    _water(db)
    run_checks(db.engine, DAY_START + 24 * HOUR + 5 * MINUTE, CATALOGUE, TARGETS)
    body = client.get("/api/v1/parks/qinba-demo/overview", headers=auth(tokens, "viewer")).json()
    # 500 reused of 500 + 250 drawn, over 2 of 24 hours: too little data to judge.
    assert [
        (r["check"], r["subject"], r["status"], r["value"], r["limit"], r["coverage"])
        for r in body["ratios"]
    ] == [
        ("ratio.water_reuse.day", "hz-steel", "insufficient_data", None, 0.9, 2 / 24),
        ("ratio.water_reuse.day", "park", "insufficient_data", None, 0.9, 2 / 24),
    ]
    food = client.get("/api/v1/parks/qinba-demo/overview", headers=auth(tokens, "food")).json()
    assert [e["id"] for e in food["enterprises"]] == ["ak-food"]
    assert food["ratios"] == [] and food["open_alerts"] == 1
    assert (
        client.get("/api/v1/parks/other/overview", headers=auth(tokens, "viewer")).status_code
        == 404
    )


def _water(db: Any) -> None:
    ids = {
        name: db.scalar(f"SELECT id FROM metric WHERE name = '{name}'")
        for name in ("water.intake", "water.reused")
    }
    meter = db.scalar("SELECT id FROM device WHERE code = 'hz-steel-wm-01'")
    intake = [(0, 1000.0), (30, 1040.0), (60, 1100.0), (90, 1250.0)]
    reused = [(0, 0.0), (60, 500.0)]
    store(db, [Reading(meter, ids["water.intake"], DAY_START + m * MINUTE, v, "N") for m, v in intake]
          + [Reading(meter, ids["water.reused"], DAY_START + m * MINUTE, v, "N") for m, v in reused])  # fmt: skip
    with db.engine.begin() as conn:
        refresh_all(conn)


def test_rollups_by_hour_and_park_day(api: Any) -> None:  # noqa: F811
    client, db, tokens = api
    _water(db)
    params = {"metric": ["water.intake", "water.reused", "energy.gas"], "enterprise": "hz-steel"}
    day = client.get(
        "/api/v1/parks/qinba-demo/rollups", params=params | SPAN, headers=auth(tokens, "viewer")
    ).json()
    # Counter consumption from the first reading on: intake 40 + 60 + 150, reused 500.
    assert [(r["metric"], r["bucket"], r["consumed"]) for r in day["items"]] == [
        ("water.intake", "2026-11-27", 250.0),
        ("water.reused", "2026-11-27", 500.0),
    ]
    assert day["metrics"]["energy.gas"] == {
        "unit": "m3",
        "kind": "counter",
        "kgce_per_unit": 1.2143,
    }
    hours = client.get(
        "/api/v1/parks/qinba-demo/rollups",
        params=params | SPAN | {"period": "hour"},
        headers=auth(tokens, "viewer"),
    ).json()
    assert [(r["metric"], r["consumed"]) for r in hours["items"]] == [
        ("water.intake", 40.0), ("water.intake", 210.0), ("water.reused", 0.0),
        ("water.reused", 500.0),
    ]  # fmt: skip
    # An enterprise user asking for another enterprise gets nothing of it.
    other = client.get(
        "/api/v1/parks/qinba-demo/rollups", params=params | SPAN, headers=auth(tokens, "food")
    ).json()
    assert other["items"] == []
    unknown = client.get(
        "/api/v1/parks/qinba-demo/rollups",
        params={"metric": "water.nope"} | SPAN,
        headers=auth(tokens, "viewer"),
    )
    assert (unknown.status_code, unknown.json()["detail"]) == (422, "unknown metric(s): water.nope")
    too_long = client.get(
        "/api/v1/parks/qinba-demo/rollups",
        params={"metric": "water.intake", "period": "hour",
                "start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        headers=auth(tokens, "viewer"),
    )  # fmt: skip
    assert too_long.status_code == 422 and "more than 10000 points" in too_long.json()["detail"]


def test_check_series_value_against_limit(api: Any) -> None:  # noqa: F811
    client, _, tokens = api
    body = client.get(
        "/api/v1/parks/qinba-demo/check-series",
        params={"check": "concentration.hourly."} | SPAN,
        headers=auth(tokens, "viewer"),
    ).json()
    # 40 mg/m3 at 9 % O2, corrected to 6 %: 40 * 15 / 12 = 50 against 35.
    assert [(r["subject"], r["status"], r["value"], r["limit"]) for r in body["items"]] == [
        ("hz-steel/stack-1", "violation", 50.0, 35.0)
    ]
    food = client.get(
        "/api/v1/parks/qinba-demo/check-series",
        params={"check": "concentration."} | SPAN,
        headers=auth(tokens, "food"),
    ).json()
    assert food["items"] == []
    # A LIKE wildcard in the prefix is taken literally.
    wild = client.get(
        "/api/v1/parks/qinba-demo/check-series",
        params={"check": "%"} | SPAN,
        headers=auth(tokens, "viewer"),
    ).json()
    assert wild["items"] == []


def test_device_quality_events(api: Any) -> None:  # noqa: F811
    client, db, tokens = api
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO data_quality_event (device_id, kind, detected_at, seq_from, seq_to, filled) "
            "SELECT id, 'seq_gap', now(), 10, 14, 2 FROM device WHERE code = 'hz-steel-cems-1'"
        )
    devices = client.get("/api/v1/parks/qinba-demo/devices", headers=auth(tokens, "viewer"))
    cems = next(d for d in devices.json()["items"] if d["id"] == "hz-steel-cems-1")
    assert cems["quality_events"] == {"seq_gap": 1}
    url = "/api/v1/parks/qinba-demo/devices/hz-steel-cems-1/quality-events"
    events = client.get(url, headers=auth(tokens, "viewer")).json()["items"]
    assert [(e["kind"], e["seq_from"], e["seq_to"], e["filled"]) for e in events] == [
        ("seq_gap", 10, 14, 2)
    ]
    hidden = client.get(url, headers=auth(tokens, "food"))
    assert (hidden.status_code, hidden.json()["detail"]) == (404, "no device 'hz-steel-cems-1'")


def test_alert_history_and_comments(api: Any) -> None:  # noqa: F811
    client, db, tokens = api
    alert_id = db.scalar("SELECT id FROM alert WHERE enterprise = 'hz-steel'")
    url = f"/api/v1/alerts/{alert_id}"
    assert (
        client.post(
            url + "/comment", json={"note": "x"}, headers=auth(tokens, "viewer")
        ).status_code
        == 403
    )
    empty = client.post(url + "/comment", json={}, headers=auth(tokens, "operator"))
    assert (empty.status_code, empty.json()["detail"]) == (422, "note: a comment needs text")
    done = client.post(
        url + "/comment", json={"note": "stack team informed"}, headers=auth(tokens, "operator")
    )
    assert done.status_code == 201
    alert = client.get(url, headers=auth(tokens, "viewer")).json()
    assert alert["state"] == "OPEN"
    assert [(t["from_state"], t["to_state"], t["by"], t["note"]) for t in alert["history"]] == [
        (
            None,
            "OPEN",
            "smartpark",
            "concentration.hourly.emission.so2 hz-steel/stack-1: violation, 50 against 35",
        ),
        ("OPEN", "OPEN", "operator", "stack team informed"),
    ]
    assert client.get(url, headers=auth(tokens, "food")).status_code == 404


def test_dead_letter_detail_is_for_park_admins(api: Any) -> None:  # noqa: F811
    client, db, tokens = api
    dead = db.scalar("SELECT id FROM dead_letter")
    body = client.get(f"/api/v1/dead-letters/{dead}", headers=auth(tokens, "admin")).json()
    assert (body["topic"], body["reason"], body["payload"]) == ("t", "bad", "\ufffd{")
    assert (
        client.get(f"/api/v1/dead-letters/{dead}", headers=auth(tokens, "operator")).status_code
        == 403
    )
    assert (
        client.get("/api/v1/dead-letters/999999", headers=auth(tokens, "admin")).status_code == 404
    )


def test_configuration_versions(api: Any) -> None:  # noqa: F811
    client, _, tokens = api
    url = "/api/v1/parks/qinba-demo/config"
    current = client.get(url, headers=auth(tokens, "viewer")).json()
    assert (
        current["in_force"]
        and current["body"]["outlets"][0]["limits"]["emission.so2"]["hourly"] == 35
    )
    first = current["version"]
    stricter = {
        **CONFIG,
        "ratios": {"water_reuse": {**CONFIG["ratios"]["water_reuse"], "target": 0.95}},
    }
    assert client.put(url, json=stricter, headers=auth(tokens, "operator")).status_code == 403
    bad = client.put(
        url,
        json={**stricter, "ratios": {"water_reuse": {"target": 2}}},
        headers=auth(tokens, "admin"),
    )
    assert bad.status_code == 422 and bad.json()["detail"].startswith("body: ratios.water_reuse.")
    wrong = client.put(url, json={**stricter, "park": "elsewhere"}, headers=auth(tokens, "admin"))
    assert (wrong.status_code, wrong.json()["detail"]) == (
        422, "park: the document must name this park ('qinba-demo')",
    )  # fmt: skip
    unknown = {
        **CONFIG,
        "ratios": {"x": {**CONFIG["ratios"]["water_reuse"], "numerator": ["nope"]}},
    }
    named = client.put(url, json=unknown, headers=auth(tokens, "admin"))
    assert (named.status_code, named.json()["detail"]) == (
        422,
        "body: ratios.x: unknown metric 'nope'",
    )
    stored = client.put(url, json=stricter, headers=auth(tokens, "admin")).json()
    assert (stored["version"], stored["imported_by"], stored["in_force"]) == (
        first + 1,
        "admin",
        True,
    )
    assert (
        client.get(url, headers=auth(tokens, "viewer")).json()["body"]["ratios"]["water_reuse"][
            "target"
        ]
        == 0.95
    )
    versions = client.get(url + "/versions", headers=auth(tokens, "viewer")).json()["items"]
    assert [v["version"] for v in versions] == [first + 1, first]
    old = client.get(f"{url}/versions/{first}", headers=auth(tokens, "viewer")).json()
    assert (old["in_force"], old["body"]["ratios"]["water_reuse"]["target"]) == (False, 0.9)
    assert client.get(f"{url}/versions/999999", headers=auth(tokens, "viewer")).status_code == 404


def test_evaluation_run_through_the_api(api: Any) -> None:  # noqa: F811
    client, _, tokens = api
    url = "/api/v1/parks/qinba-demo/evaluations"
    assert (
        client.post(url, json={"period": "2026-11"}, headers=auth(tokens, "viewer")).status_code
        == 403
    )
    bad = client.post(url, json={"period": "Nov 2026"}, headers=auth(tokens, "operator"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.period"
    other = client.post(
        url, json={"period": "2026-11", "enterprise": "hz-steel"}, headers=auth(tokens, "food")
    )
    assert (other.status_code, other.json()["detail"]) == (403, "you may evaluate ak-food only")
    missing = client.post(
        url, json={"period": "2026-11", "enterprise": "nope"}, headers=auth(tokens, "operator")
    )
    assert missing.status_code == 404
    made = client.post(url, json={"period": "2026-11"}, headers=auth(tokens, "operator"))
    assert made.status_code == 201
    body = made.json()
    # One violation (the SO2 hour) fails the basic requirements: the index is withheld.
    assert (body["period_label"], body["gate_passed"], body["green_index"]) == (
        "2026-11",
        False,
        None,
    )
    listed = client.get(url, headers=auth(tokens, "viewer")).json()["items"]
    assert [e["id"] for e in listed] == [body["id"]]


def test_readiness_reports_broker_and_scheduler(api: Any) -> None:  # noqa: F811
    client, db, _ = api
    now = datetime.now(UTC)
    with db.engine.begin() as conn:
        beat(conn, "ingestor", "a:1", {"broker_connected": True, "queue_depth": 0}, now)
        beat(conn, "scheduler", "b:2", {"running": True}, now - timedelta(minutes=5))
    body = client.get("/readyz").json()
    assert (body["status"], body["broker"]["state"]) == ("degraded", "connected")
    assert body["scheduler"]["state"] == "no scheduler reporting"  # its beat is stale
    with db.engine.begin() as conn:
        beat(conn, "scheduler", "b:2", {"running": True}, now)
    assert client.get("/readyz").json()["status"] == "ready"
    # Pure: a disconnected ingestor and a stopped scheduler.
    beats = [
        {"kind": "ingestor", "instance": "x", "state": {"broker_connected": False}, "beat_at": now},
        {"kind": "scheduler", "instance": "y", "state": {"running": False}, "beat_at": now},
    ]
    state = components(beats, now, timedelta(seconds=30))
    assert (state["broker"]["state"], state["scheduler"]["state"], state["ok"]) == (
        "disconnected", "stopped", False,
    )  # fmt: skip
    # Connected, but its writer thread died: the process is about to exit; not ready.
    failed = {"broker_connected": True, "writer_alive": False}
    beats[0] = {"kind": "ingestor", "instance": "x", "state": failed, "beat_at": now}
    beats[1]["state"] = {"running": True}
    state = components(beats, now, timedelta(seconds=30))
    assert (state["broker"]["state"], state["ok"]) == ("writer failed", False)


def _events(url: str, token: str, out: list[tuple[str, str]], stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.stream("GET", url, headers=headers, timeout=30) as response:
            event = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    out.append((event, line[6:]))
                if stop.is_set():
                    return
    except httpx.TransportError:
        return  # the server stopped at the end of the test


def test_alert_changes_arrive_live_and_scoped(api: Any) -> None:  # noqa: F811
    _, db, tokens = api
    with running_api(db.engine) as base:
        url = base + "/api/v1/parks/qinba-demo/alerts/stream"
        streams: dict[str, list[tuple[str, str]]] = {"viewer": [], "food": []}
        stop = threading.Event()
        threads = [
            threading.Thread(target=_events, args=(url, tokens[w], streams[w], stop), daemon=True)
            for w in streams
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while not all(streams.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [e for e, _ in streams["viewer"]] == ["ready"]
        steel = db.scalar("SELECT id FROM alert WHERE enterprise = 'hz-steel'")
        response = httpx.post(
            f"{base}/api/v1/alerts/{steel}/acknowledge",
            json={"note": "on it"}, headers=auth(tokens, "operator"),
        )  # fmt: skip
        assert response.status_code == 200
        while len(streams["viewer"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        event, data = streams["viewer"][1]
        assert event == "alert"
        assert re.search(r'"to_state":"ACKNOWLEDGED"', data) and f'"id":{steel},' in data
        # The food operator's stream never carries the steel works' alert.
        assert [e for e, _ in streams["food"]] == ["ready"]
        unauthorised = httpx.get(url, timeout=5)
        assert unauthorised.status_code == 401


def test_the_dashboard_ships_every_asset_itself(api: Any) -> None:  # noqa: F811
    client, _, _ = api
    page = client.get("/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert sorted(assets) == ["/static/app.css", "/static/app.js"]
    for path in STATIC.iterdir():
        text = path.read_text("utf-8")
        # No asset loads anything from another origin (the SVG namespace is a name, not a load).
        assert re.findall(r"https?://(?!www\.w3\.org/2000/svg)", text) == [], path.name
        assert client.get(f"/static/{path.name}").status_code == 200


def test_a_value_the_database_refuses_is_the_callers_error(api: Any) -> None:  # noqa: F811
    client, _, _ = api
    nul = client.post("/api/v1/login", json={"username": "a\x00b", "password": "x"})
    assert nul.status_code == 422
    assert nul.json()["detail"] == (
        "a value cannot be stored or compared: PostgreSQL text fields cannot contain NUL (0x00) bytes"
    )


def test_every_route_keeps_an_enterprise_user_in_their_enterprise(api: Any) -> None:  # noqa: F811
    """Every GET route of the OpenAPI document, asked by the food operator about the steel
    works' objects, answers without a trace of the steel works (a park-wide viewer sees it)."""
    client, db, tokens = api
    _water(db)
    with db.engine.begin() as conn:
        run_evaluation(conn, "qinba-demo", "2026-11", datetime.now(UTC), "hz-steel")
    params = {
        "{park}": "qinba-demo", "{device}": "hz-steel-cems-1", "{fmt}": "json", "{version}": "1",
        "{alert_id}": str(db.scalar("SELECT id FROM alert WHERE enterprise = 'hz-steel'")),
        "{evaluation_id}": str(db.scalar("SELECT id FROM evaluation WHERE enterprise = 'hz-steel'")),
        "{dead_letter_id}": str(db.scalar("SELECT id FROM dead_letter")),
    }  # fmt: skip
    query = {
        "device": "hz-steel-cems-1", "metric": ["emission.so2", "water.intake"],
        "enterprise": "hz-steel", "check": "concentration.", **SPAN,
    }  # fmt: skip
    schema = client.get("/api/v1/openapi.json", headers=auth(tokens, "viewer")).json()["paths"]
    checked = {}
    for template, methods in schema.items():
        if (
            "get" not in methods
            or not template.startswith("/api/v1")
            or template.endswith("/stream")
        ):
            continue
        path = template
        for key, value in params.items():
            path = path.replace(key, value)
        names = {p["name"] for p in methods["get"].get("parameters", []) if p["in"] == "query"}
        wanted = {
            k: v for k, v in query.items() if k in names or (k in ("start", "end") and k in names)
        }
        food = client.get(path, params=wanted, headers=auth(tokens, "food"))
        viewer = client.get(path, params=wanted, headers=auth(tokens, "viewer"))
        assert food.status_code in (200, 403, 404), (template, food.status_code, food.text)
        # A 404 or 403 says no more than the problem (it may echo the id that was asked for).
        assert food.status_code != 200 or "hz-steel" not in food.text, template
        checked[template] = (food.status_code, "hz-steel" in viewer.text)
    # The routes that are about the steel works show it to a park-wide viewer and hide it from
    # the food operator (404 for an object, 403 for park-wide administration, else filtered).
    assert checked["/api/v1/alerts/{alert_id}"] == (404, True)
    assert checked["/api/v1/evaluations/{evaluation_id}/report.{fmt}"] == (404, True)
    assert checked["/api/v1/parks/{park}/devices/{device}/quality-events"] == (404, False)
    assert checked["/api/v1/dead-letters"][0] == 403
    assert checked["/api/v1/parks/{park}/rollups"] == (200, False)  # no steel in the body keys
    assert checked["/api/v1/parks/{park}/check-series"] == (200, True)
    assert checked["/api/v1/parks/{park}/overview"] == (200, True)
    assert checked["/api/v1/parks/{park}/config"] == (200, True)  # its own outlets only
    assert len(checked) == 22


def test_serve_runs_every_component_against_configured_services(
    tsdb: Any, mosquitto: Any, tmp_path: Path
) -> None:
    """`smartpark serve`: refuses to start without configured services; with them, ingests,
    schedules and serves (readiness says so), and exits 0 on SIGTERM."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SMARTPARK_")}
    refused = subprocess.run(
        [sys.executable, "-m", "smartpark", "serve"], env=base | {"SMARTPARK_DATA_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "set SMARTPARK_DATABASE_URL and SMARTPARK_MQTT_URL" in refused.stderr
    port = free_port()
    env = base | {"SMARTPARK_DATABASE_URL": tsdb.url, "SMARTPARK_MQTT_URL": mosquitto.url,
                  "SMARTPARK_HEARTBEAT_INTERVAL": "0.5", "SMARTPARK_MQTT_CLIENT_ID": "serve-test"}  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "smartpark", "serve", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        ready: dict[str, Any] = {}

        def is_ready() -> bool:
            nonlocal ready
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()
            except httpx.TransportError:
                return False
            return bool(ready.get("status") == "ready")

        wait_until(is_ready, 30)
        assert (ready["broker"]["state"], ready["scheduler"]["state"]) == ("connected", "running")
        publisher = Publisher(mosquitto.url)
        payload = {"ts": "2026-11-29T08:00:00+08:00", "seq": 1,
                   "readings": [{"metric": "water.intake", "value": 12.5}]}  # fmt: skip
        publisher.publish(TOPIC, orjson.dumps(payload))
        publisher.close()
        wait_until(lambda: tsdb.scalar("SELECT count(*) FROM reading") == 1, 20)
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
        # A clean stop removes the components' heartbeats: nothing is reported as running.
        assert tsdb.scalar("SELECT count(*) FROM component_heartbeat") == 0
    finally:
        if server.poll() is None:
            server.kill()
