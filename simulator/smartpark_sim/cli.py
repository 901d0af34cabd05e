"""The `smartpark-sim` command line (docs/simulator.md)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from smartpark_sim.engine import Engine
from smartpark_sim.manifest import Manifest
from smartpark_sim.publisher import Fleet
from smartpark_sim.runner import floor_minute, parse_range, run
from smartpark_sim.scenario import ScenarioError, load_scenario, parse_duration

app = typer.Typer(
    help="A simulated smart industrial park speaking smartpark's MQTT contract.",
    no_args_is_help=True,
)


def _scenario(path: Path) -> Any:
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def registry(scenario: Annotated[Path, typer.Argument(help="Scenario YAML")]) -> None:
    """Print the device registry for `smartpark devices import`."""
    typer.echo(
        yaml.safe_dump(_scenario(scenario).registry(), sort_keys=False, allow_unicode=True),
        nl=False,
    )


@app.command("run")
def run_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML")],
    broker: Annotated[
        str, typer.Option(help="mqtt://[user:pass@]host:port")
    ] = "mqtt://127.0.0.1:1883",
    speed: Annotated[
        float, typer.Option(help="Clock speed: 1 real time, 60 one hour per minute")
    ] = 1.0,
    backfill: Annotated[
        str | None, typer.Option(help="FROM..TO (ISO, 'now', -3d) as fast as the broker takes it")
    ] = None,
    follow: Annotated[bool, typer.Option(help="After the backfill, go on live at --speed")] = False,
    duration: Annotated[
        str | None, typer.Option(help="Stop after this much simulated time (live mode)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed")] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="Write what was published here (JSON)")
    ] = None,
    state: Annotated[Path | None, typer.Option(help="Resume from / save device state here")] = None,
    mqtt3: Annotated[bool, typer.Option("--mqtt3", help="Speak MQTT 3.1.1 instead of 5")] = False,
    max_rate: Annotated[
        float | None, typer.Option(help="Cap the backfill at this many messages per second")
    ] = None,
) -> None:
    """Run the scenario's devices against a broker."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    spec = _scenario(scenario)
    if seed is not None:
        spec = spec.model_copy(update={"seed": seed})
    now = floor_minute(datetime.now(UTC))
    saved = json.loads(state.read_text()) if state and state.exists() else None
    try:
        if backfill:
            t_from, t_to = parse_range(backfill, now)
        elif speed > 1:
            # Accelerated: start in the past so the clock reaches the present at the end of
            # --duration (or after a day), and runs at real time from then on.
            ahead = parse_duration(duration) if duration else timedelta(days=1)
            t_from, t_to = now - ahead * speed / (speed - 1), None
        else:
            t_from, t_to = now, None
        if saved:
            # Pick up where the previous run stopped, as loggers upload what they buffered
            # (a live run first sends the gap at once, then goes on in real time).
            resume = datetime.fromisoformat(saved["until"]) + timedelta(seconds=1)
            t_from = (
                max(t_from, resume)
                if backfill
                else min(t_from, max(resume, now - timedelta(days=7)))
            )
        end = t_from + parse_duration(duration) if duration else None
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    live_from = t_to if backfill and follow else (None if backfill else max(now, t_from))
    stop_at = end if end is not None else (None if (follow or not backfill) else t_to)
    engine = Engine(spec, run_start=t_from, saved=saved["devices"] if saved else None)
    import paho.mqtt.client as paho

    fleet = Fleet(broker, spec.park.id, paho.MQTTv311 if mqtt3 else paho.MQTTv5)
    record = Manifest(scenario.name, spec.seed, "backfill" if backfill and not follow else "live")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    sent = run(
        engine,
        fleet,
        record,
        t_from,
        stop_at,
        live_from=live_from,
        speed=speed,
        max_rate=max_rate,
        stop=stop,
        progress=sys.stderr.isatty() or backfill is not None,
    )
    fleet.close()
    if manifest:
        record.write(manifest)
    if state:
        last = max(
            (
                max(m.last for m in d.metrics.values() if m.last)
                for d in record.devices.values()
                if d.metrics
            ),
            default=t_from,
        )
        state.write_text(json.dumps({"until": last.isoformat(), "devices": engine.snapshot()}))
    typer.echo(f"published {sent} messages from {len(engine.devices)} devices", err=True)


@app.command()
def load(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML (e.g. scenarios/load.yaml)")],
    broker: Annotated[str, typer.Option(help="mqtt://host:port")] = "mqtt://127.0.0.1:1883",
    rate: Annotated[float, typer.Option(help="Target messages per second, all processes")] = 1000.0,
    duration: Annotated[str, typer.Option(help="How long to publish (e.g. 60s)")] = "10s",
    processes: Annotated[int, typer.Option(min=1, help="Publisher processes")] = 1,
    connections: Annotated[int, typer.Option(min=1, help="MQTT connections per process")] = 2,
    manifest: Annotated[Path | None, typer.Option(help="Write the merged manifest (JSON)")] = None,
) -> None:
    """Publish the fleet at a target rate; prints the rate actually achieved."""
    from urllib.parse import urlsplit

    from smartpark_sim.load import run_load
    from smartpark_sim.wire import PublishError

    _scenario(scenario)
    parts = urlsplit(broker)
    seconds = parse_duration(duration).total_seconds()
    address = (parts.hostname or "127.0.0.1", parts.port or 1883)
    try:
        result = run_load(
            scenario, address, rate=rate, duration=seconds, processes=processes,
            connections=connections,
        )  # fmt: skip
    except (PublishError, OSError) as exc:
        typer.echo(f"load run failed, no manifest written: {exc}", err=True)
        raise typer.Exit(1) from exc
    if manifest:
        manifest.write_text(json.dumps(result, indent=2))
    stats = result["load"]
    typer.echo(
        f"published {stats['messages']} messages in {stats['seconds']:.1f} s: "
        f"{stats['achieved_rate']:,.0f} msg/s achieved (target {rate:,.0f})"
    )


def main() -> None:
    """Entry point."""
    app()
