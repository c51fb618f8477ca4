"""Assistants, threads, messages, runs and run steps.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Types as they were at this revision (a migration never follows later changes to schema.py).
Id = sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql")
Time = sa.BigInteger()
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
Json = sa.JSON(none_as_null=True)
MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def _create(name, *columns, indexes=()):
    table = f"supercompat_{name}"
    op.create_table(table, sa.Column("id", Id, nullable=False), *columns,
                    sa.Column("extra", Json, nullable=True),
                    sa.PrimaryKeyConstraint("id", name=f"pk_{table}"), **MYSQL)
    for cols in indexes:
        op.create_index(f"ix_{table}_{'_'.join(cols)}", table, list(cols))


def upgrade() -> None:
    _create("assistants",
            sa.Column("created_at", Time, nullable=False),
            sa.Column("name", sa.String(256)),
            sa.Column("description", sa.String(512)),
            sa.Column("model", sa.String(256), nullable=False),
            sa.Column("instructions", LongText),
            sa.Column("tools", Json),
            sa.Column("tool_resources", Json),
            sa.Column("metadata", Json),
            sa.Column("temperature", sa.Double()),
            sa.Column("top_p", sa.Double()),
            sa.Column("response_format", Json))
    _create("threads",
            sa.Column("created_at", Time, nullable=False),
            sa.Column("metadata", Json),
            sa.Column("tool_resources", Json))
    _create("messages",
            sa.Column("created_at", Time, nullable=False),
            sa.Column("assistant_id", sa.String(64)),
            sa.Column("thread_id", Id, sa.ForeignKey("supercompat_threads.id",
                                                     name="fk_supercompat_messages_thread_id"), nullable=False),
            sa.Column("run_id", sa.String(64)),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("content", Json),
            sa.Column("attachments", Json),
            sa.Column("metadata", Json),
            sa.Column("status", sa.String(16)),
            sa.Column("incomplete_details", Json),
            sa.Column("completed_at", Time),
            sa.Column("incomplete_at", Time),
            indexes=(("thread_id", "id"), ("thread_id", "run_id", "id")))
    _create("runs",
            sa.Column("created_at", Time, nullable=False),
            sa.Column("assistant_id", sa.String(64)),
            sa.Column("thread_id", Id, sa.ForeignKey("supercompat_threads.id",
                                                     name="fk_supercompat_runs_thread_id"), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("started_at", Time),
            sa.Column("expires_at", Time),
            sa.Column("cancelled_at", Time),
            sa.Column("failed_at", Time),
            sa.Column("completed_at", Time),
            sa.Column("required_action", Json),
            sa.Column("last_error", Json),
            sa.Column("model", sa.String(256)),
            sa.Column("instructions", LongText),
            sa.Column("tools", Json),
            sa.Column("metadata", Json),
            sa.Column("incomplete_details", Json),
            sa.Column("usage", Json),
            sa.Column("temperature", sa.Double()),
            sa.Column("top_p", sa.Double()),
            sa.Column("max_prompt_tokens", sa.Integer()),
            sa.Column("max_completion_tokens", sa.Integer()),
            sa.Column("truncation_strategy", Json),
            sa.Column("response_format", Json),
            sa.Column("tool_choice", Json),
            sa.Column("parallel_tool_calls", sa.Boolean()),
            indexes=(("thread_id", "id"), ("thread_id", "status")))
    _create("steps",
            sa.Column("created_at", Time, nullable=False),
            sa.Column("run_id", Id, sa.ForeignKey("supercompat_runs.id",
                                                  name="fk_supercompat_steps_run_id"), nullable=False),
            sa.Column("assistant_id", sa.String(64)),
            sa.Column("thread_id", Id, nullable=False),
            sa.Column("type", sa.String(32)),
            sa.Column("status", sa.String(16)),
            sa.Column("cancelled_at", Time),
            sa.Column("completed_at", Time),
            sa.Column("expired_at", Time),
            sa.Column("failed_at", Time),
            sa.Column("last_error", Json),
            sa.Column("step_details", Json),
            sa.Column("usage", Json),
            sa.Column("metadata", Json),
            indexes=(("run_id", "id"), ("thread_id",)))


def downgrade() -> None:
    for name in ("steps", "runs", "messages", "threads", "assistants"):
        op.drop_table(f"supercompat_{name}")
