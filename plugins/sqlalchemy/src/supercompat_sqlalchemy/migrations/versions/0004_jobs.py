"""Jobs: background work other than runs (file ingestion...) under the same leases as runs, so
another process finishes what a dead one started.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Types as they were at this revision (a migration never follows later changes to schema.py).
Id = sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql")
Json = sa.JSON(none_as_null=True)
MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table("supercompat_jobs",
                    sa.Column("id", Id, nullable=False),
                    sa.Column("kind", sa.String(64), nullable=False),
                    sa.Column("status", sa.String(16), nullable=False),
                    sa.Column("attempt", sa.Integer(), nullable=False),
                    sa.Column("created_at", sa.BigInteger(), nullable=False),
                    sa.Column("finished_at", sa.BigInteger()),
                    sa.Column("cancel_requested", sa.Boolean(), nullable=False),
                    sa.Column("payload", Json),
                    sa.Column("last_error", Json),
                    sa.Column("extra", Json, nullable=True),
                    sa.Column("heartbeat_at", sa.Double(), nullable=True),
                    sa.PrimaryKeyConstraint("id", name="pk_supercompat_jobs"), **MYSQL)
    op.create_index("ix_supercompat_jobs_kind_status_heartbeat_at", "supercompat_jobs",
                    ["kind", "status", "heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_supercompat_jobs_kind_status_heartbeat_at", "supercompat_jobs")
    op.drop_table("supercompat_jobs")
