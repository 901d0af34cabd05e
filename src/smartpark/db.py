"""Database URLs, engines and the TimescaleDB capability check."""

from __future__ import annotations

import logging
from datetime import timedelta

import psycopg
from sqlalchemy import Engine, NullPool, create_engine, make_url, text
from sqlalchemy.engine import Connection

from smartpark.config import Settings
from smartpark.errors import ConfigurationError

log = logging.getLogger(__name__)


def sqlalchemy_url(url: str) -> str:
    """Normalise any postgres URL to SQLAlchemy's psycopg 3 dialect."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigurationError(
            f"SMARTPARK_DATABASE_URL must be a PostgreSQL URL, got {parsed.drivername}://"
        )
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same URL as plain libpq/psycopg understands it."""
    parsed = make_url(sqlalchemy_url(url))
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def resolve_database_url(settings: Settings) -> str:
    """The configured database, or the embedded PostgreSQL started on demand."""
    if settings.database_url:
        return sqlalchemy_url(settings.database_url)
    from smartpark.embedded.postgres import start_embedded_postgres

    return sqlalchemy_url(start_embedded_postgres(settings.data_dir))


def make_engine(url: str) -> Engine:
    """An engine with pre-ping so a restarted database is noticed, not crashed on."""
    return create_engine(sqlalchemy_url(url), pool_pre_ping=True, pool_size=5, max_overflow=5)


def make_api_engine(url: str, settings: Settings) -> Engine:
    """The API's own pool, sized by the settings, each statement bounded by its timeout."""
    return create_engine(
        sqlalchemy_url(url),
        pool_pre_ping=True,
        pool_size=settings.api_pool_size,
        max_overflow=settings.api_pool_max_overflow,
        pool_timeout=settings.api_pool_timeout.total_seconds(),
        connect_args=_session(url, "smartpark-api", settings.api_statement_timeout),
    )


def make_export_engine(url: str, settings: Settings) -> Engine:
    """A connection per CSV export, opened for it and closed after it (no pool to hold)."""
    return create_engine(
        sqlalchemy_url(url),
        poolclass=NullPool,
        connect_args=_session(url, "smartpark-export", settings.export_statement_timeout),
    )


def _session(url: str, name: str, statement_timeout: timedelta) -> dict[str, str]:
    # Set at connection start (libpq `options`), not by a SET that a rollback would undo; the
    # name shows in pg_stat_activity. Options and a name given in the URL are kept.
    query = make_url(sqlalchemy_url(url)).query
    given = query.get("options") or ()
    options = [*((given,) if isinstance(given, str) else given)]
    options.append(f"-c statement_timeout={statement_timeout // timedelta(milliseconds=1)}")
    named = query.get("application_name") or name
    return {"options": " ".join(options), "application_name": str(named)}


def connect_raw(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """A plain psycopg connection for the ingestion hot path (COPY)."""
    return psycopg.connect(libpq_url(url), autocommit=False)


def timescaledb_installed(conn: Connection) -> bool:
    """Whether the timescaledb extension is created in this database."""
    return bool(
        conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).scalar()
    )


def timescaledb_available(conn: Connection) -> bool:
    """Whether the server could load timescaledb (preloaded and installed)."""
    row = conn.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    ).scalar()
    if not row:
        return False
    preload = conn.execute(text("SHOW shared_preload_libraries")).scalar() or ""
    return "timescaledb" in str(preload)


def use_timescaledb(conn: Connection, mode: str) -> bool:
    """Decide between the hypertable path and plain PostgreSQL for `mode` auto/on/off."""
    if mode == "off":
        return False
    available = timescaledb_available(conn) or timescaledb_installed(conn)
    if mode == "on" and not available:
        raise ConfigurationError(
            "SMARTPARK_TIMESCALEDB=on but the server has no preloaded timescaledb extension "
            "(run deploy/install-services.sh or set SMARTPARK_TIMESCALEDB=auto)"
        )
    return available
