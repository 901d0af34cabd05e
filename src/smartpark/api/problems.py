"""Errors as RFC 9457 problem details, with a message a person can act on."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from smartpark.errors import ConfigurationError, SmartparkError

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """A problem-details response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def install(app: FastAPI) -> None:
    """Every error the app raises leaves as problem+json."""

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        titles = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}
        response = problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))
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
