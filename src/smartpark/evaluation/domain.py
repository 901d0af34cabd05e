"""Indicator values, the basic-requirement gate and the green index, as pure functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smartpark.evaluation.indicators import (
    EnergyTable,
    Formula,
    GateItem,
    Indicator,
    IndicatorSet,
    Term,
)


@dataclass(slots=True)
class Quantities:
    """What the formulas may use, for one subject (enterprise or park) and period."""

    metrics: dict[str, float] = field(default_factory=dict)  # consumption in canonical units
    coverage: dict[str, float] = field(default_factory=dict)  # share of the period with data
    inputs: dict[str, float] = field(default_factory=dict)
    energy_tce: dict[str, float] = field(default_factory=dict)  # all, clean, renewable
    co2_t: float | None = None


@dataclass(frozen=True, slots=True)
class Value:
    """An indicator's value with where it came from and what was missing."""

    value: float | None
    provenance: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


def energy_accounts(consumption: dict[str, float], table: EnergyTable) -> dict[str, Any]:
    """Energy by carrier in tonnes of standard coal equivalent, and the clean/renewable shares."""
    carriers = {}
    totals = {"all": 0.0, "clean": 0.0, "renewable": 0.0}
    for metric, carrier in table.carriers.items():
        amount = consumption.get(metric)
        if amount is None:
            continue
        tce = amount * carrier.kgce_per_unit / 1000
        carriers[metric] = {"amount": amount, "tce": tce, "kgce_per_unit": carrier.kgce_per_unit}
        totals["all"] += tce
        totals["clean"] += tce if carrier.clean else 0.0
        totals["renewable"] += tce if carrier.renewable else 0.0
    shares = {
        k: (v / totals["all"] if totals["all"] else None) for k, v in totals.items() if k != "all"
    }
    return {"carriers": carriers, "tce": totals, "shares": shares, "source": table.source}


def co2_tonnes(consumption: dict[str, float], factors: dict[str, float]) -> float | None:
    """CO2 from energy consumption through factors in kg per canonical unit."""
    used = [m for m in factors if m in consumption]
    if not used:
        return None
    return sum(consumption[m] * factors[m] for m in used) / 1000


def _term(term: Term, q: Quantities) -> Value:
    if term.metric is not None:
        if term.metric not in q.metrics:
            return Value(None, missing=(f"no data for {term.metric}",))
        coverage = q.coverage.get(term.metric, 0.0)
        return Value(
            q.metrics[term.metric], (f"{term.metric}: telemetry, {coverage:.0%} of the period",)
        )
    if term.input is not None:
        if term.input not in q.inputs:
            return Value(None, missing=(f"input {term.input} not entered",))
        return Value(q.inputs[term.input], (f"{term.input}: periodic input",))
    if term.energy_tce is not None:
        if not q.energy_tce.get("all"):
            return Value(None, missing=("no energy data",))
        return Value(
            q.energy_tce[term.energy_tce], (f"energy ({term.energy_tce}) in tce: telemetry",)
        )
    if q.co2_t is None:
        return Value(None, missing=("no energy data for CO2",))
    return Value(q.co2_t, ("CO2: energy telemetry x emission factors",))


def _sum(terms: Term | list[Term] | None, q: Quantities) -> Value:
    values = [_term(t, q) for t in (terms if isinstance(terms, list) else [terms] if terms else [])]
    missing = tuple(m for v in values for m in v.missing)
    provenance = tuple(p for v in values for p in v.provenance)
    if missing or not values:
        return Value(None, provenance, missing or ("formula has no terms",))
    return Value(sum(v.value or 0.0 for v in values), provenance)


def _quotient(f: Formula, q: Quantities) -> Value:
    num, den = _sum(f.numerator, q), _sum(f.denominator, q)
    provenance, missing = num.provenance + den.provenance, num.missing + den.missing
    # For a share the denominator's terms already include the numerator's (reused / (reused +
    # intake)); a quotient divides two independent quantities. Both are a plain division here.
    if num.value is None or den.value is None:
        return Value(None, provenance, missing)
    if den.value == 0:
        return Value(None, provenance, ("denominator is zero",))
    return Value(num.value / den.value * f.scale, provenance)


