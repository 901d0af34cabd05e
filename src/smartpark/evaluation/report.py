"""Evaluation reports: HTML (with inline SVG charts), PDF (tables and a chart per category),
CSV and JSON of every indicator, with the previous year alongside when there is one."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape

CATEGORIES = ("energy", "resource", "infrastructure", "industry", "environment", "management")


def fmt(value: Any) -> str:
    """Numbers with four significant digits, blanks for none."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:,.4g}" if isinstance(value, int | float) else str(value)


def svg_chart(rows: list[dict[str, Any]]) -> str:
    """A horizontal bar per indicator: its score against the lead value (1.0)."""
    width, bar, pad = 520, 18, 4
    height = len(rows) * (bar + pad) + pad
    scale = 300 / 1.2
    parts = [
        f'<svg role="img" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, r in enumerate(rows):
        y = pad + i * (bar + pad)
        score = r["score"] or 0.0
        colour = "#2f9e44" if score >= 1 else "#e8590c"
        parts.append(f'<text x="0" y="{y + 13}" font-size="12">{r["id"]}</text>')
        parts.append(
            f'<rect x="60" y="{y}" width="{score * scale:.1f}" height="{bar}" fill="{colour}"/>'
        )
        label = f'<text x="{66 + score * scale:.1f}" y="{y + 13}" font-size="11">'
        parts.append(f"{label}{fmt(r['score'])}</text>")
    lead = 60 + scale  # where a score of 1.0 (the lead value) ends
    parts.append(f'<line x1="{lead:.1f}" y1="0" x2="{lead:.1f}" y2="{height}" stroke="#333"/>')
    parts.append("</svg>")
    return "".join(parts)


def _by_category(result: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {c: [r for r in result["indicators"] if r["category"] == c] for c in CATEGORIES}


def to_html(row: dict[str, Any], previous: dict[str, Any] | None = None) -> str:
    """The report as one self-contained HTML page (no external assets)."""
    env = Environment(
        loader=PackageLoader("smartpark.evaluation", "templates"),
        autoescape=select_autoescape(default=True),
    )
    result = row["result"] | {"set_version": row["set_version"]}
    prev = previous["result"] if previous else None
    prev_values = {r["id"]: r["value"] for r in prev["indicators"]} if prev else {}
    return env.get_template("report.html").render(
        e=result, id=row["id"], computed_at=row["computed_at"].isoformat(), previous=prev,
        prev_values=prev_values, by_category=_by_category(result), categories=CATEGORIES,
        fmt=fmt, chart=svg_chart,
    )  # fmt: skip


def to_csv(row: dict[str, Any]) -> str:
    """Every indicator as CSV."""
    out = io.StringIO()
    fields = [
        "id",
        "zh",
        "en",
        "category",
        "unit",
        "direction",
        "lead",
        "value",
        "score",
        "used",
        "missing",
    ]
    writer = csv.DictWriter(out, fields, extrasaction="ignore")
    writer.writeheader()
    for r in row["result"]["indicators"]:
        writer.writerow(r | {"missing": "; ".join(r["missing"])})
    return out.getvalue()


def to_json(row: dict[str, Any]) -> bytes:
    """The stored evaluation as JSON."""
    keys = ("id", "park_id", "enterprise", "period_label", "indicator_set", "set_version",
            "factor_version", "gate_passed", "green_index", "computed_at", "result")  # fmt: skip
    return orjson.dumps({k: row[k] for k in keys}, option=orjson.OPT_INDENT_2)
