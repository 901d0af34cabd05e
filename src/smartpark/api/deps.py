"""Request dependencies: the database, the authenticated principal, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Connection, Engine

from smartpark.api.security import Principal, secret_hash
from smartpark.storage.users import user_by_credential

SESSION_COOKIE = "smartpark_session"


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