def indicator_value(ind: Indicator, current: Quantities, previous: Quantities | None) -> Value:
    """An indicator's value for a period; the year-on-year kinds need the previous period."""
    f = ind.value
    if f.kind in ("quotient", "share"):
        return _quotient(f, current)
    if f.kind == "input":
        assert f.input is not None
        return _term(Term(input=f.input), current)
    if previous is None:
        return Value(None, missing=("needs the previous period",))
    cur_num, cur_den = _sum(f.numerator, current), _sum(f.denominator, current)
    old_num, old_den = _sum(f.numerator, previous), _sum(f.denominator, previous)
    parts = (cur_num, cur_den, old_num, old_den)
    missing = tuple(m for p in parts for m in p.missing)
    provenance = (*dict.fromkeys(p for v in parts for p in v.provenance), "previous period")
    if missing or any(p.value in (None, 0) for p in (cur_den, old_num, old_den)):
        return Value(None, provenance, missing or ("a zero in the previous period",))
    cn, cd, on, od = (float(p.value or 0.0) for p in parts)
    if f.kind == "reduction":  # of the intensity numerator/denominator, in percent
        old_intensity, new_intensity = on / od, cn / cd
        return Value((old_intensity - new_intensity) / old_intensity * 100, provenance)
    growth = (cd - od) / od  # elasticity: emission growth over value-added growth
    if growth == 0:
        return Value(None, provenance, ("value added did not change",))
    return Value(((cn - on) / on) / growth, provenance)


def score(value: float, lead: float, direction: str, cap: float) -> float:
    """One index term: x / lead (lead / x when lower is better), capped."""
    if direction == "higher":
        return min(value / lead, cap)
    if value <= 0:
        return cap
    return min(lead / value, cap)


def green_index(scores: list[float]) -> float | None:
    """GI = (100 / N) x sum of the terms of the N indicators used."""
    return 100 * sum(scores) / len(scores) if scores else None


def gate(
    items: list[GateItem], inputs: dict[str, float], violations: dict[str, int]
) -> list[dict[str, Any]]:
    """Each basic requirement: passed True/False, or None when its input is missing."""
    out = []
    for item in items:
        if item.input is not None:
            actual: float | None = inputs.get(item.input)
        else:
            actual = float(
                sum(
                    n
                    for prefix, n in violations.items()
                    if any(prefix.startswith(p) for p in item.violations or [])
                )
            )
        passed = (
            None
            if actual is None
            else {
                "eq": actual == item.value,
                "ge": actual >= item.value,
                "le": actual <= item.value,
            }[item.op]
        )
        out.append(
            {
                "id": item.id,
                "text": item.text,
                "actual": actual,
                "required": f"{item.op} {item.value:g}",
                "passed": passed,
            }
        )
    return out


def evaluate(
    spec: IndicatorSet, current: Quantities, previous: Quantities | None,
    violations: dict[str, int], leads: dict[str, float] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The whole evaluation: every indicator with provenance, the gate, the index, the weakest."""
    rows: list[dict[str, Any]] = []
    for ind in spec.indicators:
        lead = (leads or {}).get(ind.id, ind.lead)
        v = indicator_value(ind, current, previous)
        term = None if v.value is None else score(v.value, lead, ind.direction, spec.index.cap)
        rows.append({
            "id": ind.id, "zh": ind.zh, "en": ind.en, "category": ind.category, "unit": ind.unit,
            "direction": ind.direction, "lead": lead, "value": v.value, "score": term,
            "group": ind.group, "provenance": list(v.provenance), "missing": list(v.missing),
        })  # fmt: skip
    used = _select(rows, spec)
    for row in rows:
        row["used"] = row["id"] in used
    scores = [r["score"] or 0.0 for r in rows if r["used"]]  # a missing mandatory value scores 0
    checks = gate(spec.gate, current.inputs, violations)
    passed = all(c["passed"] is True for c in checks)
    weakest = sorted((r for r in rows if r["used"]), key=lambda r: r["score"] or 0.0)[:3]
    return {
        "indicator_set": spec.id,
        "set_version": spec.version,
        "cap": spec.index.cap,
        "indicators": rows,
        "gate": {"passed": passed, "items": checks},
        "green_index": green_index(scores) if passed else None,
        "index_if_gate_passed": green_index(scores),
        "incomplete": [r["id"] for r in rows if r["used"] and r["value"] is None],
        "weakest": [
            {
                "id": r["id"],
                "en": r["en"],
                "value": r["value"],
                "lead": r["lead"],
                "to_reach_lead": _gap(r),
            }
            for r in weakest
        ],
    }


def _select(rows: list[dict[str, Any]], spec: IndicatorSet) -> set[str]:
    """Mandatory indicators, and the best `choose` of each optional group that have values."""
    used = {r["id"] for r in rows if r["group"] is None}
    for name, group in spec.groups.items():
        members = [r for r in rows if r["group"] == name and r["score"] is not None]
        members.sort(key=lambda r: r["score"], reverse=True)
        used |= {r["id"] for r in members[: group.choose]}
    return used


def _gap(row: dict[str, Any]) -> str:
    value, lead = row["value"], row["lead"]
    if value is None:
        return "no value: " + "; ".join(row["missing"])
    if (row["direction"] == "higher" and value >= lead) or (
        row["direction"] == "lower" and value <= lead
    ):
        return "at or beyond the lead value"
    verb = "raise" if row["direction"] == "higher" else "lower"
    return f"{verb} from {value:.4g} to {lead:.4g} {row['unit']}"
