"""Vector stores' chunks, for the ``sql`` chunk index: their rows and per-store versions, and what each
database searches words with (SQLite: an FTS5 table kept by triggers; PostgreSQL: a generated
tsvector column under a GIN index; MariaDB/MySQL: an InnoDB FULLTEXT index), plus, on PostgreSQL
where the ``vector`` extension can be created, pgvector's column (its HNSW indexes, one per vector
length, are made by the index when it first meets that length).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Types as they were at this revision (a migration never follows later changes to schema.py).
Id = sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql")
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
Bytes = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
ChunkText = sa.Text().with_variant(mysql.LONGTEXT(collation="utf8mb4_unicode_ci"), "mysql", "mariadb")
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
FTS = "supercompat_chunks_fts"
# 'english': words stemmed. ts_rank weighs no word by its rarity, and without stemming a question's
# words ("deleting") missed the chunk's ("delete"): keyword recall@5 on 60 questions over Python's
# reference topics was 0.58 with 'english' and 0.43 with 'simple' (docs/search-indexes.md).
TS_CONFIG = "english"


def upgrade() -> None:
    op.create_table("supercompat_chunks",
                    sa.Column("id", RowId, autoincrement=True, nullable=False),
                    sa.Column("store_id", Id, nullable=False),
                    sa.Column("file_id", Id, nullable=False),
                    sa.Column("seq", sa.Integer(), nullable=False),
                    sa.Column("text", ChunkText, nullable=False),
                    sa.Column("tokens", sa.Integer(), nullable=False),
                    sa.Column("dims", sa.Integer(), nullable=True),
                    sa.Column("vector", Bytes, nullable=True),
                    sa.PrimaryKeyConstraint("id", name="pk_supercompat_chunks"), **MYSQL)
    op.create_index("ux_supercompat_chunks_store_id_file_id_seq", "supercompat_chunks",
                    ["store_id", "file_id", "seq"], unique=True)
    op.create_table("supercompat_chunk_stores",
                    sa.Column("store_id", Id, nullable=False),
                    sa.Column("version", sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint("store_id", name="pk_supercompat_chunk_stores"), **MYSQL)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(f"CREATE VIRTUAL TABLE {FTS} USING fts5(text, content='supercompat_chunks', "
                   f"content_rowid='id', tokenize='unicode61 remove_diacritics 2')")
        op.execute(f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON supercompat_chunks BEGIN "
                   f"INSERT INTO {FTS}(rowid, text) VALUES (new.id, new.text); END")
        op.execute(f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON supercompat_chunks BEGIN "
                   f"INSERT INTO {FTS}({FTS}, rowid, text) VALUES ('delete', old.id, old.text); END")
        op.execute(f"CREATE TRIGGER {FTS}_update AFTER UPDATE OF text ON supercompat_chunks BEGIN "
                   f"INSERT INTO {FTS}({FTS}, rowid, text) VALUES ('delete', old.id, old.text); "
                   f"INSERT INTO {FTS}(rowid, text) VALUES (new.id, new.text); END")
    elif dialect == "postgresql":
        op.execute(f"ALTER TABLE supercompat_chunks ADD COLUMN words tsvector "
                   f"GENERATED ALWAYS AS (to_tsvector('{TS_CONFIG}', text)) STORED")
        op.execute("CREATE INDEX ix_supercompat_chunks_words ON supercompat_chunks USING gin (words)")
        # The search plans by the planner's estimate of how many chunks have a word (search.py): from
        # the words ANALYZE keeps, which at the default target (100) guesses ~0.5 % of the chunks for
        # every rarer word; at 300, ~0.17 %, for 2 ms of planning a query (at 1000: ~0.03 %, 6 ms).
        op.execute("ALTER TABLE supercompat_chunks ALTER COLUMN words SET STATISTICS 300")
        if _pgvector():
            op.execute("ALTER TABLE supercompat_chunks ADD COLUMN embedding vector")
    elif dialect in ("mysql", "mariadb"):
        op.execute("CREATE FULLTEXT INDEX ix_supercompat_chunks_text ON supercompat_chunks (text)")


def _pgvector() -> bool:
    """Whether pgvector is (or could be made) installed in this database; a failure to create the
    extension (no privilege) leaves the database without it, searched exactly."""
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).first() is not None:
        return True
    if bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).first() is None:
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError:
        return False
    return True


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{trigger}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
    op.drop_table("supercompat_chunk_stores")
    op.drop_index("ux_supercompat_chunks_store_id_file_id_seq", "supercompat_chunks")
    op.drop_table("supercompat_chunks")
