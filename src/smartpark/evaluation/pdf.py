"""The evaluation report as PDF: gate, index, a table and a bar chart per category."""

from __future__ import annotations

import io
from typing import Any

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from smartpark.evaluation.report import CATEGORIES, fmt

# Standard fonts only: a CJK font would have to be shipped and embedded to render in every
# viewer, so the PDF names indicators in English and the HTML report carries the Chinese.
FONT = "Helvetica"


def _chart(rows: list[dict[str, Any]]) -> Drawing:
    drawing = Drawing(170 * mm, max(len(rows) * 9 * mm, 30 * mm))
    chart = HorizontalBarChart()
    chart.x, chart.y = 20 * mm, 5 * mm
    chart.width, chart.height = 140 * mm, drawing.height - 10 * mm
    chart.data = [[r["score"] or 0.0 for r in rows]]
    chart.categoryAxis.categoryNames = [r["id"] for r in rows]
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, 1.2, 0.2
    chart.bars[0].fillColor = colors.HexColor("#2f9e44")
    drawing.add(chart)
    return drawing


def to_pdf(row: dict[str, Any], previous: dict[str, Any] | None = None) -> bytes:
    """Render the evaluation; `previous` adds last year's values for comparison."""
    styles = getSampleStyleSheet()
    result = row["result"]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, title=f"Green evaluation {result['park']} {result['period']}"
    )
    subject = result["park"] + (f" / {result['enterprise']}" if result["enterprise"] else "")
    story: list[Any] = [
        Paragraph(f"Green evaluation — {subject}, {result['period']}", styles["Title"]),
        Paragraph(
            f"{result['indicator_set_name']} (version {row['set_version']}); emission factors "
            f"{row['factor_version'] or 'none'}; evaluation #{row['id']}",
            styles["Normal"],
        ),
        Spacer(1, 4 * mm),
    ]  # fmt: skip
    index = result["green_index"]
    shown = "withheld (basic requirements not met)" if index is None else f"{index:.1f}"
    story.append(
        Paragraph(
            f"Green index: {shown}",
            styles["Heading2"],
        )
    )
    if previous is not None:
        prev = previous["result"]["green_index"]
        story.append(
            Paragraph(
                f"Previous year: {'withheld' if prev is None else f'{prev:.1f}'}", styles["Normal"]
            )
        )
    gate = [["Basic requirement", "actual", "required", "result"]] + [
        [
            g["text"],
            fmt(g["actual"]),
            g["required"],
            "passed" if g["passed"] else ("missing" if g["passed"] is None else "FAILED"),
        ]
        for g in result["gate"]["items"]
    ]
    story += [_table(gate, [90 * mm, 25 * mm, 25 * mm, 25 * mm]), Spacer(1, 4 * mm)]
    prev_values = (
        {r["id"]: r["value"] for r in previous["result"]["indicators"]} if previous else {}
    )
    for category in CATEGORIES:
        rows = [r for r in result["indicators"] if r["category"] == category]
        if not rows:
            continue
        story.append(Paragraph(category.capitalize(), styles["Heading2"]))
        story.append(_chart(rows))
        data = [["id", "indicator", "value", "lead", "unit", "score", "prev."]] + [
            [
                r["id"],
                r["en"],
                fmt(r["value"]),
                fmt(r["lead"]),
                r["unit"],
                fmt(r["score"]),
                fmt(prev_values.get(r["id"])),
            ]
            for r in rows
        ]
        story.append(_table(data, [12 * mm, 62 * mm, 20 * mm, 16 * mm, 26 * mm, 16 * mm, 18 * mm]))
    story.append(Paragraph("Weakest indicators", styles["Heading2"]))
    for w in result["weakest"]:
        story.append(Paragraph(f"{w['id']} {w['en']}: {w['to_reach_lead']}", styles["Normal"]))
    doc.build(story)
    return buffer.getvalue()


def _table(data: list[list[str]], widths: list[float]) -> Table:
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), FONT, 8),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dfe8e1")),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))  # fmt: skip
    return table
