"""A thread's steps of one type in id order (the tool rounds a prompt is built from) as one index
seek, instead of one query per earlier run of the thread.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_supercompat_steps_thread_id_type_id", "supercompat_steps", ["thread_id", "type", "id"])
    op.drop_index("ix_supercompat_steps_thread_id", "supercompat_steps")  # a prefix of the new one


def downgrade() -> None:
    op.create_index("ix_supercompat_steps_thread_id", "supercompat_steps", ["thread_id"])
    op.drop_index("ix_supercompat_steps_thread_id_type_id", "supercompat_steps")
