"""Crashes, outages, shutdown and scale-out, with separate processes where it matters."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.conftest import CEMS_TOPIC, REGISTRY, TOPIC
from tests.helpers import Stream, base_time
from tests.services import (
    Database,
    Mosquitto,
    PrivatePostgres,
    Publisher,
    env_for,
    ingest_process,
    private_workdir,
    wait_until,
)
from tests.test_ingest_e2e import settle


def stopped_stats(log: Path) -> list[int]:
    """Messages counted by each 'ingestor stopped' line of a log."""
    return [int(m) for m in re.findall(r"ingestor stopped: (\d+) messages", log.read_text())]


def test_kill_9_mid_stream_then_restart(
    tsdb: Database, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    log = tmp_path / "ingest.log"
    env = env_for(tsdb, mosquitto, "kill9-test")
    proc = ingest_process(env, log)
    try:
        wait_until(lambda: "connected to" in log.read_text(), timeout=30)
        stream = Stream(mosquitto.url, CEMS_TOPIC, 3000, base_time(), pause=0.0005).start()
        wait_until(lambda: tsdb.scalar("SELECT count(*) FROM reading") >= 2000, timeout=60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed_at = tsdb.scalar("SELECT count(*) FROM reading")
        assert killed_at < 15000, "the stream finished before the kill; nothing was tested"
        stream.finish()
        proc = ingest_process(env, log)
        settle(tsdb, (15000, 0, 0))
        assert tsdb.scalar("SELECT count(*) FROM reading_conflict") == 0
    finally:
        proc.terminate()
        proc.wait(30)


def test_sigterm_flushes_acks_and_exits_0(
    tsdb: Database, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    log = tmp_path / "ingest.log"
    env = env_for(tsdb, mosquitto, "sigterm-test")
    proc = ingest_process(env, log)
    wait_until(lambda: "connected to" in log.read_text(), timeout=30)
    stream = Stream(mosquitto.url, CEMS_TOPIC, 3000, base_time(), pause=0.0005).start()
    wait_until(lambda: tsdb.scalar("SELECT count(*) FROM reading") >= 2000, timeout=60)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert "writer stopped; queue drained" in log.read_text()
    stored_by_first = tsdb.scalar("SELECT count(*) FROM reading")
    # Everything it stored it also acknowledged: no message comes back as a redelivery.
    assert stopped_stats(log) == [stored_by_first // 5]
    stream.finish()
    proc = ingest_process(env, log)
    try:
        settle(tsdb, (15000, 0, 0))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    first, second = stopped_stats(log)
    assert first + second == 3000  # acknowledged once each: none redelivered twice


def test_two_ingestors_share_one_subscription(
    tsdb: Database, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [
        ingest_process(
            env_for(tsdb, mosquitto, f"shared-{i}", SMARTPARK_MQTT_SHARED_GROUP="ingest"), log
        )
        for i, log in enumerate(logs)
    ]
    try:
        for log in logs:
            wait_until(lambda log=log: "connected to" in log.read_text(), timeout=30)
        Stream(mosquitto.url, CEMS_TOPIC, 2000, base_time()).start().finish()
        wait_until(lambda: tsdb.scalar("SELECT count(*) FROM reading") == 10000, timeout=60)
        time.sleep(0.5)
        assert tsdb.scalar("SELECT count(*) FROM reading") == 10000
        assert tsdb.scalar("SELECT count(*) FROM dead_letter") == 0
        # Two ingestors commit out of order, so a device's sequence can show a passing gap;
        # every such gap must have been filled by the other ingestor, and nothing repeated.
        assert tsdb.rows(
            "SELECT kind, count(*), sum(seq_to - seq_from + 1 - filled) FROM data_quality_event GROUP BY kind"
        ) in ([], [("seq_gap", tsdb.scalar("SELECT count(*) FROM data_quality_event"), 0)])
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        assert [proc.wait(30) for proc in procs] == [0, 0]
    shares = [stopped_stats(log)[0] for log in logs]
    assert sum(shares) == 2000
    assert min(shares) > 0, f"one ingestor got nothing: {shares}"


def test_database_outage_mid_stream(
    mosquitto: Mosquitto, ingestor_factory: Callable[..., Any]
) -> None:
    server = PrivatePostgres(private_workdir())
    server.start()
    try:
        import psycopg

        with psycopg.connect(server.url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE smartpark")
        url = server.url.rsplit("/", 1)[0] + "/smartpark"
        _migrate(url)
        ingestor = ingestor_factory(url, mosquitto.url)
        stream = Stream(mosquitto.url, CEMS_TOPIC, 2000, base_time(), pause=0.001).start()
        db = Database(url, ingestor._engine, True)
        wait_until(lambda: db.scalar("SELECT count(*) FROM reading") >= 1000, timeout=60)
        server.stop()
        wait_until(lambda: ingestor.stats.retries >= 2, timeout=30)
        server.start()
        stream.finish()
        settle(db, (10000, 0, 0))
        assert ingestor.stats.retries >= 2
    finally:
        if _running(server):
            server.stop()


def _running(server: PrivatePostgres) -> bool:
    return (server.datadir / "postmaster.pid").exists()


def _migrate(url: str) -> None:
    from smartpark.catalogue import load_catalogue
    from smartpark.db import make_engine
    from smartpark.registry.schema import load_registry_file
    from smartpark.storage.migrate import upgrade
    from smartpark.storage.registry import import_registry, sync_metrics

    engine = make_engine(url)
    assert upgrade(engine, "on") is True
    with engine.begin() as conn:
        sync_metrics(conn, load_catalogue())
        import_registry(conn, load_registry_file(REGISTRY, set(load_catalogue())), "Asia/Shanghai")
    engine.dispose()


def test_acl_lets_a_device_publish_only_its_own_topic(
    tsdb: Database, ingestor_factory: Callable[..., Any]
) -> None:
    users = {
        "smartpark-ingest": "ingest-secret",
        "hz-steel-wm-01": "meter-secret",
        "ak-food-em-01": "food-secret",
    }
    broker = Mosquitto(private_workdir(), acl=True, passwords=users)
    broker.start()
    try:
        url = f"mqtt://smartpark-ingest:ingest-secret@127.0.0.1:{broker.port}"
        ingestor_factory(tsdb, url, mqtt_shared_group="acl")
        t0 = base_time()
        payload = (
            b'{"ts": "%s", "readings": [{"metric": "water.intake", "value": 1}]}'
            % t0.isoformat().encode()
        )
        intruder = Publisher(broker.url, username="ak-food-em-01", password="food-secret")
        # A different time, so that if the ACL let it through it would be a second reading.
        intruder.publish(
            TOPIC,
            payload.replace(
                t0.isoformat().encode(), (t0 + timedelta(minutes=1)).isoformat().encode()
            ),
        )
        intruder.close()
        owner = Publisher(broker.url, username="hz-steel-wm-01", password="meter-secret")
        owner.publish(TOPIC, payload.replace(b'"value": 1', b'"value": 2'))
        owner.close()
        settle(tsdb, (1, 0, 0))
        assert tsdb.scalar("SELECT value FROM reading") == 2.0
    finally:
        broker.stop()
