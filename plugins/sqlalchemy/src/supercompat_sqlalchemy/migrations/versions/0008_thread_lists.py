"""A project's threads listed in id order (``GET /v1/threads``, the dashboard's list).

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_supercompat_threads_project_id", "supercompat_threads", ["project", "id"])


def downgrade() -> None:
    op.drop_index("ix_supercompat_threads_project_id", "supercompat_threads")
