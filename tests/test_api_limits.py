"""The API cannot be starved: statement timeout, a bounded pool, exports off the pool, stream caps."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import HTTPException

from smartpark.api.limits import UserLimiter
from smartpark.api.server import ApiServer
from smartpark.config import Settings
from smartpark.embedded.broker import free_port
from tests.services import Database, wait_until
from tests.test_api import auth, populate
from tests.test_api_series import BASE, SO2, load, window
from tests.test_checks import MINUTE

PARK = "/api/v1/parks/qinba-demo"
PROBLEM = "application/problem+json"
CSV_HEADER = "time,device,metric,value,unit,flag"


@contextmanager
def serving(db: Database, **limits: Any) -> Iterator[ApiServer]:
    """The API on a real uvicorn with these settings (passed in, not read from the environment)."""
    server = ApiServer(
        db.engine, None, "127.0.0.1", free_port(), settings=Settings(database_url=db.url, **limits)
    )
    server.start()
    try:
        wait_until(lambda: _up(server.url), 10)
        yield server
    finally:
        server.stop()


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def backends(db: Database, name: str, *, waiting: bool = False) -> int:
    """Connections of `db` named `name` (only those waiting for a lock, with `waiting`)."""
    return int(
        db.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = %s AND (NOT %s OR wait_event_type = 'Lock')",
            name,
            waiting,
        )
    )


def user_id(db: Database, name: str) -> int:
    return int(db.scalar("SELECT id FROM app_user WHERE username = %s", name))


def test_api_connections_have_the_statement_timeout_and_a_slow_query_answers_504(
    tsdb: Database,
) -> None:
    tokens = populate(tsdb)
    limits = {"api_statement_timeout": "0.2", "export_statement_timeout": timedelta(seconds=3)}
    with serving(tsdb, **limits) as server:
        with server.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "200ms"
            assert conn.exec_driver_sql("SHOW application_name").scalar() == "smartpark-api"
        with server.app.state.export_engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "3s"
            assert conn.exec_driver_sql("SHOW application_name").scalar() == "smartpark-export"
        # The engine the scheduler and ingestor share keeps no timeout: long jobs run whole.
        with tsdb.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0"
        url = f"{server.url}{PARK}/alerts"
        with psycopg.connect(tsdb.url) as locker:
            # The alerts route now waits for the lock: its statement runs past the timeout.
            locker.execute("LOCK TABLE alert IN ACCESS EXCLUSIVE MODE")
            began = time.monotonic()
            slow = httpx.get(url, headers=auth(tokens, "viewer"), timeout=30)
            took = time.monotonic() - began
        assert slow.status_code == 504
        assert slow.headers["content-type"] == PROBLEM
        assert slow.json() == {
            "type": "about:blank",
            "title": "Query Timeout",
            "status": 504,
            "detail": "the query ran longer than the API's statement timeout of 0.2 s "
            "(SMARTPARK_API_STATEMENT_TIMEOUT) and was cancelled: ask for less "
            "(a shorter range, a larger bucket, a smaller page)",
            "timeout_seconds": 0.2,
        }
        assert took < 5
        # The cancelled statement left the pool sound: the same route answers once unlocked.
        again = httpx.get(url, headers=auth(tokens, "viewer"), timeout=30)
        assert (again.status_code, again.json()["total"]) == (200, 2)


def test_a_pool_busy_past_its_timeout_answers_503_with_retry_after(tsdb: Database) -> None:
    tokens = populate(tsdb)
    limits = {"api_pool_size": 1, "api_pool_max_overflow": 0, "api_pool_timeout": "0.5"}
    answers: dict[str, httpx.Response] = {}
    with serving(tsdb, **limits) as server:
        me = f"{server.url}/api/v1/me"
        with psycopg.connect(tsdb.url) as locker:
            locker.execute("LOCK TABLE alert IN ACCESS EXCLUSIVE MODE")
            held = threading.Thread(
                target=lambda: answers.update(
                    alerts=httpx.get(f"{server.url}{PARK}/alerts", headers=auth(tokens, "viewer"))
                )
            )
            held.start()
            # The pool's only connection is now waiting for the lock inside the alerts route.
            wait_until(lambda: backends(tsdb, "smartpark-api", waiting=True) == 1)
            began = time.monotonic()
            busy = httpx.get(me, headers=auth(tokens, "viewer"), timeout=30)
            took = time.monotonic() - began
        held.join(30)
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
        assert busy.headers["content-type"] == PROBLEM
        assert busy.json() == {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": "every database connection of the API stayed busy for 0.5 s "
            "(SMARTPARK_API_POOL_SIZE, SMARTPARK_API_POOL_MAX_OVERFLOW): try again shortly",
        }
        assert 0.5 <= took < 5
        assert answers["alerts"].status_code == 200
        assert httpx.get(me, headers=auth(tokens, "viewer")).json()["username"] == "viewer"


def test_an_export_in_progress_takes_nothing_from_the_pool(tsdb: Database) -> None:
    tokens = populate(tsdb)
    load(tsdb, 120)
    limits = {"api_pool_size": 1, "api_pool_max_overflow": 0, "api_pool_timeout": "0.5"}
    viewer = user_id(tsdb, "viewer")
    with serving(tsdb, **limits) as server, httpx.Client(timeout=30) as client:
        exports: UserLimiter = server.app.state.exports
        with psycopg.connect(tsdb.url) as locker:
            # The export's query waits for this lock: the export stays open, its client waiting.
            locker.execute("LOCK TABLE reading IN ACCESS EXCLUSIVE MODE")
            params = {**SO2, **window(200)}
            with client.stream(
                "GET", f"{server.url}{PARK}/readings.csv", params=params,
                headers=auth(tokens, "viewer"),
            ) as export:  # fmt: skip
                assert export.status_code == 200
                wait_until(lambda: backends(tsdb, "smartpark-export", waiting=True) == 1)
                # With a pool of one connection, every other route still answers at once.
                for path in ("/api/v1/me", f"{PARK}/alerts", f"{PARK}/enterprises"):
                    other = httpx.get(server.url + path, headers=auth(tokens, "operator"))
                    assert other.status_code == 200, path
                # A request gives its connection back just after its answer is sent.
                wait_until(lambda: server.engine.pool.checkedout() == 0, 5)
                assert exports.held(viewer) == 1
                locker.commit()  # the export goes on
                lines = export.read().decode().splitlines()
        assert len(lines) == 121
        assert lines[0] == CSV_HEADER
        assert lines[1] == f"{BASE.isoformat()},hz-steel-cems-1,emission.so2,0.0,mg/m3,N"
        assert (
            lines[-1]
            == f"{(BASE + 119 * MINUTE).isoformat()},hz-steel-cems-1,emission.so2,59.0,mg/m3,N"
        )
        # Its connection is closed with it (not returned to any pool), its slot freed.
        wait_until(lambda: backends(tsdb, "smartpark-export") == 0)
        wait_until(lambda: exports.held(viewer) == 0)


def test_an_export_stops_at_the_row_cap_and_says_so_in_its_last_line(tsdb: Database) -> None:
    tokens = populate(tsdb)
    load(tsdb, 12)
    with serving(tsdb, export_max_rows=5) as server:
        url = f"{server.url}{PARK}/readings.csv"
        cut = httpx.get(url, params={**SO2, **window(1)}, headers=auth(tokens, "viewer"))
        assert cut.status_code == 200
        assert cut.headers["x-export-max-rows"] == "5"
        rows = [
            f"{(BASE + m * MINUTE).isoformat()},hz-steel-cems-1,emission.so2,{float(m)},mg/m3,N"
            for m in range(5)
        ]
        assert cut.text.splitlines() == [
            CSV_HEADER,
            *rows,
            "# truncated after 5 rows (SMARTPARK_EXPORT_MAX_ROWS); the next row is at "
            f"{(BASE + 5 * MINUTE).isoformat()}",
        ]
        # Exactly the cap is a whole export: no last line about it.
        five = {"start": BASE.isoformat(), "end": (BASE + 5 * MINUTE).isoformat()}
        whole = httpx.get(url, params={**SO2, **five}, headers=auth(tokens, "viewer"))
        assert whole.text.splitlines() == [CSV_HEADER, *rows]


def test_an_export_past_its_statement_timeout_ends_with_a_line_saying_so(tsdb: Database) -> None:
    tokens = populate(tsdb)
    load(tsdb, 12)
    with serving(tsdb, export_statement_timeout="0.3") as server:
        url = f"{server.url}{PARK}/readings.csv"
        with psycopg.connect(tsdb.url) as locker:
            locker.execute("LOCK TABLE reading IN ACCESS EXCLUSIVE MODE")
            began = time.monotonic()
            cut = httpx.get(url, params={**SO2, **window(1)}, headers=auth(tokens, "viewer"))
            took = time.monotonic() - began
        assert cut.status_code == 200
        assert cut.text.splitlines() == [
            CSV_HEADER,
            "# incomplete after 0 rows: the query ran longer than 0.3 s "
            "(SMARTPARK_EXPORT_STATEMENT_TIMEOUT)",
        ]
        assert took < 5
        wait_until(lambda: backends(tsdb, "smartpark-export") == 0)


def test_exports_are_capped_per_user_apart_from_live_streams(tsdb: Database) -> None:
    tokens = populate(tsdb)
    load(tsdb, 12)
    viewer = user_id(tsdb, "viewer")
    with serving(tsdb, api_max_streams_per_user=1) as server, httpx.Client(timeout=30) as client:
        url = f"{server.url}{PARK}/readings.csv"
        params = {**SO2, **window(1)}
        with psycopg.connect(tsdb.url) as locker:
            locker.execute("LOCK TABLE reading IN ACCESS EXCLUSIVE MODE")
            with (
                client.stream("GET", url, params=params, headers=auth(tokens, "viewer")) as first,
                client.stream("GET", url, params=params, headers=auth(tokens, "operator")) as other,
            ):
                assert (first.status_code, other.status_code) == (200, 200)
                refused = httpx.get(url, params=params, headers=auth(tokens, "viewer"))
                assert refused.status_code == 429
                assert refused.headers["retry-after"] == "3"
                assert refused.headers["content-type"] == PROBLEM
                assert refused.json() == {
                    "type": "about:blank",
                    "title": "Too Many Requests",
                    "status": 429,
                    "detail": "you already have the most CSV exports one user may open (1, "
                    "SMARTPARK_API_MAX_STREAMS_PER_USER): close one and try again",
                }
                # A live stream is counted apart: the viewer may still open one.
                with client.stream(
                    "GET", f"{server.url}{PARK}/alerts/stream", headers=auth(tokens, "viewer")
                ) as live:
                    assert live.status_code == 200
                locker.commit()
                assert len(first.read().decode().splitlines()) == 13
                assert len(other.read().decode().splitlines()) == 13
        wait_until(lambda: server.app.state.exports.held(viewer) == 0)
        again = httpx.get(url, params=params, headers=auth(tokens, "viewer"))
        assert (again.status_code, len(again.text.splitlines())) == (200, 13)


def _ready(response: httpx.Response) -> Iterator[str]:
    """The stream's lines, its opening ones read; hold on to it (dropping the iterator closes
    the connection)."""
    lines = response.iter_lines()
    assert (response.status_code, next(lines), next(lines)) == (200, "retry: 3000", "event: ready")
    return lines


def _raw_stream(base: str, token: str) -> socket.socket:
    """A live stream on a bare socket, read up to its ready event (to drop it abruptly)."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(
        f"GET {PARK}/alerts/stream HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {token}\r\n\r\n".encode()
    )
    seen = b""
    while b"event: ready" not in seen:
        chunk = sock.recv(4096)
        assert chunk, f"closed before the ready event: {seen!r}"
        seen += chunk
    assert seen.startswith(b"HTTP/1.1 200 ")
    return sock


