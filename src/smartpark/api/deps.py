"""Request dependencies: the database, the authenticated principal, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from sqlalchemy import Connection, Engine

from smartpark.api.security import Principal, secret_hash
from smartpark.storage.users import user_by_credential

SESSION_COOKIE = "smartpark_session"
When = Annotated[
    datetime, Query(description="RFC 3339 with an offset, e.g. 2026-11-29T08:00:00+08:00")
]
Metrics = Annotated[
    list[str], Query(min_length=1, description="Metric names (repeat the parameter)")
]


def engine(request: Request) -> Engine:
    """The app's engine."""
    value: Engine = request.app.state.engine
    return value


def connection(request: Request) -> Iterator[Connection]:
    """A connection in a transaction that commits when the request succeeds (the edge commits)."""
    with engine(request).begin() as conn:
        yield conn


Conn = Annotated[Connection, Depends(connection)]


def principal(request: Request, conn: Conn) -> Principal:
    """The caller, from `Authorization: Bearer <token>` or the dashboard's session cookie."""
    return authenticate(request, conn)


def authenticate(request: Request, conn: Connection) -> Principal:
    """The caller of `request`, or 401 (for routes that manage their own connection)."""
    header = request.headers.get("authorization", "")
    now = datetime.now(UTC)
    row = None
    if header.lower().startswith("bearer "):
        row = user_by_credential(conn, secret_hash(header[7:].strip()), "token", now)
    elif cookie := request.cookies.get(SESSION_COOKIE):
        row = user_by_credential(conn, secret_hash(cookie), "session", now)
    if row is None:
        raise HTTPException(
            401,
            "log in or send a valid API token (Authorization: Bearer …)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Principal.from_row(row)


Caller = Annotated[Principal, Depends(principal)]


def streaming_principal(request: Request) -> Principal:
    """The caller, on a connection given back at once: `Caller`'s is held until the response
    ends, which for a long stream would starve the pool."""
    with engine(request).connect() as conn:
        return authenticate(request, conn)


StreamingCaller = Annotated[Principal, Depends(streaming_principal)]


def require(role: str) -> Callable[[Principal], Principal]:
    """A dependency that admits `role` and above."""

    def check(caller: Caller) -> Principal:
        if not caller.at_least(role):
            raise HTTPException(403, f"this needs the {role} role; you are {caller.role}")
        return caller

    return check


def in_park(caller: Principal, park: str) -> None:
    """404 for a park outside the caller's scope (its existence is not disclosed)."""
    if park != caller.park:
        raise HTTPException(404, f"no park {park!r}")


def park_admin(caller: Annotated[Principal, Depends(require("admin"))]) -> Principal:
    """An admin of the whole park (dead letters and configuration are park-wide)."""
    if caller.enterprise is not None:
        raise HTTPException(
            403, "this is park-wide administration: an enterprise user cannot use it"
        )
    return caller


ParkAdmin = Annotated[Principal, Depends(park_admin)]


def time_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC, or 422 naming what is wrong with it."""
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None:
            raise HTTPException(422, f"{name} needs a UTC offset (e.g. 2026-11-29T08:00:00+08:00)")
    if end <= start:
        raise HTTPException(422, "end must be after start")
    return start.astimezone(UTC), end.astimezone(UTC)


def own_enterprise(caller: Principal, enterprise: str | None, doing: str) -> None:
    """403 when an enterprise user acts for another enterprise (or for the whole park)."""
    if caller.enterprise is not None and enterprise != caller.enterprise:
        raise HTTPException(403, f"you may {doing} {caller.enterprise} only")
