"""Alembic environment: smartpark's models, run on a connection handed in by smartpark."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from smartpark.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    """Run on the connection smartpark passes in, or on sqlalchemy.url from alembic.ini."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("smartpark migrations run online only: use `smartpark db upgrade`")
run_migrations()
