"""Alembic environment: migrations run on a connection handed over by supercompat_sqlalchemy
(``supercompat db upgrade``, or the first use of a new database), never from a URL here."""

from alembic import context

from supercompat_sqlalchemy.migrations import VERSION_TABLE
from supercompat_sqlalchemy.schema import metadata, search_only

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run supercompat's migrations with `supercompat db upgrade`, not the alembic command.")


def ours(name, type_, parent_names):  # the database may hold the application's own tables too
    name = name or ""
    if search_only(name):
        return False  # one database's search structures (FTS5's tables, tsvector, pgvector), not in schema.py
    return type_ != "table" or name.startswith("supercompat_")


context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                  include_name=ours)
with context.begin_transaction():
    context.run_migrations()
