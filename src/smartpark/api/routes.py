"""`/api/v1` routes: the park, devices, alerts, evaluations, dead letters, login."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from smartpark.alerts.service import acknowledge, resolve
from smartpark.api.deps import (
    SESSION_COOKIE,
    Caller,
    Conn,
    ParkAdmin,
    in_park,
    own_enterprise,
    require,
)
from smartpark.api.security import Principal, new_secret, secret_hash, verify_password
from smartpark.checks.scheduler import targets_from
from smartpark.config import get_settings
from smartpark.ingestion.types import ParseContext
from smartpark.storage import queries
from smartpark.storage.evaluation import get_evaluation, list_inputs
from smartpark.storage.users import add_credential, drop_credential, user_by_name

router = APIRouter(prefix="/api/v1")
SESSION_HOURS = 12
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page (at most 500)")]
Offset = Annotated[int, Query(ge=0)]


class Login(BaseModel):
    """Credentials for a dashboard session."""

    username: str = Field(examples=["officer.li"])
    password: str = Field(examples=["a long passphrase"])


class Note(BaseModel):
    """An operator's note on an alert transition."""

    note: str | None = Field(
        default=None, max_length=2000, examples=["called the plant's shift lead"]
    )


def page(items: list[dict[str, Any]], total: int, limit: int, offset: int) -> dict[str, Any]:
    """The one pagination shape every list uses."""
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def whole(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A short list returned whole, in the same shape."""
    return page(items, len(items), len(items), 0)


@router.post("/login", tags=["auth"])
def login(body: Login, response: Response, conn: Conn) -> dict[str, Any]:
    """Start a dashboard session (an HttpOnly cookie)."""
    user = user_by_name(conn, body.username)
    if user is None or not verify_password(user["password_hash"], body.password):
        raise HTTPException(401, "unknown username or wrong password")
    secret, hashed = new_secret()
    expires = datetime.now(UTC) + timedelta(hours=SESSION_HOURS)
    add_credential(conn, user["id"], hashed, "session", None, expires)
    response.set_cookie(
        SESSION_COOKIE, secret, httponly=True, samesite="lax", max_age=SESSION_HOURS * 3600
    )
    return Principal.from_row(user).describe()


@router.post("/logout", tags=["auth"], status_code=204)
def logout(request: Request, caller: Caller, conn: Conn) -> Response:
    """End the dashboard session."""
    del caller
    if cookie := request.cookies.get(SESSION_COOKIE):
        drop_credential(conn, secret_hash(cookie))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/me", tags=["auth"])
def me(caller: Caller) -> dict[str, Any]:
    """Who you are and what you may see."""
    return caller.describe()


@router.get("/parks/{park}/enterprises", tags=["park"])
def enterprises(park: str, caller: Caller, conn: Conn) -> dict[str, Any]:
    """The park's enterprises (only yours, for an enterprise user)."""
    in_park(caller, park)
    items = queries.enterprises(conn, park, caller.enterprise)
    return whole(items)


@router.get("/parks/{park}/devices", tags=["park"])
def devices(park: str, caller: Caller, conn: Conn) -> dict[str, Any]:
    """Devices with status, last seen, sequence state and metrics."""
    in_park(caller, park)
    items = queries.devices(conn, park, caller.enterprise)
    return whole(items)


@router.get("/parks/{park}/alerts", tags=["alerts"])
def alerts(
    park: str, caller: Caller, conn: Conn, limit: Limit = 50, offset: Offset = 0,
    state: Literal["OPEN", "ACKNOWLEDGED", "RESOLVED"] | None = None,
    severity: Literal["info", "warning", "critical"] | None = None,
    enterprise: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Alerts newest first, filtered by state, severity and enterprise."""
    in_park(caller, park)
    filters = {"state": state, "severity": severity, "enterprise": enterprise}
    items, total = queries.alerts(conn, park, caller.enterprise, filters, limit, offset)
    return page(items, total, limit, offset)


@router.get("/parks/{park}/check-results", tags=["alerts"])
def check_results(
    park: str, caller: Caller, conn: Conn, limit: Limit = 50, offset: Offset = 0,
    check: Annotated[str | None, Query(description="Check name or prefix, e.g. ratio.")] = None,
    subject: str | None = None,
    status: Literal["ok", "violation", "warning", "insufficient_data", "invalid"] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Every check verdict with the window, value, limit, coverage and inputs behind it."""
    in_park(caller, park)
    filters = {"check": check, "subject": subject, "status": status}
    items, total = queries.check_results(conn, park, caller.enterprise, filters, limit, offset)
    return page(items, total, limit, offset)


def own_alert(conn: Any, caller: Principal, alert_id: int) -> None:
    """404 for an alert outside the caller's scope."""
    scope = queries.alert_scope(conn, alert_id)
    if scope is None or not caller.sees(*scope):
        raise HTTPException(404, f"no alert {alert_id}")


@router.post("/alerts/{alert_id}/acknowledge", tags=["alerts"])
def acknowledge_alert(
    alert_id: int,
    body: Note,
    conn: Conn,
    caller: Annotated[Principal, Depends(require("operator"))],
) -> dict[str, Any]:
    """Take responsibility for an open alert (operator)."""
    own_alert(conn, caller, alert_id)
    acknowledge(conn, alert_id, caller.username, body.note, datetime.now(UTC))
    return {"id": alert_id, "state": "ACKNOWLEDGED"}


@router.post("/alerts/{alert_id}/resolve", tags=["alerts"])
def resolve_alert(
    alert_id: int,
    body: Note,
    conn: Conn,
    caller: Annotated[Principal, Depends(require("operator"))],
) -> dict[str, Any]:
    """Resolve an alert by hand (operator); subscribers are notified."""
    own_alert(conn, caller, alert_id)
    resolve(
        conn, alert_id, caller.username, body.note, datetime.now(UTC), targets_from(get_settings())
    )
    return {"id": alert_id, "state": "RESOLVED"}


@router.get("/parks/{park}/evaluations", tags=["evaluation"])
def evaluations(park: str, caller: Caller, conn: Conn) -> dict[str, Any]:
    """Stored evaluations, newest first."""
    in_park(caller, park)
    items = queries.evaluations(conn, park, caller.enterprise)
    return whole(items)


@router.get("/evaluations/{evaluation_id}/report.{fmt}", tags=["evaluation"])
def evaluation_report(
    evaluation_id: int, fmt: Literal["html", "pdf", "csv", "json"], caller: Caller, conn: Conn
) -> Response:
    """The evaluation's report (with last year's alongside when there is one)."""
    from smartpark.evaluation.render import MEDIA_TYPES, render

    row = get_evaluation(conn, evaluation_id)
    if row is None or not caller.sees(row["park_id"], row["enterprise"]):
        raise HTTPException(404, f"no evaluation {evaluation_id}")
    return Response(render(conn, row, fmt), media_type=MEDIA_TYPES[fmt])


@router.get("/dead-letters", tags=["ingestion"])
def dead_letters(
    conn: Conn, caller: ParkAdmin, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """The caller's park's messages that could not be stored, with the reasons (park admin)."""
    items, total = queries.dead_letters(conn, caller.park, limit, offset)
    return page(items, total, limit, offset)


class InputEntry(BaseModel):
    """A periodic input as an operator enters it."""

    enterprise: str | None = Field(default=None, examples=["hz-steel"])
    period: str = Field(examples=["2026", "2026-11"])
    key: str = Field(examples=["industrial_value_added"])
    value: float = Field(examples=[20000])
    unit: str = Field(examples=["10k CNY"])


@router.post("/parks/{park}/inputs", tags=["evaluation"], status_code=201)
def enter_input(
    park: str,
    body: InputEntry,
    conn: Conn,
    caller: Annotated[Principal, Depends(require("operator"))],
) -> dict[str, Any]:
    """Enter (or correct) a periodic input; validated like the CSV import, kept with who."""
    from smartpark.evaluation.inputs import input_specs, store, validate

    in_park(caller, park)
    own_enterprise(caller, body.enterprise, "enter inputs for")
    row = validate(
        park, body.enterprise, body.period, body.key, body.value, body.unit, input_specs()
    )
    store(conn, row, caller.username)
    entered = {k: v for k, v in asdict(row).items() if k != "park"}
    return entered | {"entered_by": caller.username}


@router.get("/parks/{park}/inputs", tags=["evaluation"])
def inputs(park: str, caller: Caller, conn: Conn) -> dict[str, Any]:
    """Entered periodic inputs."""
    in_park(caller, park)
    items = list_inputs(conn, park, caller.enterprise)
    return whole(items)


@router.post("/dead-letters/{dead_letter_id}/reprocess", tags=["ingestion"])
def reprocess_dead_letter(
    dead_letter_id: int, request: Request, caller: ParkAdmin
) -> dict[str, Any]:
    """Run a dead-lettered message through the contract again (after a registry fix)."""
    from smartpark.db import connect_raw
    from smartpark.ingestion.reprocess import reprocess
    from smartpark.ingestion.service import writer_config
    from smartpark.storage.registry import load_snapshot

    engine = request.app.state.engine
    settings = get_settings()
    config = writer_config(settings)
    with engine.connect() as conn:
        ctx = ParseContext(load_snapshot(conn), config.limits, settings.mqtt_topic_prefix)
    with connect_raw(engine.url.render_as_string(hide_password=False)) as raw:
        done = reprocess(
            raw,
            dead_letter_id,
            ctx,
            datetime.now(UTC),
            park=caller.park,
            policy=config.dead_letters,
        )
    if done is None:
        raise HTTPException(404, f"no unprocessed dead letter {dead_letter_id}")
    return {"dead_letters_closed": done.dead_letters_closed, "inserted": done.inserted,
            "duplicates": done.duplicates, "still_failing": done.still_failing}  # fmt: skip
