"""The REST API on real TimescaleDB: authentication, roles, enterprise scoping, problems."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smartpark.api.app import create_app
from smartpark.api.security import hash_password, new_secret
from smartpark.checks.runner import run_checks
from smartpark.storage.users import add_credential, create_user
from tests.services import Database
from tests.test_checks import CATALOGUE, DAY_START, HOUR, MINUTE, TARGETS, cems_hour, setup, store

PASSWORD = "correct horse battery"
USERS = {
    "admin": ("admin", None), "operator": ("operator", None), "viewer": ("viewer", None),
    "food": ("operator", "ak-food"),
}  # fmt: skip


def populate(tsdb: Database) -> dict[str, str]:
    """The test park with an SO2 alert, a silent-device alert, a dead letter and a user of
    each role (and an enterprise operator); returns their API tokens."""
    ids = setup(tsdb)
    store(tsdb, cems_hour(ids, DAY_START, [(40.0, "N")] * 60))
    run_checks(tsdb.engine, DAY_START + HOUR + 5 * MINUTE, CATALOGUE, TARGETS)  # an hz-steel alert
    tokens = {}
    with tsdb.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO alert (park_id, enterprise, rule, subject, state, severity, message, opened_at, last_violation_at) "
            "VALUES ('qinba-demo', 'ak-food', 'health.silent', 'ak-food-em-01', 'OPEN', 'warning', 'silent', now(), now())"
        )
        conn.exec_driver_sql(
            "INSERT INTO dead_letter (received_at, topic, park_id, reason, payload, payload_size, "
            "payload_sha256, rejections, rejected, readings) VALUES (now(), 't', 'qinba-demo', "
            "'bad', '\\xff7b'::bytea, 2, 'x', '[]', 1, 0)"
        )
        for name, (role, enterprise) in USERS.items():
            user_id = create_user(
                conn,
                {
                    "username": name,
                    "password_hash": hash_password(PASSWORD),
                    "role": role,
                    "park": "qinba-demo",
                    "enterprise": enterprise,
                },
            )
            secret, hashed = new_secret()
            add_credential(conn, user_id, hashed, "token", "test", None)
            tokens[name] = secret
    return tokens


@pytest.fixture
def api(tsdb: Database) -> Iterator[tuple[TestClient, Database, dict[str, str]]]:
    tokens = populate(tsdb)
    with TestClient(create_app(tsdb.engine)) as client:
        yield client, tsdb, tokens


def auth(tokens: dict[str, str], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


def test_nothing_but_health_and_login_answers_without_authentication(api: Any) -> None:
    client, _, _ = api
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert (ready["status"], ready["database"]) == ("degraded", "ok")
    assert ready["broker"]["state"] == "no ingestor reporting"
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/api/v1/openapi.json").status_code == 401
    schema = client.get("/api/v1/openapi.json", headers=auth(api[2], "viewer")).json()["paths"]
    routes = [
        (path, method.upper())
        for path, methods in schema.items()
        for method in methods
        if path.startswith("/api/v1") and path != "/api/v1/login"
    ]
    assert len(routes) == 31
    for path, method in routes:
        concrete = (
            path.replace("{park}", "qinba-demo")
            .replace("{alert_id}", "1")
            .replace("{evaluation_id}", "1")
            .replace("{dead_letter_id}", "1")
            .replace("{device}", "hz-steel-cems-1")
            .replace("{version}", "1")
            .replace("{fmt}", "json")
        )
        response = client.request(method, concrete, json={})
        assert response.status_code == 401, (method, path)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "Unauthorized"


def test_login_session_and_logout(api: Any) -> None:
    client, _, _ = api
    bad = client.post("/api/v1/login", json={"username": "viewer", "password": "nope"})
    assert (bad.status_code, bad.json()["detail"]) == (401, "unknown username or wrong password")
    ok = client.post("/api/v1/login", json={"username": "viewer", "password": PASSWORD})
    assert ok.status_code == 200 and "httponly" in ok.headers["set-cookie"].lower()
    assert client.get("/api/v1/me").json() == {
        "username": "viewer",
        "role": "viewer",
        "park": "qinba-demo",
        "enterprise": None,
    }
    assert client.post("/api/v1/logout").status_code == 204
    assert client.get("/api/v1/me").status_code == 401


def test_roles(api: Any) -> None:
    client, db, tokens = api
    alert_id = db.scalar("SELECT id FROM alert WHERE enterprise = 'hz-steel'")
    denied = client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge", json={"note": "x"}, headers=auth(tokens, "viewer")
    )
    assert (denied.status_code, denied.json()["detail"]) == (
        403,
        "this needs the operator role; you are viewer",
    )
    done = client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge",
        json={"note": "on it"},
        headers=auth(tokens, "operator"),
    )
    assert done.json() == {"id": alert_id, "state": "ACKNOWLEDGED"}
    again = client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge", json={}, headers=auth(tokens, "operator")
    )
    assert (
        again.status_code == 409
        and "only an OPEN alert can be acknowledged" in again.json()["detail"]
    )
    assert db.rows("SELECT by, note FROM alert_transition WHERE to_state = 'ACKNOWLEDGED'") == [
        ("operator", "on it")
    ]
    assert client.get("/api/v1/dead-letters", headers=auth(tokens, "operator")).status_code == 403
    letters = client.get("/api/v1/dead-letters", headers=auth(tokens, "admin")).json()
    assert letters["total"] == 1 and letters["items"][0]["payload"] == "\ufffd{"


def test_an_enterprise_user_sees_only_their_enterprise(api: Any) -> None:
    client, db, tokens = api
    food = auth(tokens, "food")
    assert [
        e["id"]
        for e in client.get("/api/v1/parks/qinba-demo/enterprises", headers=food).json()["items"]
    ] == ["ak-food"]
    assert {
        d["enterprise"]
        for d in client.get("/api/v1/parks/qinba-demo/devices", headers=food).json()["items"]
    } == {"ak-food"}
    alerts = client.get("/api/v1/parks/qinba-demo/alerts", headers=food).json()
    assert [a["enterprise"] for a in alerts["items"]] == ["ak-food"] and alerts["total"] == 1
    park_wide = client.get("/api/v1/parks/qinba-demo/alerts", headers=auth(tokens, "viewer")).json()
    assert park_wide["total"] == 2
    steel_alert = db.scalar("SELECT id FROM alert WHERE enterprise = 'hz-steel'")
    assert (
        client.post(f"/api/v1/alerts/{steel_alert}/resolve", json={}, headers=food).status_code
        == 404
    )
    assert (
        client.get("/api/v1/parks/other-park/devices", headers=auth(tokens, "admin")).status_code
        == 404
    )
    assert client.get("/api/v1/dead-letters", headers=food).status_code == 403


def test_filters_pagination_and_validation_problems(api: Any) -> None:
    client, _, tokens = api
    viewer = auth(tokens, "viewer")
    page = client.get("/api/v1/parks/qinba-demo/alerts?limit=1&offset=1", headers=viewer).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (2, 1, 1, 1)
    critical = client.get(
        "/api/v1/parks/qinba-demo/alerts?severity=critical", headers=viewer
    ).json()
    assert [a["rule"] for a in critical["items"]] == ["concentration.hourly.emission.so2"]
    too_many = client.get("/api/v1/parks/qinba-demo/alerts?limit=501", headers=viewer)
    assert (
        too_many.status_code == 422
        and too_many.headers["content-type"] == "application/problem+json"
    )
    assert too_many.json()["errors"] == [
        {"field": "query.limit", "message": "Input should be less than or equal to 500"}
    ]
    bad_state = client.get("/api/v1/parks/qinba-demo/alerts?state=SLEEPING", headers=viewer)
    assert bad_state.status_code == 422 and "query.state" in bad_state.json()["detail"]


def test_inputs_through_the_api_are_validated_scoped_and_kept_with_who(api: Any) -> None:
    client, db, tokens = api
    entry = {
        "enterprise": "ak-food",
        "period": "2026-11",
        "key": "industrial_value_added",
        "value": 1200,
        "unit": "10k CNY",
    }
    assert (
        client.post(
            "/api/v1/parks/qinba-demo/inputs", json=entry, headers=auth(tokens, "viewer")
        ).status_code
        == 403
    )
    created = client.post(
        "/api/v1/parks/qinba-demo/inputs", json=entry, headers=auth(tokens, "food")
    )
    assert created.status_code == 201 and created.json()["entered_by"] == "food"
    other = client.post(
        "/api/v1/parks/qinba-demo/inputs",
        json=entry | {"enterprise": "hz-steel"},
        headers=auth(tokens, "food"),
    )
    assert (other.status_code, other.json()["detail"]) == (
        403,
        "you may enter inputs for ak-food only",
    )
    wrong = client.post(
        "/api/v1/parks/qinba-demo/inputs",
        json=entry | {"unit": "CNY"},
        headers=auth(tokens, "operator"),
    )
    assert (wrong.status_code, wrong.json()["detail"]) == (
        422,
        "unit: industrial_value_added is entered in '10k CNY', not 'CNY'",
    )
    listed = client.get("/api/v1/parks/qinba-demo/inputs", headers=auth(tokens, "viewer")).json()
    assert [(i["enterprise"], i["key"], i["value"], i["entered_by"]) for i in listed["items"]] == [
        ("ak-food", "industrial_value_added", 1200.0, "food")
    ]
    assert db.scalar("SELECT period_start::text FROM periodic_input") == "2026-11-01"


def test_prometheus_metrics(api: Any) -> None:
    from smartpark.ingestion.stats import IngestStats

    client, db, tokens = api
    assert client.get("/metrics").status_code == 401
    text = client.get("/metrics", headers=auth(tokens, "viewer")).text
    assert 'smartpark_alerts{severity="critical",state="OPEN"} 1.0' in text
    assert 'smartpark_alerts{severity="warning",state="OPEN"} 1.0' in text
    assert "smartpark_dead_letters 1.0" in text
    assert "smartpark_check_run_seconds_count" in text
    with TestClient(
        create_app(db.engine, IngestStats(messages=5, inserted=25, queue_depth=3))
    ) as with_ingestor:
        text = with_ingestor.get("/metrics", headers=auth(tokens, "viewer")).text
    assert (
        "smartpark_ingest_messages_total 5.0" in text
        and "smartpark_ingest_readings_inserted_total 25.0" in text
    )
    assert "smartpark_ingest_queue_depth 3.0" in text


def test_reprocess_a_dead_letter_after_registering_the_device(api: Any) -> None:
    from datetime import UTC, datetime, timedelta

    import orjson

    from smartpark.registry.schema import parse_registry
    from smartpark.storage.registry import import_registry
    from tests.test_checks import CATALOGUE

    client, db, tokens = api
    ts = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    payload = orjson.dumps(
        {
            "ts": ts.isoformat(),
            "readings": [
                {"metric": "water.intake", "value": 3.5},
                {
                    "metric": "water.intake",
                    "value": 1,
                    "flag": "Z",
                    "ts": (ts + timedelta(minutes=1)).isoformat(),
                },
            ],
        }
    )
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO dead_letter (received_at, topic, park_id, reason, payload, payload_size, "
            "payload_sha256, rejections, rejected, readings) "
            "VALUES (%s, %s, 'qinba-demo', %s, %s, %s, 'x', '[]', 1, 0)",
            (
                ts,
                "smartpark/qinba-demo/hz-steel/new-meter-01/telemetry",
                "unknown device 'new-meter-01' in park 'qinba-demo'",
                payload,
                len(payload),
            ),
        )
        dead_id = conn.exec_driver_sql("SELECT max(id) FROM dead_letter").scalar()
    admin = auth(tokens, "admin")
    unchanged = client.post(f"/api/v1/dead-letters/{dead_id}/reprocess", headers=admin).json()
    assert unchanged["inserted"] == 0 and unchanged["still_failing"] == [
        "unknown device 'new-meter-01' in park 'qinba-demo'"
    ]
    # The registry fix, then the reprocess of the new dead letter it left.
    doc = {
        "parks": [
            {
                "id": "qinba-demo",
                "name": "Qinba",
                "enterprises": [
                    {
                        "id": "hz-steel",
                        "name": "Hanzhong Steel",
                        "devices": [
                            {
                                "id": "new-meter-01",
                                "kind": "water_meter",
                                "metrics": ["water.intake"],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    with db.engine.begin() as conn:
        import_registry(conn, parse_registry(doc, set(CATALOGUE), "fix"), "Asia/Shanghai")
    latest = db.scalar("SELECT max(id) FROM dead_letter")
    assert (
        client.post(f"/api/v1/dead-letters/{dead_id}/reprocess", headers=admin).status_code == 404
    )  # done already
    fixed = client.post(f"/api/v1/dead-letters/{latest}/reprocess", headers=admin).json()
    assert fixed == {
        "dead_letters_closed": 1,
        "inserted": 1,
        "duplicates": 0,
        "still_failing": ["flag 'Z' of water.intake is not one of N F M S D C T B"],
    }
    assert db.rows("SELECT value FROM reading_view WHERE device = 'new-meter-01'") == [(3.5,)]
    assert (
        db.scalar(
            "SELECT count(*) FROM dead_letter WHERE reprocessed_at IS NULL AND topic LIKE '%%new-meter-01%%'"
        )
        == 1
    )
    assert (
        client.post(
            f"/api/v1/dead-letters/{latest}/reprocess", headers=auth(tokens, "operator")
        ).status_code
        == 403
    )


def test_check_results_with_their_inputs(api: Any) -> None:
    client, _, tokens = api
    viewer = auth(tokens, "viewer")
    results = client.get(
        "/api/v1/parks/qinba-demo/check-results?check=concentration.&status=violation",
        headers=viewer,
    ).json()
    assert results["total"] == 1
    (item,) = results["items"]
    assert (item["check"], item["subject"], item["value"], item["limit"]) == (
        "concentration.hourly.emission.so2",
        "hz-steel/stack-1",
        50.0,
        35.0,
    )
    assert item["inputs"]["limit_source"] == "GB 13223-2011"
    assert (
        client.get("/api/v1/parks/qinba-demo/check-results", headers=auth(tokens, "food")).json()[
            "total"
        ]
        == 0
    )
