"""Retention of everything that grows, and the cap on a device's open sequence gaps."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine

from smartpark.checks.scheduler import Scheduler, retention_policy, retention_trigger
from smartpark.config import Settings
from smartpark.errors import ConfigurationError
from smartpark.ingestion.sequence import Observation
from smartpark.storage import retention
from smartpark.storage.readings import Batch, BatchResult, store_batch
from smartpark.storage.retention import RetentionPolicy, apply_all
from tests.services import Database

NOW = datetime(2026, 12, 1, tzinfo=UTC)  # UTC midnight: a TimescaleDB chunk boundary
DAY = timedelta(days=1)
POLICY = RetentionPolicy(
    readings=4 * DAY,
    dead_letters=30 * DAY,
    reading_conflicts=365 * DAY,
    data_quality_events=365 * DAY,
    outbox_sent=30 * DAY,
    expired_credentials=7 * DAY,
)


def device_id(db: Database, code: str = "hz-steel-wm-01") -> int:
    return int(db.scalar("SELECT id FROM device WHERE code = %s", code))


def metric_id(db: Database, name: str) -> int:
    return int(db.scalar("SELECT id FROM metric WHERE name = %s", name))


def dead_letter(conn: psycopg.Connection[Any], label: str, received_at: datetime) -> None:
    conn.execute(
        "INSERT INTO dead_letter (received_at, topic, reason, payload, payload_size, "
        "payload_sha256, rejections, rejected, readings) "
        "VALUES (%s, %s, 'bad json', '', 0, '', '[]', 1, 0)",
        (received_at, label),
    )


def populate(db: Database) -> None:
    """Rows on both sides of every cutoff in POLICY at NOW, each named by a label."""
    device = device_id(db)
    intake, reused = metric_id(db, "water.intake"), metric_id(db, "water.reused")
    with psycopg.connect(db.url) as conn:
        # Readings of days 0..9 before NOW; days 5..9 are older than the 4-day cutoff.
        conn.cursor().executemany(
            "INSERT INTO reading (device_id, metric_id, time, value, flag) "
            "VALUES (%s, %s, %s, %s, 'N')",
            [(device, intake, NOW - d * DAY, float(d)) for d in range(10)]
            + [(device, reused, NOW - d * DAY, float(d)) for d in range(10)],
        )
        # Old and kept interleaved, so chunks of ids skip kept rows between removed ones.
        for label, age in (
            ("old-1", 31 * DAY),
            ("new-1", 29 * DAY),
            ("old-2", 31 * DAY),
            ("at-cutoff", 30 * DAY),  # exactly as old as the policy: kept
            ("old-3", 400 * DAY),
        ):
            dead_letter(conn, label, NOW - age)
        for value, age in ((1.0, 400 * DAY), (2.0, 10 * DAY)):
            conn.execute(
                "INSERT INTO reading_conflict (device_id, metric_id, time, stored_value, "
                "stored_flag, received_value, received_flag, received_at) "
                "VALUES (%s, %s, %s, 0, 'N', %s, 'N', %s)",
                (device, intake, NOW - age, value, NOW - age),
            )
        # seq_from is the label. detected_at ages a repeat or reset; closed_at ages a gap.
        for seq, kind, detected, closed_at, reason in (
            (1, "seq_repeat", 400 * DAY, None, None),  # removed
            (2, "seq_reset", 400 * DAY, None, None),  # removed
            (3, "seq_repeat", 10 * DAY, None, None),  # kept
            (4, "seq_gap", 800 * DAY, None, None),  # open: kept however old
            (5, "seq_gap", 500 * DAY, 400 * DAY, "filled"),  # removed
            (6, "seq_gap", 500 * DAY, 400 * DAY, "expired"),  # removed
            (7, "seq_gap", 800 * DAY, 10 * DAY, "expired"),  # closed recently: kept
        ):
            conn.execute(
                "INSERT INTO data_quality_event (device_id, kind, detected_at, seq_from, "
                "seq_to, closed_at, closed_reason) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    device,
                    kind,
                    NOW - detected,
                    seq,
                    seq,
                    None if closed_at is None else NOW - closed_at,
                    reason,
                ),
            )
        for target, created, sent in (
            ("sent-old-1", 41 * DAY, 40 * DAY),
            ("sent-old-2", 41 * DAY, 31 * DAY),
            ("sent-new", 6 * DAY, 5 * DAY),
            ("unsent-old", 400 * DAY, None),  # still owed: kept
        ):
            conn.execute(
                "INSERT INTO outbox (created_at, channel, target, payload, sent_at) "
                "VALUES (%s, 'webhook', %s, '{}', %s)",
                (NOW - created, target, None if sent is None else NOW - sent),
            )
        user = conn.execute(
            "INSERT INTO app_user (username, password_hash, role, park_id) "
            "VALUES ('ops', 'x', 'admin', 'qinba-demo') RETURNING id"
        ).fetchone()
        assert user is not None
        for secret, kind, expires in (
            ("session-expired-8d", "session", NOW - 8 * DAY),  # removed
            ("token-expired-30d", "token", NOW - 30 * DAY),  # removed
            ("session-expired-1d", "session", NOW - DAY),  # kept: expired, but recently
            ("token-forever", "token", None),  # kept
            ("session-valid", "session", NOW + DAY),  # kept
        ):
            conn.execute(
                "INSERT INTO credential (secret_hash, user_id, kind, expires_at) "
                "VALUES (%s, %s, %s, %s)",
                (secret, user[0], kind, expires),
            )


def counts(report: retention.RetentionReport) -> dict[str, tuple[int, str]]:
    return {r.resource: (r.count, r.unit) for r in report.entries()}


def test_retention_removes_exactly_what_is_past_each_cutoff(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of 2 rows: every resource with more than one row to remove takes several.
    monkeypatch.setattr(retention, "CHUNK_ROWS", 2)
    populate(database)
    readings = (5, "chunk") if database.timescale else (10, "row")
    expected = {
        "readings": readings,
        "dead_letters": (3, "row"),
        "reading_conflicts": (1, "row"),
        "data_quality_events": (4, "row"),
        "outbox_sent": (2, "row"),
        "expired_credentials": (2, "row"),
    }
    with database.engine.connect() as conn:
        dry = apply_all(conn, POLICY, now=NOW, dry_run=True)
    assert counts(dry) == expected
    assert database.scalar("SELECT count(*) FROM dead_letter") == 5  # a dry run removes nothing
    assert database.scalar("SELECT count(*) FROM reading") == 20

    with database.engine.connect() as conn:
        report = apply_all(conn, POLICY, now=NOW)
    assert counts(report) == expected
    assert report.readings.cutoff == NOW - 4 * DAY
    assert report.expired_credentials.cutoff == NOW - 7 * DAY

    # The reading exactly at the cutoff is kept; its chunk also holds newer time.
    assert database.rows(
        "SELECT m.name, array_agg(r.value ORDER BY r.value) FROM reading r "
        "JOIN metric m ON m.id = r.metric_id GROUP BY m.name ORDER BY m.name"
    ) == [("water.intake", [0, 1, 2, 3, 4]), ("water.reused", [0, 1, 2, 3, 4])]
    assert database.rows("SELECT topic FROM dead_letter ORDER BY id") == [
        ("new-1",),
        ("at-cutoff",),
    ]
    assert database.rows("SELECT received_value FROM reading_conflict") == [(2.0,)]
    assert database.rows("SELECT seq_from FROM data_quality_event ORDER BY seq_from") == [
        (3,),
        (4,),
        (7,),
    ]
    assert database.rows("SELECT target FROM outbox ORDER BY target") == [
        ("sent-new",),
        ("unsent-old",),
    ]
    assert database.rows("SELECT secret_hash FROM credential ORDER BY secret_hash") == [
        ("session-expired-1d",),
        ("session-valid",),
        ("token-forever",),
    ]

    with database.engine.connect() as conn:
        again = apply_all(conn, POLICY, now=NOW)
    assert {r.count for r in again.entries()} == {0}


def test_the_policy_comes_from_the_settings() -> None:
    settings = Settings(
        retention_readings=timedelta(days=3650),
        retention_outbox_sent=timedelta(days=2),
    )
    assert retention_policy(settings) == RetentionPolicy(
        readings=timedelta(days=3650),
        dead_letters=timedelta(days=30),
        reading_conflicts=timedelta(days=365),
        data_quality_events=timedelta(days=365),
        outbox_sent=timedelta(days=2),
        expired_credentials=timedelta(days=7),
    )


# --- the cap on open gaps ----------------------------------------------------------------


def observe(db: Database, device: int, seqs: list[int], cap: int, now: datetime) -> BatchResult:
    batch = Batch(
        observations=[Observation(device, s, False, NOW + s * timedelta(minutes=1)) for s in seqs],
        last_seen={device: now},
    )
    with psycopg.connect(db.url) as conn:
        return store_batch(conn, batch, now, max_open_gaps=cap)


def gaps(db: Database, device: int) -> list[tuple[int, int, str | None]]:
    return [
        (seq_from, filled, reason)
        for seq_from, filled, reason in db.rows(
            "SELECT seq_from, filled, closed_reason FROM data_quality_event "
            "WHERE device_id = %s AND kind = 'seq_gap' ORDER BY seq_from",
            device,
        )
    ]


def test_a_device_skipping_every_other_number_keeps_only_the_cap_open(database: Database) -> None:
    device = device_id(database)
    n = 10
    seqs = list(range(0, 2 * n + 1, 2))  # 0, 2, …, 20: gaps [1], [3], …, [19]
    for i, cut in enumerate(([0], [2, 4], [6, 8, 10, 12], [14], [16, 18, 20])):
        observe(database, device, [s for s in seqs if s in cut], 3, NOW + i * timedelta(hours=1))
    assert gaps(database, device) == [(s, 0, "expired") for s in range(1, 15, 2)] + [
        (15, 0, None),
        (17, 0, None),
        (19, 0, None),
    ]
    assert database.scalar(
        "SELECT count(*) FROM data_quality_event WHERE closed_reason = 'expired' "
        "AND closed_at >= detected_at"
    ) == (n - 3)

    # Late 19 fills its gap (closed as filled); late 1 belongs to an expired gap: a repeat.
    late = observe(database, device, [19], 3, NOW + 6 * timedelta(hours=1))
    repeat = observe(database, device, [1], 3, NOW + 7 * timedelta(hours=1))
    assert (late.sequence_events, repeat.sequence_events) == (0, 1)
    assert gaps(database, device)[0] == (1, 0, "expired")
    assert gaps(database, device)[-3:] == [(15, 0, None), (17, 0, None), (19, 1, "filled")]
    assert database.rows(
        "SELECT closed_at FROM data_quality_event WHERE seq_from = 19 AND kind = 'seq_gap'"
    ) == [(NOW + 6 * timedelta(hours=1),)]
    assert database.rows(
        "SELECT kind, seq_from FROM data_quality_event WHERE kind <> 'seq_gap'"
    ) == [("seq_repeat", 1)]


def test_open_gaps_beyond_a_lowered_cap_are_expired_on_the_next_batch(database: Database) -> None:
    device = device_id(database, "hz-steel-cems-1")
    with psycopg.connect(database.url) as conn:
        conn.execute("UPDATE device SET last_seq = 100, first_seq = 0 WHERE id = %s", (device,))
        for seq in range(10, 70, 10):  # six open gaps, as left by a version without a cap
            conn.execute(
                "INSERT INTO data_quality_event (device_id, kind, detected_at, seq_from, "
                "seq_to) VALUES (%s, 'seq_gap', %s, %s, %s)",
                (device, NOW - DAY, seq, seq),
            )
    result = observe(database, device, [101], 4, NOW)  # continues: opens no gap
    assert result.sequence_events == 0
    assert gaps(database, device) == [(10, 0, "expired"), (20, 0, "expired")] + [
        (s, 0, None) for s in (30, 40, 50, 60)
    ]


def test_the_ingestor_takes_the_cap_from_the_settings() -> None:
    from smartpark.ingestion.service import writer_config

    assert writer_config(Settings(max_open_gaps_per_device=7)).max_open_gaps == 7


def test_a_batch_with_sequence_numbers_needs_the_cap(database: Database) -> None:
    device = device_id(database)
    batch = Batch(observations=[Observation(device, 1, False)], last_seen={device: NOW})
    with psycopg.connect(database.url) as conn, pytest.raises(ValueError, match="max_open_gaps"):
        store_batch(conn, batch, NOW)


# --- the command and the scheduler's job -------------------------------------------------


def cli(db: Database, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartpark", *args],
        env={**os.environ, "SMARTPARK_DATABASE_URL": db.url, **env},
        capture_output=True,
        text=True,
        check=False,
    )


LINE = re.compile(r"^(\w+): (\d+) (row|chunk)\(s\) (?:would be )?removed, older than (\S+)$")


def parse(stdout: str) -> dict[str, tuple[int, str, datetime]]:
    lines = stdout.splitlines()
    assert len(lines) == 6, stdout
    parsed = {}
    for line in lines:
        match = LINE.match(line)
        assert match, line
        parsed[match[1]] = (int(match[2]), match[3], datetime.fromisoformat(match[4]))
    return parsed


def test_the_command_applies_the_policy_from_the_settings(database: Database) -> None:
    now = datetime.now(UTC)
    device = device_id(database)
    intake = metric_id(database, "water.intake")
    with psycopg.connect(database.url) as conn:
        for age in (10 * DAY, timedelta(hours=1)):
            conn.execute(
                "INSERT INTO reading (device_id, metric_id, time, value) VALUES (%s, %s, %s, 1)",
                (device, intake, now - age),
            )
        dead_letter(conn, "old", now - 31 * DAY)
        dead_letter(conn, "new", now - DAY)
        conn.execute(
            "INSERT INTO reading_conflict (device_id, metric_id, time, stored_value, stored_flag, "
            "received_value, received_flag, received_at) VALUES (%s, %s, %s, 0, 'N', 1, 'N', %s)",
            (device, intake, now - 2 * DAY, now - 2 * DAY),
        )
    # One day of conflicts (in seconds, from the environment) and readings of the last 3 days.
    env = {"SMARTPARK_RETENTION_READING_CONFLICTS": "86400"}
    dry = cli(database, "db", "retention", "--keep-days", "3", "--dry-run", **env)
    assert dry.returncode == 0, dry.stderr
    assert " would be removed, " in dry.stdout
    done = cli(database, "db", "retention", "--keep-days", "3", **env)
    assert done.returncode == 0, done.stderr
    assert "would be" not in done.stdout
    unit = "chunk" if database.timescale else "row"
    for report in (parse(dry.stdout), parse(done.stdout)):
        assert {k: v[:2] for k, v in report.items()} == {
            "readings": (1, unit),
            "dead_letters": (1, "row"),
            "reading_conflicts": (1, "row"),
            "data_quality_events": (0, "row"),
            "outbox_sent": (0, "row"),
            "expired_credentials": (0, "row"),
        }
        for resource, age in (
            ("readings", 3 * DAY),
            ("dead_letters", 30 * DAY),
            ("reading_conflicts", DAY),
            ("data_quality_events", 365 * DAY),
        ):
            assert abs(report[resource][2] - (now - age)) < timedelta(minutes=2), resource
    assert database.scalar("SELECT count(*) FROM reading") == 1
    assert database.rows("SELECT topic FROM dead_letter") == [("new",)]
    assert database.scalar("SELECT count(*) FROM reading_conflict") == 0


def test_a_bad_retention_schedule_is_rejected_naming_its_variable() -> None:
    settings = Settings(retention_schedule="61 3 * * *")
    with pytest.raises(ConfigurationError, match=r"SMARTPARK_RETENTION_SCHEDULE .*'61 3 \* \* \*'"):
        retention_trigger(settings)
    # Building the scheduler checks it; the engine is never connected to.
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(ConfigurationError, match="SMARTPARK_RETENTION_SCHEDULE"):
        Scheduler(engine, settings, None)


def test_the_scheduler_command_stops_on_a_bad_retention_schedule(tsdb: Database) -> None:
    result = cli(tsdb, "scheduler", SMARTPARK_RETENTION_SCHEDULE="every day")
    assert result.returncode == 2
    assert "SMARTPARK_RETENTION_SCHEDULE must be a cron expression" in result.stderr
    assert "'every day'" in result.stderr


def test_the_retention_job_runs_daily_and_once_across_schedulers(tsdb: Database) -> None:
    settings = Settings(database_url=tsdb.url)
    jobs = Scheduler(tsdb.engine, settings, None)
    jobs.start()
    try:
        job = jobs._scheduler.get_job("retention")
        assert job is not None
        assert str(job.trigger) == (
            "cron[month='*', day='*', day_of_week='*', hour='3', minute='40']"
        )
        assert str(job.trigger.timezone) == "UTC"
        assert (job.max_instances, job.coalesce) == (1, True)
    finally:
        jobs.stop()

    run_at = NOW.replace(hour=3, minute=40)
    with psycopg.connect(tsdb.url) as conn:
        dead_letter(conn, "first", run_at - 31 * DAY)
    report = jobs._retention(run_at)
    assert report is not None and report.dead_letters.count == 1
    # A second scheduler firing for the same run finds it claimed and removes nothing.
    with psycopg.connect(tsdb.url) as conn:
        dead_letter(conn, "second", run_at - 31 * DAY)
    other = Scheduler(tsdb.engine, settings, None)
    assert other._retention(run_at + timedelta(seconds=5)) is None
    assert tsdb.rows("SELECT topic FROM dead_letter") == [("second",)]
    assert tsdb.rows("SELECT job, claimed_by FROM check_run") == [("retention", jobs.identity)]
    # The next day's run is a new claim.
    later = other._retention(run_at + DAY)
    assert later is not None and later.dead_letters.count == 1
