"""bounded input: one dead letter per message, dropped-letter counters, closable gaps

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The catalogue's physical bounds; `sync_metrics` fills them at the next start.
    op.add_column("metric", sa.Column("minimum", sa.Double(), nullable=True))
    op.add_column("metric", sa.Column("maximum", sa.Double(), nullable=True))
    op.add_column("dead_letter", sa.Column("park_id", sa.String(length=64), nullable=True))
    op.add_column("dead_letter", sa.Column("device_id", sa.Integer(), nullable=True))
    op.add_column("dead_letter", sa.Column("payload_size", sa.Integer(), nullable=True))
    op.add_column("dead_letter", sa.Column("payload_sha256", sa.String(length=64), nullable=True))
    op.add_column(
        "dead_letter", sa.Column("rejections", postgresql.JSONB(), nullable=True)
    )
    op.add_column("dead_letter", sa.Column("rejected", sa.Integer(), nullable=True))
    op.add_column("dead_letter", sa.Column("readings", sa.Integer(), nullable=True))
    # Rows written before this revision were one per rejected reading; each keeps its reason.
    op.execute(
        "UPDATE dead_letter SET payload_size = octet_length(payload), "
        "payload_sha256 = encode(sha256(payload), 'hex'), "
        "rejections = jsonb_build_array(jsonb_build_object('index', reading_index, "
        "'reason', reason)), rejected = 1, readings = 0, "
        "park_id = CASE WHEN array_length(string_to_array(topic, '/'), 1) = 5 "
        "AND split_part(topic, '/', 2) IN (SELECT id FROM park) "
        "THEN split_part(topic, '/', 2) END"
    )
    op.execute(
        "UPDATE dead_letter l SET device_id = d.id FROM device d "
        "JOIN enterprise e ON e.id = d.enterprise_id "
        "WHERE d.park_id = l.park_id AND e.code = split_part(l.topic, '/', 3) "
        "AND d.code = split_part(l.topic, '/', 4)"
    )
    for column in ("payload_size", "payload_sha256", "rejections", "rejected", "readings"):
        op.alter_column("dead_letter", column, nullable=False)
    op.drop_column("dead_letter", "reading_index")
    op.create_index(
        "ix_dead_letter_device", "dead_letter", ["device_id", "received_at"], unique=False
    )
    op.create_index("ix_dead_letter_park", "dead_letter", ["park_id", "id"], unique=False)

    op.add_column(
        "device",
        sa.Column("dead_letters_dropped", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column(
        "device", sa.Column("dead_letters_dropped_at", sa.DateTime(timezone=True), nullable=True)
    )

    op.add_column(
        "data_quality_event", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "data_quality_event", sa.Column("closed_reason", sa.String(length=16), nullable=True)
    )
    op.create_check_constraint(
        op.f("ck_data_quality_event_closed_reason"),
        "data_quality_event",
        "closed_reason IN ('filled','expired')",
    )
    op.execute(
        "UPDATE data_quality_event SET closed_at = detected_at, closed_reason = 'filled' "
        "WHERE kind = 'seq_gap' AND filled >= seq_to - seq_from + 1"
    )
    op.create_index(
        "ix_data_quality_event_open_gap",
        "data_quality_event",
        ["device_id"],
        unique=False,
        postgresql_where=sa.text("kind = 'seq_gap' AND closed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_data_quality_event_open_gap", table_name="data_quality_event")
    op.drop_constraint(
        op.f("ck_data_quality_event_closed_reason"), "data_quality_event", type_="check"
    )
    op.drop_column("data_quality_event", "closed_reason")
    op.drop_column("data_quality_event", "closed_at")
    op.drop_column("device", "dead_letters_dropped_at")
    op.drop_column("device", "dead_letters_dropped")
    op.drop_index("ix_dead_letter_park", table_name="dead_letter")
    op.drop_index("ix_dead_letter_device", table_name="dead_letter")
    op.add_column("dead_letter", sa.Column("reading_index", sa.Integer(), nullable=True))
    op.execute("UPDATE dead_letter SET reading_index = (rejections -> 0 ->> 'index')::int")
    for column in (
        "readings", "rejected", "rejections", "payload_sha256", "payload_size", "device_id",
        "park_id",
    ):  # fmt: skip
        op.drop_column("dead_letter", column)
    op.drop_column("metric", "maximum")
    op.drop_column("metric", "minimum")
