"""The storage a benchmark runs on: memory, or a scratch SQLite / PostgreSQL database.

Every workload gets an empty store: a new memory adapter, or the scratch database emptied (untimed)
under a new SQL adapter. The previous adapter is closed first, so pools never pile up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from supercompat import loop as _loop
from supercompat.storage import memory_storage_adapter

STORAGES = ("memory", "sqlite", "postgresql")


class Stores:
    def __init__(self, url: str | None) -> None:
        self.url = url
        self._current: Any = None

    def fresh(self) -> Any:
        self.close()
        if self.url is None:
            self._current = memory_storage_adapter()
        else:
            from supercompat_sqlalchemy import sqlalchemy_storage_adapter
            from supercompat_sqlalchemy.testing import empty

            _loop.run_sync(empty(self.url))
            self._current = sqlalchemy_storage_adapter(self.url)
        return self._current

    def close(self) -> None:
        if self._current is not None:
            _loop.run_sync(self._current.close())
            self._current = None


@contextmanager
def stores(kind: str) -> Iterator[Stores]:
    """Stores of ``kind``; a SQL kind gets a scratch database of its own, dropped at the end."""
    if kind not in STORAGES:
        raise SystemExit(f"--storage must be one of {', '.join(STORAGES)}")
    with ExitStack() as stack:
        url = None
        if kind != "memory":
            from supercompat_sqlalchemy.testing import scratch_database

            url = stack.enter_context(scratch_database(kind))
        made = Stores(url)
        stack.callback(made.close)
        yield made
