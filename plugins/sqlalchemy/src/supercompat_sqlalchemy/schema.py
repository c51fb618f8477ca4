"""The tables, and how an API object maps onto a row and back.

Scalar fields get their own columns (so operators can query them), nested ones JSON columns, in the
order the API object lists them, so a row reads back as the same dict with the same key order.
Keys a table has no column for (fields added to the API later) go to ``extra``; nothing is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
})

# Ids sort in creation order only under a byte-wise collation (PostgreSQL's default sorts "a" < "B").
# MySQL tables default to utf8mb4_bin below.
ID_LENGTH = 64
Id = sa.String(ID_LENGTH).with_variant(sa.String(ID_LENGTH, collation="C"), "postgresql")
Time = sa.BigInteger  # epoch seconds, as the API has them
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
Json = sa.JSON(none_as_null=True)  # JSON, never JSONB: JSONB reorders keys (tool schemas keep theirs)
Float = sa.Double
MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def _table(name: str, *columns: Any, indexes: tuple[tuple[str, ...], ...] = (),
           project: bool = False, heartbeat: bool = False) -> sa.Table:
    extra: list[Any] = [sa.Column("extra", Json, nullable=True)]
    if project:
        extra.append(sa.Column("project", sa.String(64), nullable=True))
    if heartbeat:
        extra.append(sa.Column("heartbeat_at", Float, nullable=True))
    table = sa.Table(f"supercompat_{name}", metadata, sa.Column("id", Id, primary_key=True), *columns, *extra, **MYSQL)
    for cols in indexes:
        sa.Index(None, *(table.c[c] for c in cols))
    return table


assistants = _table(
    "assistants",
    sa.Column("created_at", Time, nullable=False),
    sa.Column("name", sa.String(256)),
    sa.Column("description", sa.String(512)),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("instructions", LongText),
    sa.Column("tools", Json),
    sa.Column("tool_resources", Json),
    sa.Column("metadata", Json),
    sa.Column("temperature", Float),
    sa.Column("top_p", Float),
    sa.Column("response_format", Json),
    project=True, indexes=(("project", "id"),))

threads = _table(
    "threads",
    sa.Column("created_at", Time, nullable=False),
    sa.Column("metadata", Json),
    sa.Column("tool_resources", Json),
    project=True, indexes=(("project", "id"),))

messages = _table(
    "messages",
    sa.Column("created_at", Time, nullable=False),
    sa.Column("assistant_id", sa.String(64)),
    sa.Column("thread_id", Id, sa.ForeignKey(threads.c.id), nullable=False),
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

runs = _table(
    "runs",
    sa.Column("created_at", Time, nullable=False),
    sa.Column("assistant_id", sa.String(64)),
    sa.Column("thread_id", Id, sa.ForeignKey(threads.c.id), nullable=False),
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
    sa.Column("temperature", Float),
    sa.Column("top_p", Float),
    sa.Column("max_prompt_tokens", sa.Integer),
    sa.Column("max_completion_tokens", sa.Integer),
    sa.Column("truncation_strategy", Json),
    sa.Column("response_format", Json),
    sa.Column("tool_choice", Json),
    sa.Column("parallel_tool_calls", sa.Boolean),
    heartbeat=True, indexes=(("thread_id", "id"), ("thread_id", "status"), ("status", "heartbeat_at")))

steps = _table(
    "steps",
    sa.Column("created_at", Time, nullable=False),
    sa.Column("run_id", Id, sa.ForeignKey(runs.c.id), nullable=False),
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
    indexes=(("run_id", "id"), ("thread_id", "type", "id")))

# Background work other than runs (see StorageAdapter.claim_lapsed): its lease is heartbeat_at, as a
# run's; the sweep seeks (kind, status, heartbeat_at).
jobs = _table(
    "jobs",
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("finished_at", Time),
    sa.Column("cancel_requested", sa.Boolean, nullable=False),
    sa.Column("payload", Json),
    sa.Column("last_error", Json),
    heartbeat=True, indexes=(("kind", "status", "heartbeat_at"),))

# Files: their metadata (the bytes live in the blob store). Listed per project, all or by purpose.
files = _table(
    "files",
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("filename", sa.String(1024), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("expires_at", Time),
    sa.Column("status_details", LongText),
    project=True, indexes=(("project", "id"), ("project", "purpose", "id")))

# Uploads of large files in parts; ``file`` is the File made by completing it. The sweep of expired
# uploads seeks (status, expires_at).
uploads = _table(
    "uploads",
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("expires_at", Time),
    sa.Column("filename", sa.String(1024), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("file", Json),
    project=True, indexes=(("status", "expires_at"),))

# Which assistants and threads may name a file in tool_resources.code_interpreter.file_ids, so that
# deleting the file visits only them. A superset: written with the owner, removed with the owner or
# when the file is detached.
file_refs = sa.Table(
    "supercompat_file_refs", metadata,
    sa.Column("file_id", Id, primary_key=True),
    sa.Column("owner_id", Id, primary_key=True),
    sa.Index(None, "owner_id"),
    **MYSQL)

upload_parts = _table(
    "upload_parts",
    sa.Column("created_at", Time, nullable=False),
    sa.Column("upload_id", Id, sa.ForeignKey(uploads.c.id), nullable=False),
    indexes=(("upload_id", "id"),))

# The ``sql`` blob store: a key names one blob (blob_id); its bytes are numbered chunks of that blob,
# so a put writes a new blob's chunks first and then points the key at it in one short transaction.
BlobKey = sa.String(200).with_variant(sa.String(200, collation="C"), "postgresql")
Bytes = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
blobs = sa.Table(
    "supercompat_blobs", metadata,
    sa.Column("key", BlobKey, primary_key=True),
    sa.Column("blob_id", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", Float, nullable=False),
    **MYSQL)
blob_chunks = sa.Table(
    "supercompat_blob_chunks", metadata,
    sa.Column("blob_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("data", Bytes, nullable=False),
    **MYSQL)

# -- vector stores (revision 0006) ----------------------------------------------------------------
# A store's and a batch's file_counts and a store's usage_bytes are not columns: every read derives them
# from the files (GROUP BY status), so no writer can leave them wrong. A file's row is its attachment to
# one store, keyed (store, file id); the File's metadata stays in supercompat_files.
vector_stores = _table(
    "vector_stores",
    sa.Column("created_at", Time, nullable=False),
    sa.Column("name", LongText),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("last_active_at", Time),
    sa.Column("metadata", Json),
    sa.Column("expires_after", Json),
    sa.Column("expires_at", Time),
    project=True, indexes=(("project", "id"),))

vector_store_files = sa.Table(
    "supercompat_vector_store_files", metadata,
    sa.Column("id", Id, nullable=False),  # the File's
    sa.Column("created_at", Time, nullable=False),
    sa.Column("usage_bytes", sa.BigInteger, nullable=False),
    sa.Column("vector_store_id", Id, sa.ForeignKey(vector_stores.c.id), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("last_error", Json),
    sa.Column("attributes", Json),
    sa.Column("chunking_strategy", Json),
    sa.Column("extra", Json, nullable=True),
    sa.Column("batch_id", Id),
    sa.PrimaryKeyConstraint("vector_store_id", "id"),
    # Lists and counts by status (usage_bytes last: a store's counts and usage read the index alone), a
    # batch's files and counts, and the stores a File is attached to. Named by hand where the naming
    # convention's name would pass MySQL's limit of 64 characters.
    sa.Index("ix_supercompat_vector_store_files_status", "vector_store_id", "status", "id", "usage_bytes"),
    sa.Index("ix_supercompat_vector_store_files_batch", "vector_store_id", "batch_id", "status", "id"),
    sa.Index(None, "id"),
    **MYSQL)

vector_store_file_batches = _table(
    "vector_store_file_batches",
    sa.Column("created_at", Time, nullable=False),
    sa.Column("vector_store_id", Id, sa.ForeignKey(vector_stores.c.id), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    indexes=(("vector_store_id", "id"),))


# The ``sql`` chunk index (search.py, migration 0007): vector stores' chunks, one row each, keyed by
# (store, file, seq); ``id`` is the row number the full-text indexes refer to. A vector is float32 bytes,
# normalised, of ``dims`` numbers. Every change to a store's chunks bumps its ``version`` in the same
# transaction, which processes compare with the vectors they cache. What each database searches words
# with (SQLite's FTS5 table, PostgreSQL's tsvector column, MariaDB's FULLTEXT index) and pgvector's
# column are made by the migration for that database alone, so they are not declared here (the names
# are those ``search_only`` names, which ``alembic check`` leaves out).
# MySQL's FULLTEXT matches by the column's collation: the tables' utf8mb4_bin would make it case-sensitive.
ChunkText = sa.Text().with_variant(mysql.LONGTEXT(collation="utf8mb4_unicode_ci"), "mysql", "mariadb")
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: the rowid itself, stable across VACUUM
chunks = sa.Table(
    "supercompat_chunks", metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("store_id", Id, nullable=False),
    sa.Column("file_id", Id, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("text", ChunkText, nullable=False),
    sa.Column("tokens", sa.Integer, nullable=False),
    sa.Column("dims", sa.Integer, nullable=True),
    sa.Column("vector", Bytes, nullable=True),
    **MYSQL)
sa.Index("ux_supercompat_chunks_store_id_file_id_seq", chunks.c.store_id, chunks.c.file_id, chunks.c.seq,
         unique=True)
chunk_stores = sa.Table(
    "supercompat_chunk_stores", metadata,
    sa.Column("store_id", Id, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    **MYSQL)


def search_only(name: str) -> bool:
    """Whether ``name`` is one of the structures a database's migration adds for search alone."""
    return name in ("words", "embedding", "ix_supercompat_chunks_words", "ix_supercompat_chunks_text") or \
        name.startswith(("supercompat_chunks_fts", "ix_supercompat_chunks_hnsw_"))

