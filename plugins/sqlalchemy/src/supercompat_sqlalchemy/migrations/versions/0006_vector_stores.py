"""Vector stores, the files attached to them (keyed by store and file), and file batches.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Types as they were at this revision (a migration never follows later changes to schema.py).
Id = sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql")
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
Json = sa.JSON(none_as_null=True)
MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table("supercompat_vector_stores",
                    sa.Column("id", Id, nullable=False),
                    sa.Column("created_at", sa.BigInteger(), nullable=False),
                    sa.Column("name", LongText),
                    sa.Column("status", sa.String(16), nullable=False),
                    sa.Column("last_active_at", sa.BigInteger()),
                    sa.Column("metadata", Json),
                    sa.Column("expires_after", Json),
                    sa.Column("expires_at", sa.BigInteger()),
                    sa.Column("extra", Json, nullable=True),
                    sa.Column("project", sa.String(64), nullable=True),
                    sa.PrimaryKeyConstraint("id", name="pk_supercompat_vector_stores"), **MYSQL)
    op.create_index("ix_supercompat_vector_stores_project_id", "supercompat_vector_stores", ["project", "id"])
    op.create_table("supercompat_vector_store_files",
                    sa.Column("id", Id, nullable=False),
                    sa.Column("created_at", sa.BigInteger(), nullable=False),
                    sa.Column("usage_bytes", sa.BigInteger(), nullable=False),
                    sa.Column("vector_store_id", Id, nullable=False),
                    sa.Column("status", sa.String(16), nullable=False),
                    sa.Column("last_error", Json),
                    sa.Column("attributes", Json),
                    sa.Column("chunking_strategy", Json),
                    sa.Column("extra", Json, nullable=True),
                    sa.Column("batch_id", Id),
                    sa.ForeignKeyConstraint(["vector_store_id"], ["supercompat_vector_stores.id"],
                                            name="fk_supercompat_vector_store_files_vector_store_id"),
                    sa.PrimaryKeyConstraint("vector_store_id", "id", name="pk_supercompat_vector_store_files"),
                    **MYSQL)
    op.create_index("ix_supercompat_vector_store_files_status",
                    "supercompat_vector_store_files", ["vector_store_id", "status", "id", "usage_bytes"])
    op.create_index("ix_supercompat_vector_store_files_batch",
                    "supercompat_vector_store_files", ["vector_store_id", "batch_id", "status", "id"])
    op.create_index("ix_supercompat_vector_store_files_id", "supercompat_vector_store_files", ["id"])
    op.create_table("supercompat_vector_store_file_batches",
                    sa.Column("id", Id, nullable=False),
                    sa.Column("created_at", sa.BigInteger(), nullable=False),
                    sa.Column("vector_store_id", Id, nullable=False),
                    sa.Column("status", sa.String(16), nullable=False),
                    sa.Column("extra", Json, nullable=True),
                    sa.ForeignKeyConstraint(["vector_store_id"], ["supercompat_vector_stores.id"],
                                            name="fk_supercompat_vector_store_file_batches_vector_store_id"),
                    sa.PrimaryKeyConstraint("id", name="pk_supercompat_vector_store_file_batches"), **MYSQL)
    op.create_index("ix_supercompat_vector_store_file_batches_vector_store_id_id",
                    "supercompat_vector_store_file_batches", ["vector_store_id", "id"])


def downgrade() -> None:
    # Each table with its indexes (MySQL refuses to drop alone an index that a foreign key uses).
    for table in ("supercompat_vector_store_file_batches", "supercompat_vector_store_files",
                  "supercompat_vector_stores"):
        op.drop_table(table)
