"""The `smartpark` command line."""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from smartpark.api.commands import users_app
from smartpark.catalogue import load_catalogue
from smartpark.checks.commands import checks_app, config_app, import_config
from smartpark.cli_common import engine_for, fail, settings_or_exit, upgrade_schema
from smartpark.config import MqttEndpoint, Settings
from smartpark.db import libpq_url, make_api_engine, resolve_database_url
from smartpark.embedded.broker import EmbeddedBroker, free_port
from smartpark.errors import ConfigurationError, SmartparkError
from smartpark.evaluation.commands import evaluation_app, inputs_app
from smartpark.ingestion.service import Ingestor
from smartpark.registry.schema import load_registry_file
from smartpark.storage.migrate import check_schema
from smartpark.storage.registry import import_registry
from smartpark.storage.retention import apply_all

log = logging.getLogger("smartpark")

app = typer.Typer(
    help="smartpark: eco-monitoring backend for smart industrial parks.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
devices_app = typer.Typer(help="The device registry.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(devices_app, name="devices")

app.add_typer(config_app, name="config")
app.add_typer(checks_app, name="checks")
app.add_typer(inputs_app, name="inputs")
app.add_typer(evaluation_app, name="evaluation")
app.add_typer(users_app, name="users")


# The usual MQTT port when free, else the next one, so `make run` prints a stable address.
EMBEDDED_BROKER_PORTS = (1883, 1884)


def _broker(settings: Settings) -> tuple[Settings, MqttEndpoint, EmbeddedBroker | None]:
    """The configured broker, or a started embedded one (which speaks MQTT 3.1.1 only)."""
    endpoint = settings.mqtt_endpoint()
    if endpoint is not None:
        return settings, endpoint, None
    broker = EmbeddedBroker(free_port(*EMBEDDED_BROKER_PORTS))
    broker.start()
    settings = settings.model_copy(update={"mqtt_protocol": "3.1.1"})
    return settings, MqttEndpoint.parse(broker.url), broker


def _wait_for_signal(ingestor: Ingestor) -> bool:
    """Wait for SIGTERM/SIGINT; False if the writer died first (exit non-zero)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        if not ingestor.writer.alive:
            return False
    return True


def _ingestor(settings: Settings, engine: Engine, url: str, endpoint: MqttEndpoint) -> Ingestor:
    try:
        return Ingestor(settings, engine, url, endpoint)
    except SmartparkError as exc:
        raise fail(exc) from exc


@db_app.command("upgrade")
def dbupgrade_schema() -> None:
    """Create or upgrade the schema and sync the metric catalogue."""
    settings = settings_or_exit()
    try:
        engine, _ = engine_for(settings)
        timescale = upgrade_schema(settings, engine)
    except SmartparkError as exc:
        raise fail(exc) from exc
    typer.echo(
        f"schema up to date ({'TimescaleDB hypertable' if timescale else 'plain PostgreSQL'})"
    )


@db_app.command("retention")
def db_retention(
    keep_days: Annotated[
        int | None,
        typer.Option(
            min=1, help="Keep readings of the last N days (instead of RETENTION_READINGS)"
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Only count what would be removed")] = False,
) -> None:
    """Remove what is older than its retention (docs/configuration.md): one line per resource."""
    from smartpark.checks.scheduler import retention_policy

    settings = settings_or_exit()
    policy = retention_policy(settings)
    if keep_days is not None:
        policy = dataclasses.replace(policy, readings=timedelta(days=keep_days))
    try:
        engine, _ = engine_for(settings)
    except SmartparkError as exc:
        raise fail(exc) from exc
    with engine.connect() as conn:
        report = apply_all(conn, policy, now=datetime.now(UTC), dry_run=dry_run)
    removed = "would be removed" if dry_run else "removed"
    for entry in report.entries():
        typer.echo(
            f"{entry.resource}: {entry.count} {entry.unit}(s) {removed}, "
            f"older than {entry.cutoff.isoformat()}"
        )


@db_app.command("url")
def db_url() -> None:
    """Print the database URL for psql or Grafana (starting the embedded server if needed)."""
    settings = settings_or_exit()
    try:
        url = resolve_database_url(settings)
    except SmartparkError as exc:
        raise fail(exc) from exc
    typer.echo(libpq_url(url))


@devices_app.command("import")
def devices_import(file: Annotated[Path, typer.Argument(help="Registry YAML file")]) -> None:
    """Import (or re-import) parks, enterprises and devices from a YAML file."""
    settings = settings_or_exit()
    try:
        catalogue = load_catalogue(settings.extra_metrics_file)
        registry = load_registry_file(file, set(catalogue))
        engine, _ = engine_for(settings)
        with engine.begin() as conn:
            summary = import_registry(conn, registry, settings.default_timezone)
    except SmartparkError as exc:
        raise fail(exc) from exc
    typer.echo(
        f"imported {summary.parks} park(s), {summary.enterprises} enterprise(s), "
        f"{summary.devices} device(s)"
    )


@app.command()
def scheduler() -> None:
    """Run rollups, checks and notification delivery on their schedules until SIGTERM."""
    from smartpark.checks.scheduler import Scheduler

    settings = settings_or_exit()
    try:
        engine, _ = engine_for(settings)
        check_schema(engine)
        jobs = Scheduler(engine, settings, settings.mqtt_endpoint())
    except SmartparkError as exc:
        raise fail(exc) from exc
    jobs.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    jobs.stop()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    api_only: Annotated[
        bool, typer.Option(help="Only the API and dashboard (ingest and scheduler run apart)")
    ] = False,
) -> None:
    """Production: the API and dashboard, the ingestor and the scheduler against the
    configured database and broker (with --api-only, the API alone)."""
    import uvicorn

    from smartpark.api.app import create_app
    from smartpark.api.server import GRACE_SECONDS, ApiServer
    from smartpark.checks.scheduler import Scheduler, retention_trigger

    settings = settings_or_exit()
    try:
        if not api_only and (missing := _unconfigured(settings)):
            raise ConfigurationError(
                f"smartpark serve runs against configured services: set {' and '.join(missing)}"
                " (smartpark run starts embedded ones)"
            )
        if not api_only:
            retention_trigger(settings)  # the scheduler starts after the ingestor: check first
        engine, url = engine_for(settings)
        check_schema(engine)
    except SmartparkError as exc:
        raise fail(exc) from exc
    if api_only:
        api_engine = make_api_engine(url, settings)
        uvicorn.run(
            create_app(api_engine, settings=settings), host=host, port=port,
            log_level=settings.log_level.lower(), timeout_graceful_shutdown=GRACE_SECONDS,
        )  # fmt: skip
        api_engine.dispose()
        return
    endpoint = settings.mqtt_endpoint()
    if endpoint is None:  # _unconfigured said so already; this tells the type checker
        raise fail(ConfigurationError("set SMARTPARK_MQTT_URL"))
    ingestor = _ingestor(settings, engine, url, endpoint)
    ingestor.start()
    jobs = Scheduler(engine, settings, endpoint)
    jobs.start()
    api = ApiServer(engine, ingestor.stats, host, port, settings=settings)
    api.start()
    log.info("serving %s; ingesting from %s", api.url, endpoint.url())
    healthy = _wait_for_signal(ingestor)
    api.stop()
    jobs.stop()
    drained = ingestor.stop()
    raise typer.Exit(0 if healthy and drained else 1)


def _unconfigured(settings: Settings) -> list[str]:
    pairs = (("SMARTPARK_DATABASE_URL", settings.database_url),
             ("SMARTPARK_MQTT_URL", settings.mqtt_url))  # fmt: skip
    return [name for name, value in pairs if not value]


@app.command()
def ingest() -> None:
    """Run the ingestor until SIGTERM/SIGINT, then flush, acknowledge and exit 0."""
    settings = settings_or_exit()
    try:
        engine, url = engine_for(settings)
        settings, endpoint, broker = _broker(settings)
    except SmartparkError as exc:
        raise fail(exc) from exc
    ingestor = _ingestor(settings, engine, url, endpoint)
    ingestor.start()
    log.info("ingesting from %s", endpoint.url())
    healthy = _wait_for_signal(ingestor)
    drained = ingestor.stop()
    if broker is not None:
        broker.stop()
    raise typer.Exit(0 if healthy and drained else 1)


@app.command()
def run(
    registry: Annotated[Path | None, typer.Option(help="Registry YAML to import at start")] = None,
    simulate: Annotated[
        Path | None, typer.Option(help="Run the park simulator on this scenario against the broker")
    ] = None,
    backfill_days: Annotated[
        float, typer.Option(help="With --simulate: history to backfill before going live")
    ] = 3.0,
    checks_config: Annotated[
        Path | None, typer.Option(help="Checks configuration YAML to import at start")
    ] = None,
    port: Annotated[int, typer.Option(help="Port of the API on 127.0.0.1")] = 8000,
) -> None:
    """The whole system on the embedded default (or on configured services)."""
    from smartpark.api.server import ApiServer, ensure_admin
    from smartpark.checks.scheduler import Scheduler, retention_trigger, targets_from
    from smartpark.demo import DemoPark

    settings = settings_or_exit()
    try:
        retention_trigger(settings)  # the scheduler starts after the ingestor: check first
        engine, url = engine_for(settings)
        upgrade_schema(settings, engine)
        if registry is not None:
            doc = load_registry_file(registry, set(load_catalogue(settings.extra_metrics_file)))
            with engine.begin() as conn:
                import_registry(conn, doc, settings.default_timezone)
        if checks_config is not None:
            import_config(engine, settings, checks_config, "smartpark run")
        settings, endpoint, broker = _broker(settings)
    except SmartparkError as exc:
        raise fail(exc) from exc
    ingestor = _ingestor(settings, engine, url, endpoint)
    ingestor.start()
    jobs = Scheduler(engine, settings, endpoint)
    jobs.start()
    api = ApiServer(engine, ingestor.stats, "127.0.0.1", port, settings=settings)
    api.start()
    login = ensure_admin(engine, settings.data_dir)
    credentials = f"  log in as {login[0]} / {login[1]}\n" if login else ""
    typer.echo(
        f"smartpark is running.\n"
        f"  dashboard: {api.url}/\n{credentials}"
        f"  API: {api.url}/api/v1 (docs/api.md)\n"
        f"  publish telemetry to {endpoint.url()} on "
        f"{settings.mqtt_topic_prefix}/{{park}}/{{enterprise}}/{{device}}/telemetry"
        " (docs/mqtt.md)\n"
        f"  database: {engine.url.render_as_string(hide_password=True)}\n"
        "  stop with Ctrl-C"
    )
    demo = None
    if simulate is not None:
        catalogue = load_catalogue(settings.extra_metrics_file)
        demo = DemoPark(
            simulate, endpoint, settings, timedelta(days=backfill_days), engine, catalogue,
            targets_from(settings), ingestor.stats,
        )  # fmt: skip
        demo.start()
        typer.echo(f"  simulator: {simulate.name}, {backfill_days:g} days of history, then live")
    healthy = _wait_for_signal(ingestor)
    if demo is not None:
        demo.stop()
    api.stop()
    jobs.stop()
    ingestor.stop()
    if broker is not None:
        broker.stop()
    raise typer.Exit(0 if healthy else 1)


def main() -> None:
    """Entry point."""
    app()
