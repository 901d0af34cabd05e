"""component heartbeats

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 10:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "component_heartbeat",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("instance", sa.String(length=128), nullable=False),
        sa.Column("state", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('ingestor','scheduler')", name=op.f("ck_component_heartbeat_kind")
        ),
        sa.PrimaryKeyConstraint("kind", "instance", name=op.f("pk_component_heartbeat")),
    )


def downgrade() -> None:
    op.drop_table("component_heartbeat")