INTERNAL = ("extra", "project", "heartbeat_at")  # columns that hold no API field
# Keys the API never shows, in columns of their own so that they can be queried; returned when set.
HIDDEN = ("project", "batch_id")


@dataclass(frozen=True)
class Kind:
    """One object kind: its table, its ``object`` value, its API fields in API order, and the keys
    derived on every read (never stored), which the API lists after ``derived_after`` (else last)."""

    table: sa.Table
    object: str
    fields: tuple[str, ...]
    derived: tuple[str, ...] = ()
    derived_after: str | None = None

    @cached_property
    def columns(self) -> frozenset[str]:
        """The keys of an object that have a column of their own (the others live in ``extra``)."""
        return frozenset(self.fields) | ({"project"} if "project" in self.table.c else frozenset())

    @cached_property
    def hidden(self) -> tuple[str, ...]:
        """The hidden keys this table has columns for. Not in ``columns`` but project: an update of one
        is a read and a write, which keeps its None in extra."""
        return tuple(h for h in HIDDEN if h in self.table.c)

    @cached_property
    def key(self) -> tuple[str, ...]:
        """The primary key's columns: what names one row."""
        return tuple(c.name for c in self.table.primary_key.columns)

    @classmethod
    def of(cls, table: sa.Table, object_: str, *, derived: tuple[str, ...] = (),
           derived_after: str | None = None) -> Kind:
        fields = tuple(c.name for c in table.columns if c.name not in INTERNAL and c.name not in HIDDEN)
        return cls(table, object_, fields, derived, derived_after)

    def row(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Column values for an object."""
        values = {f: obj.get(f) for f in self.fields}
        # A hidden key set to None is kept in extra too: its column can't tell None from missing.
        extra = {k: v for k, v in obj.items()
                 if k not in values and k != "object" and k not in INTERNAL and k not in self.derived
                 and (k not in self.hidden or v is None)}
        values["extra"] = extra or None
        for h in self.hidden:
            values[h] = obj.get(h)
        return values

    @cached_property
    def _positions(self) -> tuple[list[tuple[str, int]], int, list[tuple[str, int]]]:
        """Where each API field, ``extra`` and the hidden keys sit in a row of ``select(table)``."""
        names = [c.name for c in self.table.columns]
        return ([(f, names.index(f)) for f in self.fields[1:]], names.index("extra"),
                [(h, names.index(h)) for h in self.hidden])

    def obj(self, row: Any) -> dict[str, Any]:
        """The object a row of ``select(table)`` holds, keys in API order. By position, not by
        name: a long thread's history is thousands of rows."""
        fields, extra, hidden = self._positions
        obj = {"id": row[0], "object": self.object}
        for f, i in fields:
            obj[f] = row[i]
        if row[extra]:
            obj.update(row[extra])
        for h, i in hidden:
            if row[i] is not None:
                obj[h] = row[i]
        return obj

    def shown(self, obj: dict[str, Any], derived: dict[str, Any]) -> dict[str, Any]:
        """``obj`` with its derived keys, where the API lists them."""
        if self.derived_after is None:
            return {**obj, **derived}
        shown: dict[str, Any] = {}
        for k, v in obj.items():
            if k not in derived:
                shown[k] = v
            if k == self.derived_after:
                shown.update(derived)
        return shown


ASSISTANT = Kind.of(assistants, "assistant")
THREAD = Kind.of(threads, "thread")
MESSAGE = Kind.of(messages, "thread.message")
RUN = Kind.of(runs, "thread.run")
STEP = Kind.of(steps, "thread.run.step")
JOB = Kind.of(jobs, "job")
FILE = Kind.of(files, "file")
UPLOAD = Kind.of(uploads, "upload")
UPLOAD_PART = Kind.of(upload_parts, "upload.part")
VECTOR_STORE = Kind.of(vector_stores, "vector_store", derived=("usage_bytes", "file_counts"),
                       derived_after="name")
VECTOR_STORE_FILE = Kind.of(vector_store_files, "vector_store.file")
FILE_BATCH = Kind.of(vector_store_file_batches, "vector_store.files_batch", derived=("file_counts",))
