"""schedule states: the scheduler's cursor and pause flag per schedule

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_states",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("stage_id", sa.String(length=32), nullable=False),
        sa.Column("flow_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=200), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_by", sa.String(length=32), nullable=True),
        sa.Column("checked_through", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_id", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"],
            ["flows.id"],
            name=op.f("fk_schedule_states_flow_id_flows"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["paused_by"],
            ["users.id"],
            name=op.f("fk_schedule_states_paused_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_schedule_states_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["stages.id"],
            name=op.f("fk_schedule_states_stage_id_stages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_schedule_states_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_states")),
        sa.UniqueConstraint(
            "stage_id",
            "flow_id",
            "node_id",
            name=op.f("uq_schedule_states_stage_id_flow_id_node_id"),
        ),
    )
    with op.batch_alter_table("schedule_states", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_schedule_states_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("schedule_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedule_states_workspace_id"))

    op.drop_table("schedule_states")
