"""`smartpark config …` and `smartpark checks …`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine, select

from smartpark.catalogue import load_catalogue
from smartpark.checks.config import ChecksConfig, load_config_file
from smartpark.cli_common import engine_for, fail, settings_or_exit
from smartpark.config import Settings
from smartpark.errors import ConfigurationError, SmartparkError
from smartpark.models import Park
from smartpark.storage.checks import save_config

config_app = typer.Typer(
    help="Checks configuration (limits, targets, permits, factors).", no_args_is_help=True
)
checks_app = typer.Typer(help="Rollups and checks.", no_args_is_help=True)


def import_config(engine: Engine, settings: Settings, file: Path, by: str) -> ChecksConfig:
    config = load_config_file(file, set(load_catalogue(settings.extra_metrics_file)))
    with engine.begin() as conn:
        if conn.execute(select(Park.id).where(Park.id == config.park)).first() is None:
            raise ConfigurationError(f"{file}: park: no park {config.park!r} in the registry")
        save_config(conn, config.park, config.model_dump(mode="json"), by, str(file))
    return config


@config_app.command("import")
def config_import(
    file: Annotated[Path, typer.Argument(help="Checks configuration YAML")],
    by: Annotated[str, typer.Option(help="Who imports it (kept with the version)")] = "cli",
) -> None:
    """Validate and store a park's checks configuration; it is in force from now on."""
    settings = settings_or_exit()
    try:
        engine, _ = engine_for(settings)
        config = import_config(engine, settings, file, by)
    except SmartparkError as exc:
        raise fail(exc) from exc
    typer.echo(
        f"configuration for {config.park}: {len(config.ratios)} ratio(s), "
        f"{len(config.outlets)} outlet(s), {len(config.permits)} permit(s), "
        f"{len(config.factors)} factor set(s)"
    )


def _when(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise typer.BadParameter(f"{text!r} needs a UTC offset, e.g. 2026-11-29T08:00:00+08:00")
    return value.astimezone(UTC)


@checks_app.command("run")
def checks_run(
    at: Annotated[str, typer.Option(help="Evaluate as of this time (ISO with offset)")],
    until: Annotated[
        str | None, typer.Option(help="Re-evaluate every hour from --at to this time")
    ] = None,
    claim_as: Annotated[
        str | None,
        typer.Option(help="Run as a scheduler would: skip a park-hour another one claimed"),
    ] = None,
) -> None:
    """Evaluate the checks as of a past time (deterministic; how late data is caught up)."""
    from smartpark.checks.runner import run_checks, run_range
    from smartpark.checks.scheduler import targets_from

    settings = settings_or_exit()
    try:
        engine, _ = engine_for(settings)
        catalogue = load_catalogue(settings.extra_metrics_file)
        start = _when(at)
        targets = targets_from(settings)
        if claim_as:
            summary = run_checks(engine, start, catalogue, targets, claim_as=claim_as)
        else:
            summary = run_range(engine, start, _when(until) if until else start, catalogue, targets)
    except SmartparkError as exc:
        raise fail(exc) from exc
    typer.echo(
        f"{summary.results} result(s), {summary.violations} alarming, "
        f"{summary.opened} alert(s) opened, {summary.resolved} resolved, "
        f"{summary.skipped_parks} park(s) already claimed"
    )
