"""Schema upgrades through Alembic, with the TimescaleDB decision made once per database."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from smartpark.db import use_timescaledb
from smartpark.errors import ConfigurationError

log = logging.getLogger(__name__)


def migrations_dir() -> Path:
    """The Alembic scripts: packaged in a wheel, or the repository's top-level migrations/."""
    packaged = Path(__file__).resolve().parent.parent / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return config


def upgrade(engine: Engine, timescaledb_mode: str, revision: str = "head") -> bool:
    """Upgrade the schema to `revision`; returns whether the hypertable path is in use."""
    config = _config()
    with engine.begin() as conn:
        timescale = use_timescaledb(conn, timescaledb_mode)
        config.attributes["connection"] = conn
        config.attributes["timescaledb"] = timescale
        command.upgrade(config, revision)
    log.info("database schema at %s (%s)", revision, "TimescaleDB" if timescale else "PostgreSQL")
    return timescale


def check_schema(engine: Engine) -> None:
    """Refuse to run on a schema other than this version's head (it would fail every write)."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        raise ConfigurationError(
            f"database schema is at revision {current or 'none'}, this smartpark needs {head}: "
            "run `smartpark db upgrade`"
        )
