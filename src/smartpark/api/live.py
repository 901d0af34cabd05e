"""`/api/v1/parks/{park}/alerts/stream`: alert changes as server-sent events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Annotated

import orjson
from anyio import to_thread
from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine

from smartpark.api.deps import authenticate
from smartpark.api.limits import HeldStream, UserLimiter
from smartpark.api.security import Principal
from smartpark.storage.dashboard import alert_changes, last_transition

router = APIRouter(prefix="/api/v1", tags=["alerts"])
# Polling the transitions table keeps the stream right across processes (the scheduler that
# opens an alert is usually not the process serving the browser).
POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
BATCH = 200


def _open(engine: Engine, request: Request, park: str, after: int | None) -> tuple[Principal, int]:
    with engine.connect() as conn:
        caller = authenticate(request, conn)
        if park != caller.park:
            raise HTTPException(404, f"no park {park!r}")
        return caller, last_transition(conn) if after is None else after


@router.get(
    "/parks/{park}/alerts/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        429: {"description": "You have SMARTPARK_API_MAX_STREAMS_PER_USER streams open"},
    },
)
async def alert_stream(
    park: str,
    request: Request,
    after: Annotated[
        int | None, Query(ge=0, description="Replay changes after this transition id")
    ] = None,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
) -> StreamingResponse:
    """Every alert opened, acknowledged, commented or resolved from now on (or after a
    transition id, as `EventSource` resends in Last-Event-ID), one `alert` event each; at most
    SMARTPARK_API_MAX_STREAMS_PER_USER open streams per user."""
    engine: Engine = request.app.state.engine
    start = last_event_id if last_event_id is not None else after
    caller, cursor = await to_thread.run_sync(_open, engine, request, park, start)
    streams: UserLimiter = request.app.state.streams
    slot = streams.acquire(caller.user_id)

    def changes(since: int) -> list[dict[str, object]]:
        with engine.connect() as conn:
            return alert_changes(conn, park, caller.enterprise, since, BATCH)

    async def events() -> AsyncGenerator[bytes, None]:
        nonlocal cursor
        yield f"retry: 3000\nevent: ready\ndata: {cursor}\n\n".encode()
        quiet_since = time.monotonic()
        while not await request.is_disconnected():
            rows = await to_thread.run_sync(changes, cursor)
            for row in rows:
                cursor = int(str(row["transition"]))
                yield b"id: %d\nevent: alert\ndata: %s\n\n" % (cursor, orjson.dumps(row))
            if rows:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
                yield b": keepalive\n\n"
                quiet_since = time.monotonic()
            if len(rows) < BATCH:
                await asyncio.sleep(POLL_SECONDS)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return HeldStream(events(), slot, media_type="text/event-stream", headers=headers)
