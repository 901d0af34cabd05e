"""The dashboard: static files shipped in the package, served by the API's own app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
# Everything the dashboard loads comes from this server; no CDN, no inline script.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def install(app: FastAPI) -> None:
    """Serve the dashboard at / and its assets at /static."""

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        """The dashboard's single page (it asks for a login before showing anything)."""
        headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}
        return FileResponse(STATIC / "index.html", headers=headers)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
