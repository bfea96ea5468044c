"""loop tracker: steps, clocks with deadlines, administrators' deadline settings

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STEP_INDEXED = ("loop_id", "subject", "patient_id", "home_id", "hospital_id", "pharmacy_id", "at")
_CLOCK_INDEXED = (
    "loop_id",
    "kind",
    "subject",
    "patient_id",
    "home_id",
    "hospital_id",
    "pharmacy_id",
    "responsible_id",
    "due_at",
    "done_at",
)


def upgrade() -> None:
    op.create_table(
        "loop_step",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("loop_id", sa.String(length=140), nullable=False),
        sa.Column("step", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=140), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("home_id", sa.String(length=64), nullable=False),
        sa.Column("hospital_id", sa.String(length=64), nullable=True),
        sa.Column("pharmacy_id", sa.String(length=64), nullable=True),
        sa.Column("actor_reference", sa.String(length=128), nullable=False),
        sa.Column("actor_display", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loop_step")),
    )
    with op.batch_alter_table("loop_step", schema=None) as batch_op:
        for column in _STEP_INDEXED:
            batch_op.create_index(batch_op.f(f"ix_loop_step_{column}"), [column], unique=False)
    op.create_table(
        "loop_clock",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("loop_id", sa.String(length=140), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=140), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("home_id", sa.String(length=64), nullable=False),
        sa.Column("hospital_id", sa.String(length=64), nullable=True),
        sa.Column("pharmacy_id", sa.String(length=64), nullable=True),
        sa.Column("responsible_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("done_by", sa.String(length=128), nullable=True),
        sa.Column("overdue_alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loop_clock")),
    )
    with op.batch_alter_table("loop_clock", schema=None) as batch_op:
        for column in _CLOCK_INDEXED:
            batch_op.create_index(batch_op.f(f"ix_loop_clock_{column}"), [column], unique=False)
    op.create_table(
        "loop_deadline",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_loop_deadline")),
    )


def downgrade() -> None:
    op.drop_table("loop_deadline")
    with op.batch_alter_table("loop_clock", schema=None) as batch_op:
        for column in _CLOCK_INDEXED:
            batch_op.drop_index(batch_op.f(f"ix_loop_clock_{column}"))
    op.drop_table("loop_clock")
    with op.batch_alter_table("loop_step", schema=None) as batch_op:
        for column in _STEP_INDEXED:
            batch_op.drop_index(batch_op.f(f"ix_loop_step_{column}"))
    op.drop_table("loop_step")
