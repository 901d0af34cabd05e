"""One entry point for every report format, with last year's evaluation looked up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from smartpark.evaluation.pdf import to_pdf
from smartpark.evaluation.report import to_csv, to_html, to_json
from smartpark.evaluation.service import previous_period
from smartpark.storage.evaluation import latest_evaluation

MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


def render(conn: Connection, row: dict[str, Any], fmt: str) -> bytes:
    """The evaluation `row` as html, pdf, csv or json."""
    previous = latest_evaluation(
        conn, row["park_id"], row["enterprise"], previous_period(row["period_label"]),
        row["indicator_set"],
    )  # fmt: skip
    if fmt == "html":
        return to_html(row, previous).encode()
    if fmt == "pdf":
        return to_pdf(row, previous)
    if fmt == "csv":
        return to_csv(row).encode()
    return to_json(row)
