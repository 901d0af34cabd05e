"""`smartpark inputs …` and `smartpark evaluation …`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from smartpark.cli_common import engine_for, fail, settings_or_exit
from smartpark.errors import ConfigurationError, SmartparkError
from smartpark.storage.evaluation import get_evaluation

inputs_app = typer.Typer(help="Periodic inputs no sensor measures.", no_args_is_help=True)
evaluation_app = typer.Typer(help="Green evaluations and their reports.", no_args_is_help=True)


@inputs_app.command("import")
def inputs_import(
    file: Annotated[Path, typer.Argument(help="CSV: park,enterprise,period,key,value,unit")],
    by: Annotated[str, typer.Option(help="Who enters the values (kept with them)")] = "cli",
) -> None:
    """Validate and store periodic inputs (value added, land area, audits, accidents ...)."""
    from smartpark.evaluation.inputs import input_specs, parse_csv, store

    settings = settings_or_exit()
    try:
        rows = parse_csv(file.read_text("utf-8"), input_specs(), str(file))
        engine, _ = engine_for(settings)
        with engine.begin() as conn:
            for row in rows:
                store(conn, row, by)
    except (SmartparkError, OSError) as exc:
        raise fail(SmartparkError(str(exc))) from exc
    typer.echo(f"stored {len(rows)} input(s)")


@evaluation_app.command("run")
def evaluation_run(
    park: Annotated[str, typer.Option(help="Park id")],
    period: Annotated[str, typer.Option(help="2026 or 2026-11")],
    enterprise: Annotated[str | None, typer.Option(help="Evaluate one enterprise")] = None,
) -> None:
    """Compute and store an evaluation (stored evaluations never change)."""
    from smartpark.evaluation.service import run_evaluation

    settings = settings_or_exit()
    try:
        engine, _ = engine_for(settings)
        with engine.begin() as conn:
            evaluation_id = run_evaluation(conn, park, period, datetime.now(UTC), enterprise)
            row = get_evaluation(conn, evaluation_id)
    except SmartparkError as exc:
        raise fail(exc) from exc
    assert row is not None
    index = "withheld" if row["green_index"] is None else f"{row['green_index']:.1f}"
    typer.echo(
        f"evaluation {evaluation_id}: gate {'passed' if row['gate_passed'] else 'failed'}, "
        f"green index {index}"
    )


@evaluation_app.command("report")
def evaluation_report(
    evaluation_id: Annotated[int, typer.Argument(help="Evaluation id")],
    out: Annotated[
        Path, typer.Option(help="Output file; the format follows its suffix: .html .pdf .csv .json")
    ],
) -> None:
    """Write an evaluation's report, with last year's evaluation alongside when there is one."""
    from smartpark.evaluation.render import MEDIA_TYPES, render

    fmt = out.suffix.removeprefix(".")
    settings = settings_or_exit()
    try:
        if fmt not in MEDIA_TYPES:
            raise ConfigurationError(f"--out must end in .{', .'.join(MEDIA_TYPES)}")
        engine, _ = engine_for(settings)
        with engine.connect() as conn:
            row = get_evaluation(conn, evaluation_id)
            if row is None:
                raise ConfigurationError(f"no evaluation {evaluation_id}")
            out.write_bytes(render(conn, row, fmt))
    except SmartparkError as exc:
        raise fail(exc) from exc
    typer.echo(f"wrote {out}")
