"""Files (and which assistants and threads name them), uploads in parts, and the ``sql`` blob store's
blobs.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Types as they were at this revision (a migration never follows later changes to schema.py).
Id = sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql")
BlobKey = sa.String(200).with_variant(sa.String(200, collation="C"), "postgresql")
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
Bytes = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
Json = sa.JSON(none_as_null=True)
MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def _internal() -> list[sa.Column]:
    return [sa.Column("extra", Json, nullable=True), sa.Column("project", sa.String(64), nullable=True)]


def upgrade() -> None:
    op.create_table("supercompat_files",
                    sa.Column("id", Id, nullable=False),
                    sa.Column("bytes", sa.BigInteger(), nullable=False),
                    sa.Column("created_at", sa.BigInteger(), nullable=False),
                    sa.Column("filename", sa.String(1024), nullable=False),
                    sa.Column("purpose", sa.String(32), nullable=False),
                    sa.Column("status", sa.String(16), nullable=False),
                    sa.Column("expires_at", sa.BigInteger()),
                    sa.Column("status_details", LongText),
                    *_internal(),
                    sa.PrimaryKeyConstraint("id", name="pk_supercompat_files"), **MYSQL)
    op.create_index("ix_supercompat_files_project_id", "supercompat_files", ["project", "id"])
    op.create_index("ix_supercompat_files_project_purpose_id", "supercompat_files", ["project", "purpose", "id"])
    op.create_table("supercompat_file_refs",
                    sa.Column("file_id", Id, nullable=False),
                    sa.Column("owner_id", Id, nullable=False),
                    sa.PrimaryKeyConstraint("file_id", "owner_id", name="pk_supercompat_file_refs"), **MYSQL)
    op.create_index("ix_supercompat_file_refs_owner_id", "supercompat_file_refs", ["owner_id"])
    op.create_table("supercompat_uploads",
                    sa.Column("id", Id, nullable=False),
                    sa.Column("bytes", sa.BigInteger(), nullable=False),
                    sa.Column("created_at", sa.BigInteger(), nullable=False),
                    sa.Column("expires_at", sa.BigInteger()),
                    sa.Column("filename", sa.String(1024), nullable=False),
                    sa.Column("purpose", sa.String(32), nullable=False),
                    sa.Column("status", sa.String(16), nullable=False),
                    sa.Column("file", Json),
                    *_internal(),
                    sa.PrimaryKeyConstraint("id", name="pk_supercompat_uploads"), **MYSQL)
    op.create_index("ix_supercompat_uploads_status_expires_at", "supercompat_uploads",
                    ["status", "expires_at"])
    op.create_table("supercompat_upload_parts",
                    sa.Column("id", Id, nullable=False),
                    sa.Column("created_at", sa.BigInteger(), nullable=False),
                    sa.Column("upload_id", Id, nullable=False),
                    sa.Column("extra", Json, nullable=True),
                    sa.ForeignKeyConstraint(["upload_id"], ["supercompat_uploads.id"],
                                            name="fk_supercompat_upload_parts_upload_id"),
                    sa.PrimaryKeyConstraint("id", name="pk_supercompat_upload_parts"), **MYSQL)
    op.create_index("ix_supercompat_upload_parts_upload_id_id", "supercompat_upload_parts", ["upload_id", "id"])
    op.create_table("supercompat_blobs",
                    sa.Column("key", BlobKey, nullable=False),
                    sa.Column("blob_id", sa.String(64), nullable=False),
                    sa.Column("size", sa.BigInteger(), nullable=False),
                    sa.Column("created_at", sa.Double(), nullable=False),
                    sa.PrimaryKeyConstraint("key", name="pk_supercompat_blobs"), **MYSQL)
    op.create_table("supercompat_blob_chunks",
                    sa.Column("blob_id", sa.String(64), nullable=False),
                    sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column("data", Bytes, nullable=False),
                    sa.PrimaryKeyConstraint("blob_id", "seq", name="pk_supercompat_blob_chunks"), **MYSQL)


def downgrade() -> None:
    op.drop_table("supercompat_blob_chunks")
    op.drop_table("supercompat_blobs")
    op.drop_index("ix_supercompat_upload_parts_upload_id_id", "supercompat_upload_parts")
    op.drop_table("supercompat_upload_parts")
    op.drop_index("ix_supercompat_uploads_status_expires_at", "supercompat_uploads")
    op.drop_table("supercompat_uploads")
    op.drop_index("ix_supercompat_file_refs_owner_id", "supercompat_file_refs")
    op.drop_table("supercompat_file_refs")
    op.drop_index("ix_supercompat_files_project_purpose_id", "supercompat_files")
    op.drop_index("ix_supercompat_files_project_id", "supercompat_files")
    op.drop_table("supercompat_files")
