"""APScheduler jobs: rollup maintenance, each park's checks on its own cron, the outbox,
daily retention."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from smartpark.alerts.notify import MqttSender, Sender, dispatch, webhook_sender
from smartpark.alerts.service import Targets
from smartpark.catalogue import load_catalogue
from smartpark.checks.runner import run_checks
from smartpark.checks.windows import floor_hour
from smartpark.config import MqttEndpoint, Settings
from smartpark.errors import ConfigurationError
from smartpark.evaluation.service import run_evaluation
from smartpark.heartbeat import Heartbeat
from smartpark.storage.checks import claim_run, load_config, parks
from smartpark.storage.registry import park_timezone
from smartpark.storage.retention import RetentionPolicy, RetentionReport, apply_all
from smartpark.storage.rollups import refresh_all

log = logging.getLogger(__name__)

DEFAULT_SCHEDULES = {"rollups": "* * * * *", "checks": "5 * * * *", "evaluation": "30 0 1 * *"}


def targets_from(settings: Settings) -> Targets:
    """Notification targets from the settings."""
    urls = tuple(u.strip() for u in settings.webhook_urls.split(",") if u.strip())
    return Targets(settings.mqtt_topic_prefix, urls)


def retention_policy(settings: Settings) -> RetentionPolicy:
    """The retention policy from the SMARTPARK_RETENTION_* settings."""
    return RetentionPolicy(
        readings=settings.retention_readings,
        dead_letters=settings.retention_dead_letters,
        reading_conflicts=settings.retention_reading_conflicts,
        data_quality_events=settings.retention_data_quality_events,
        outbox_sent=settings.retention_outbox_sent,
        expired_credentials=settings.retention_expired_credentials,
    )


def retention_trigger(settings: Settings) -> CronTrigger:
    """The retention job's UTC cron; a bad one is a ConfigurationError naming its variable."""
    try:
        return CronTrigger.from_crontab(settings.retention_schedule, timezone=UTC)
    except ValueError as exc:
        raise ConfigurationError(
            f"SMARTPARK_RETENTION_SCHEDULE must be a cron expression (5 fields, UTC), "
            f"got {settings.retention_schedule!r}: {exc}"
        ) from None


