"""The alert lifecycle: OPEN → ACKNOWLEDGED → RESOLVED, driven by check results and people."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from smartpark.checks.config import AlertPolicy
from smartpark.checks.domain import Status, still_violating
from smartpark.checks.results import Result
from smartpark.errors import SmartparkError
from smartpark.storage import alerts as repo

SYSTEM = "smartpark"


class AlertError(SmartparkError):
    """An alert operation that cannot be done (unknown alert, wrong state)."""


@dataclass(frozen=True, slots=True)
class Targets:
    """Where notifications go: the MQTT topic prefix and webhook URLs."""

    topic_prefix: str
    webhooks: tuple[str, ...] = ()


@dataclass(slots=True)
class Changes:
    """What applying results did."""

    opened: int = 0
    resolved: int = 0


def apply_results(
    conn: Connection, park: str, results: Iterable[Result], now: datetime, policy: AlertPolicy,
    targets: Targets,
) -> Changes:  # fmt: skip
    """Open, refresh or resolve alerts for each result, in the caller's transaction.

    Missing or invalid data neither opens nor resolves anything: an alert stays as it was
    until the data says otherwise.
    """
    changes = Changes()
    hold = timedelta(minutes=policy.hold_minutes)
    for r in results:
        if r.alarming:
            alert_id, inserted = repo.open_or_refresh(conn, _values(park, r, now))
            if inserted:
                changes.opened += 1
                repo.add_transition(
                    conn,
                    alert_id,
                    from_state=None,
                    to_state="OPEN",
                    at=now,
                    by=SYSTEM,
                    note=r.message(),
                )
                _notify(
                    conn,
                    targets,
                    park,
                    alert_id,
                    r.enterprise,
                    "OPEN",
                    r.severity,
                    r.message(),
                    r,
                    now,
                )
            continue
        if r.outcome.status is not Status.OK:
            continue
        alert = repo.find_open(conn, r.check, r.subject)
        if alert is None:
            continue
        value, limit = (
            r.outcome.value,
            alert["limit"] if r.outcome.limit is None else r.outcome.limit,
        )
        if (
            value is not None
            and limit is not None
            and still_violating(value, limit, alert["higher_is_bad"], policy.hysteresis)
        ):
            repo.set_clear_since(conn, alert["id"], None)
            continue
        since = alert["clear_since"] or now
        if now - since >= hold:
            _resolve(conn, targets, park, alert, now, SYSTEM, f"clear since {since.isoformat()}")
            changes.resolved += 1
        elif alert["clear_since"] is None:
            repo.set_clear_since(conn, alert["id"], now)
    return changes


def acknowledge(conn: Connection, alert_id: int, by: str, note: str | None, now: datetime) -> None:
    """An operator takes responsibility for an open alert."""
    alert = repo.get(conn, alert_id)
    if alert is None:
        raise AlertError(f"no alert {alert_id}")
    if alert["state"] != "OPEN":
        raise AlertError(
            f"alert {alert_id} is {alert['state']}, only an OPEN alert can be acknowledged"
        )
    repo.set_state(conn, alert_id, "ACKNOWLEDGED", now)
    repo.add_transition(
        conn, alert_id, from_state="OPEN", to_state="ACKNOWLEDGED", at=now, by=by, note=note
    )


def comment(conn: Connection, alert_id: int, by: str, note: str, now: datetime) -> None:
    """A note in the alert's history; the state stays as it is."""
    alert = repo.get(conn, alert_id)
    if alert is None:
        raise AlertError(f"no alert {alert_id}")
    state = alert["state"]
    repo.add_transition(conn, alert_id, from_state=state, to_state=state, at=now, by=by, note=note)


def resolve(
    conn: Connection, alert_id: int, by: str, note: str | None, now: datetime, targets: Targets
) -> None:
    """An operator resolves an alert by hand."""
    alert = repo.get(conn, alert_id)
    if alert is None:
        raise AlertError(f"no alert {alert_id}")
    if alert["state"] == "RESOLVED":
        raise AlertError(f"alert {alert_id} is already RESOLVED")
    _resolve(conn, targets, alert["park_id"], alert, now, by, note)


def _resolve(
    conn: Connection,
    targets: Targets,
    park: str,
    alert: dict[str, Any],
    now: datetime,
    by: str,
    note: str | None,
) -> None:
    repo.set_state(conn, alert["id"], "RESOLVED", now)
    repo.add_transition(
        conn, alert["id"], from_state=alert["state"], to_state="RESOLVED", at=now, by=by, note=note
    )
    _notify(
        conn,
        targets,
        park,
        alert["id"],
        alert["enterprise"],
        "RESOLVED",
        alert["severity"],
        alert["message"],
        None,
        now,
    )


def _values(park: str, r: Result, now: datetime) -> dict[str, Any]:
    return {
        "park": park, "enterprise": r.enterprise, "rule": r.check, "subject": r.subject,
        "severity": r.severity, "message": r.message(), "value": r.outcome.value,
        "limit": r.outcome.limit, "higher_is_bad": r.higher_is_bad, "now": now,
    }  # fmt: skip


def _notify(
    conn: Connection, targets: Targets, park: str, alert_id: int, enterprise: str | None,
    state: str, severity: str, message: str, result: Result | None, now: datetime,
) -> None:  # fmt: skip
    payload = {
        "alert_id": alert_id, "park": park, "enterprise": enterprise, "state": state,
        "severity": severity, "message": message, "at": now.isoformat(),
    }  # fmt: skip
    if result is not None:
        payload |= {
            "rule": result.check, "subject": result.subject, "value": result.outcome.value,
            "limit": result.outcome.limit, "window_start": result.window.start.isoformat(),
            "window_end": result.window.end.isoformat(),
        }  # fmt: skip
    topic = f"{targets.topic_prefix}/{park}/alerts/{enterprise or 'park'}"
    repo.enqueue(conn, "mqtt", topic, payload)
    for url in targets.webhooks:
        repo.enqueue(conn, "webhook", url, payload)
