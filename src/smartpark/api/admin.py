"""`/api/v1` routes for configuration (targets, limits, permits, factors) and evaluation runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException
from pydantic import BaseModel, Field

from smartpark.api.deps import Caller, Conn, ParkAdmin, in_park, own_enterprise, require
from smartpark.api.routes import whole
from smartpark.api.security import Principal
from smartpark.catalogue import load_catalogue
from smartpark.checks.config import parse_config
from smartpark.config import get_settings
from smartpark.evaluation.service import run_evaluation
from smartpark.storage import dashboard
from smartpark.storage.checks import save_config
from smartpark.storage.evaluation import get_evaluation

router = APIRouter(prefix="/api/v1")
_EXAMPLE = {
    "park": "qinba-demo",
    "ratios": {
        "water_reuse": {
            "source": "MIIT 2016 RG4 industrial water reuse rate, lead value 90%",
            "numerator": ["water.reused"],
            "denominator": ["water.reused", "water.intake"],
            "target": 0.9,
        }
    },
}


def scoped(body: dict[str, Any], enterprise: str | None) -> dict[str, Any]:
    """The configuration as an enterprise user may see it: the park-wide rules, and of the
    per-enterprise parts (outlets, permits, budgets, targets) only their own."""
    if enterprise is None:
        return body
    mine = dict(body)
    for key in ("outlets", "permits"):
        mine[key] = [item for item in body.get(key, []) if item.get("enterprise") == enterprise]
    for key in ("carbon_budget_t", "enterprise_targets"):
        mine[key] = {k: v for k, v in body.get(key, {}).items() if k == enterprise}
    return mine


def _version(conn: Any, park: str, version: int | None) -> dict[str, Any]:
    versions = dashboard.config_versions(conn, park)
    if not versions:
        raise HTTPException(404, f"park {park!r} has no configuration yet")
    wanted = versions[0]["version"] if version is None else version
    row = dashboard.config_version(conn, park, wanted)
    if row is None:
        raise HTTPException(404, f"park {park!r} has no configuration version {version}")
    return row | {"in_force": wanted == versions[0]["version"]}


@router.get("/parks/{park}/config", tags=["configuration"])
def config(park: str, caller: Caller, conn: Conn) -> dict[str, Any]:
    """The configuration in force: validity rules, ratio targets, outlet limits, permits,
    CO2 factor sets, budgets and schedules, each number with its source (an enterprise user
    sees the park-wide rules and only their own outlets, permits, budget and targets)."""
    in_park(caller, park)
    row = _version(conn, park, None)
    return row | {"body": scoped(row["body"], caller.enterprise)}


@router.get("/parks/{park}/config/versions", tags=["configuration"])
def config_versions(park: str, caller: Caller, conn: Conn) -> dict[str, Any]:
    """Every stored version, newest (in force) first, with who imported it."""
    in_park(caller, park)
    return whole(dashboard.config_versions(conn, park))


@router.get("/parks/{park}/config/versions/{version}", tags=["configuration"])
def config_version(park: str, version: int, caller: Caller, conn: Conn) -> dict[str, Any]:
    """One stored version (an enterprise user sees the park-wide rules and their own parts)."""
    in_park(caller, park)
    row = _version(conn, park, version)
    return row | {"body": scoped(row["body"], caller.enterprise)}


@router.put("/parks/{park}/config", tags=["configuration"], status_code=201)
def put_config(
    park: str,
    conn: Conn,
    caller: ParkAdmin,
    body: Annotated[dict[str, Any], Body(examples=[_EXAMPLE])],
) -> dict[str, Any]:
    """Store a new version (admin), validated like `smartpark config import`; it is in force
    from the next check run. Earlier versions stay for the record."""
    in_park(caller, park)
    if body.get("park") != park:
        raise HTTPException(422, f"park: the document must name this park ({park!r})")
    known = set(load_catalogue(get_settings().extra_metrics_file))
    parsed = parse_config(body, "body", known)
    version = save_config(conn, park, parsed.model_dump(mode="json"), caller.username, None)
    return _version(conn, park, version)


class EvaluationRequest(BaseModel):
    """Which period (and optionally which enterprise) to evaluate."""

    period: str = Field(pattern=r"^\d{4}(-\d{2})?$", examples=["2026", "2026-11"])
    enterprise: str | None = Field(default=None, examples=["hz-steel"])


@router.post("/parks/{park}/evaluations", tags=["evaluation"], status_code=201)
def run(
    park: str,
    body: EvaluationRequest,
    conn: Conn,
    caller: Annotated[Principal, Depends(require("operator"))],
) -> dict[str, Any]:
    """Compute and store an evaluation now (operator); stored evaluations never change."""
    in_park(caller, park)
    own_enterprise(caller, body.enterprise, "evaluate")
    if body.enterprise is not None and not dashboard.enterprise_exists(conn, park, body.enterprise):
        raise HTTPException(404, f"no enterprise {body.enterprise!r} in park {park!r}")
    evaluation_id = run_evaluation(conn, park, body.period, datetime.now(UTC), body.enterprise)
    row = get_evaluation(conn, evaluation_id)
    assert row is not None  # just stored
    keep = ("id", "enterprise", "period_label", "gate_passed", "green_index", "computed_at")
    return {k: row[k] for k in keep if k in row} | {"id": evaluation_id}
