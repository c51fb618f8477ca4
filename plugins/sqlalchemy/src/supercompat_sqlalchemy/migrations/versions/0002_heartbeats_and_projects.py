"""Executor heartbeats on runs (ending runs of crashed processes) and project scoping of
assistants and threads (one project per server API key).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("supercompat_runs", sa.Column("heartbeat_at", sa.Double(), nullable=True))
    # Runs from before have no executor to vouch for them: 0 makes them orphans if still executing.
    op.execute("UPDATE supercompat_runs SET heartbeat_at = 0")
    op.create_index("ix_supercompat_runs_status_heartbeat_at", "supercompat_runs", ["status", "heartbeat_at"])
    for table in ("supercompat_assistants", "supercompat_threads"):
        op.add_column(table, sa.Column("project", sa.String(64), nullable=True))
    op.create_index("ix_supercompat_assistants_project_id", "supercompat_assistants", ["project", "id"])


def downgrade() -> None:
    op.drop_index("ix_supercompat_assistants_project_id", "supercompat_assistants")
    for table in ("supercompat_assistants", "supercompat_threads"):
        op.drop_column(table, "project")
    op.drop_index("ix_supercompat_runs_status_heartbeat_at", "supercompat_runs")
    op.drop_column("supercompat_runs", "heartbeat_at")
