"""Errors as RFC 9457 problem details, with a message a person can act on."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg.errors import QueryCanceled
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from smartpark.config import Settings
from smartpark.errors import ConfigurationError, SmartparkError

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
TITLES = {
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
    429: "Too Many Requests", 503: "Service Unavailable", 504: "Query Timeout",
}  # fmt: skip


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """A problem-details response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def install(app: FastAPI) -> None:
    """Every error the app raises leaves as problem+json."""

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        response = problem(exc.status_code, TITLES.get(exc.status_code, "Error"), str(exc.detail))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "Invalid request", detail, errors=errors)

    @app.exception_handler(ConfigurationError)
    async def _unprocessable(_: Request, exc: ConfigurationError) -> JSONResponse:
        return problem(422, "Invalid request", str(exc))

    @app.exception_handler(DataError)
    async def _bad_value(_: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the caller sent (a NUL character, a number or date out
        # of range): the request is at fault, and the transaction has been rolled back.
        reason = str(exc.orig).splitlines()[0] if exc.orig else "a value is out of range"
        return problem(422, "Invalid request", f"a value cannot be stored or compared: {reason}")

    @app.exception_handler(SmartparkError)
    async def _domain(_: Request, exc: SmartparkError) -> JSONResponse:
        return problem(409, "Conflict", str(exc))

    @app.exception_handler(PoolTimeout)
    async def _pool_busy(request: Request, _: PoolTimeout) -> JSONResponse:
        # Every pooled connection stayed busy for the whole wait: shed load, do not queue more.
        wait = _settings(request).api_pool_timeout.total_seconds()
        log.warning("%s: no API database connection free within %s s", request.url.path, wait)
        response = problem(
            503, TITLES[503],
            f"every database connection of the API stayed busy for {wait:g} s "
            "(SMARTPARK_API_POOL_SIZE, SMARTPARK_API_POOL_MAX_OVERFLOW): try again shortly",
        )  # fmt: skip
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response

    @app.exception_handler(OperationalError)
    async def _cancelled(request: Request, exc: OperationalError) -> JSONResponse:
        if not isinstance(exc.orig, QueryCanceled):
            raise exc  # the database is unreachable or failing: a server error, as before
        limit = _settings(request).api_statement_timeout.total_seconds()
        log.warning("%s: query cancelled after %s s: %s", request.url.path, limit, exc.orig)
        return problem(
            504, TITLES[504],
            f"the query ran longer than the API's statement timeout of {limit:g} s "
            "(SMARTPARK_API_STATEMENT_TIMEOUT) and was cancelled: ask for less "
            "(a shorter range, a larger bucket, a smaller page)",
            timeout_seconds=limit,
        )  # fmt: skip


def _settings(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value
