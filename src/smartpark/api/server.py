"""The API served in-process by `smartpark run`, and the first admin it creates."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

import uvicorn
from sqlalchemy import Engine, text

from smartpark.api.app import create_app
from smartpark.api.security import hash_password
from smartpark.config import Settings, get_settings
from smartpark.db import make_api_engine
from smartpark.ingestion.stats import IngestStats
from smartpark.storage.users import create_user, user_by_name

# Seconds open requests (live streams above all) get to finish on shutdown.
GRACE_SECONDS = 3


class ApiServer:
    """uvicorn on its own thread, with a pool of its own to `engine`'s database."""

    def __init__(
        self,
        engine: Engine,
        stats: IngestStats | None,
        host: str,
        port: int,
        *,
        settings: Settings | None = None,
    ):
        settings = settings or get_settings()
        # Not `engine` itself: the API's statement timeout must not cut the scheduler's long
        # jobs, and slow API clients must not take the ingestor's connections.
        url = engine.url.render_as_string(hide_password=False)
        self.engine = make_api_engine(url, settings)
        self.app = create_app(self.engine, stats, settings=settings)
        # Live alert streams never end by themselves: give them a few seconds on shutdown.
        config = uvicorn.Config(
            self.app, host=host, port=port, log_level="warning",
            timeout_graceful_shutdown=GRACE_SECONDS,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)
        self.url = f"http://{host}:{port}"

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Finish open requests and stop."""
        self._server.should_exit = True
        self._thread.join(10)
        self.engine.dispose()


def ensure_admin(engine: Engine, data_dir: Path) -> tuple[str, str] | None:
    """On a fresh embedded install, an `admin` for the first park whose password is kept in
    the data directory (mode 0600) so `smartpark run` can print the login every time."""
    secret_file = data_dir / "admin-password"
    with engine.begin() as conn:
        park = conn.execute(text("SELECT id FROM park ORDER BY id LIMIT 1")).scalar()
        if park is None:
            return None
        if user_by_name(conn, "admin") is None:
            password = secrets.token_urlsafe(12)
            create_user(
                conn,
                {
                    "username": "admin",
                    "password_hash": hash_password(password),
                    "role": "admin",
                    "park": park,
                    "enterprise": None,
                },
            )
            secret_file.write_text(password + "\n")
            secret_file.chmod(0o600)
    if not secret_file.exists():
        return None  # an admin made by hand: its password is not ours to show
    return "admin", secret_file.read_text().strip()