class Scheduler:
    """Background jobs; safe to run in several processes (claims and SKIP LOCKED)."""

    def __init__(self, engine: Engine, settings: Settings, endpoint: MqttEndpoint | None):
        self._engine = engine
        self._settings = settings
        # Checked before anything starts, so a typo stops the process rather than the job.
        self._retention_trigger = retention_trigger(settings)
        self._retention_policy = retention_policy(settings)
        self.identity = f"{socket.gethostname()}:{id(self)}"
        self._catalogue = load_catalogue(settings.extra_metrics_file)
        self._targets = targets_from(settings)
        self._mqtt = (
            MqttSender(endpoint, f"smartpark-notify-{self.identity}", settings.mqtt_protocol)
            if endpoint
            else None
        )
        self._senders: dict[str, Sender] = {"webhook": webhook_sender(settings.webhook_secret)}
        if self._mqtt is not None:
            self._senders["mqtt"] = self._mqtt
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._crons: dict[str, str] = {}
        self.last_run: dict[str, datetime] = {}
        self.heartbeat = Heartbeat(engine, "scheduler", self._state, settings.heartbeat_interval)

    def _state(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "jobs": sorted(self._crons),
            "last_run": {k: v.isoformat() for k, v in self.last_run.items()},
        }

    def start(self) -> None:
        """Start the jobs; park schedules are re-read every minute."""
        self._scheduler.add_job(
            self._dispatch,
            "interval",
            seconds=self._settings.dispatch_interval,
            id="dispatch",
            max_instances=1,
            coalesce=True,
        )
        self._scheduler.add_job(
            self._reload,
            "interval",
            minutes=1,
            id="reload",
            max_instances=1,
            next_run_time=datetime.now(UTC),
        )
        self._scheduler.add_job(
            self._retention,
            self._retention_trigger,
            id="retention",
            max_instances=1,
            coalesce=True,
        )
        self._crons["retention"] = self._settings.retention_schedule
        self._scheduler.start()
        self.heartbeat.start()

    def stop(self) -> None:
        """Stop after running jobs finish."""
        self.heartbeat.stop()
        self._scheduler.shutdown(wait=True)
        if self._mqtt is not None:
            self._mqtt.close()

    @property
    def running(self) -> bool:
        """Whether the scheduler thread runs."""
        return bool(self._scheduler.running)

    def _reload(self) -> None:
        with self._engine.connect() as conn:
            wanted: dict[str, tuple[str, str, str | None]] = {}
            for park, timezone in parks(conn):
                schedules = {
                    **DEFAULT_SCHEDULES,
                    **(load_config(conn, park) or {}).get("schedules", {}),
                }
                wanted[f"checks:{park}"] = (schedules["checks"], timezone, park)
                wanted[f"evaluation:{park}"] = (schedules["evaluation"], timezone, park)
                wanted.setdefault("rollups", (schedules["rollups"], timezone, None))
        for job_id, (cron, zone, target) in wanted.items():
            if self._crons.get(job_id) == cron:
                continue
            trigger = CronTrigger.from_crontab(cron, timezone=zone)
            func = (
                self._rollups if target is None
                else self._evaluate if job_id.startswith("evaluation:")
                else self._checks
            )  # fmt: skip
            args = [] if target is None else [target]
            self._scheduler.add_job(
                func,
                trigger,
                args=args,
                id=job_id,
                replace_existing=True,
                max_instances=1,
                coalesce=True,
            )
            self._crons[job_id] = cron
            log.info("job %s scheduled at %r (%s)", job_id, cron, zone)

    def _rollups(self) -> None:
        with self._engine.begin() as conn:
            refresh_all(conn)
        self.last_run["rollups"] = datetime.now(UTC)

    def _checks(self, park: str) -> None:
        run_checks(
            self._engine,
            datetime.now(UTC),
            self._catalogue,
            self._targets,
            claim_as=self.identity,
            only_park=park,
        )
        self.last_run[f"checks:{park}"] = datetime.now(UTC)

    def _evaluate(self, park: str) -> None:
        """The month just ended and its year so far, each claimed once across schedulers."""
        now = datetime.now(UTC)
        with self._engine.begin() as conn:
            zone = ZoneInfo(park_timezone(conn, park))
            last_month = now.astimezone(zone).date().replace(day=1) - timedelta(days=1)
            if claim_run(conn, f"evaluation:{park}", floor_hour(now), self.identity):
                for label in (f"{last_month:%Y-%m}", f"{last_month:%Y}"):
                    run_evaluation(conn, park, label, now)
        self.last_run[f"evaluation:{park}"] = now

    def _retention(self, now: datetime | None = None) -> RetentionReport | None:
        """Apply the retention policy, claimed once per hour across schedulers; None when
        another scheduler has claimed this run."""
        if now is None:
            now = datetime.now(UTC)
        with self._engine.begin() as conn:
            claimed = claim_run(conn, "retention", floor_hour(now), self.identity)
        report = None
        if claimed:
            # Its own connection: retention commits chunk by chunk, outside the claim.
            with self._engine.connect() as conn:
                report = apply_all(conn, self._retention_policy, now=now)
            for removed in report.entries():
                log.info(
                    "retention: %s: %s %s(s) removed, older than %s",
                    removed.resource,
                    removed.count,
                    removed.unit,
                    removed.cutoff,
                )
        self.last_run["retention"] = now
        return report

    def _dispatch(self) -> None:
        dispatch(self._engine, self._senders, datetime.now(UTC))
        self.last_run["dispatch"] = datetime.now(UTC)