def test_live_streams_are_capped_per_user_and_a_closed_stream_frees_its_slot(
    tsdb: Database,
) -> None:
    tokens = populate(tsdb)
    viewer = user_id(tsdb, "viewer")
    with serving(tsdb, api_max_streams_per_user=2) as server, httpx.Client(timeout=30) as client:
        streams: UserLimiter = server.app.state.streams
        url = f"{server.url}{PARK}/alerts/stream"

        def open_stream(who: str) -> Any:
            return client.stream("GET", url, headers=auth(tokens, who))

        with open_stream("viewer") as first, open_stream("viewer") as second:
            held = [_ready(first), _ready(second)]
            assert streams.held(viewer) == 2
            refused = httpx.get(url, headers=auth(tokens, "viewer"), timeout=10)
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "3"
            assert refused.json() == {
                "type": "about:blank",
                "title": "Too Many Requests",
                "status": 429,
                "detail": "you already have the most live streams one user may open (2, "
                "SMARTPARK_API_MAX_STREAMS_PER_USER): close one and try again",
            }
            # The cap is per user: another user's stream opens.
            with open_stream("operator") as others:
                assert others.status_code == 200
            first.close()  # a client that says goodbye
            del held[0]
            wait_until(lambda: streams.held(viewer) == 1, 10)
            dropped = _raw_stream(server.url, tokens["viewer"])
            assert streams.held(viewer) == 2
            assert httpx.get(url, headers=auth(tokens, "viewer"), timeout=10).status_code == 429
            # A client that vanishes: the connection is reset, no goodbye.
            dropped.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            dropped.close()
            wait_until(lambda: streams.held(viewer) == 1, 10)
            with open_stream("viewer") as third:
                held.append(_ready(third))
                assert streams.held(viewer) == 2
        wait_until(lambda: streams.held(viewer) == 0, 10)


def test_the_limiter_admits_exactly_its_cap_from_many_threads() -> None:
    limiter = UserLimiter(4, "live streams")
    start = threading.Barrier(32)
    granted: list[Any] = []
    refused: list[int] = []

    def take() -> None:
        start.wait()
        try:
            granted.append(limiter.acquire(7))
        except HTTPException as exc:
            refused.append(exc.status_code)

    threads = [threading.Thread(target=take) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert (len(granted), refused) == (4, [429] * 28)
    assert (limiter.held(7), limiter.held(8)) == (4, 0)
    granted[0].release()
    granted[0].release()  # twice frees once
    assert limiter.held(7) == 3
    for slot in granted[1:]:
        slot.release()
    assert limiter.held(7) == 0
    with pytest.raises(HTTPException):
        for _ in range(5):
            limiter.acquire(7)
