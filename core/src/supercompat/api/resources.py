"""The vector stores of assistants and threads, as requests name them: ``vector_store_ids`` checked
(each an existing store of the caller's project), the ``file_search.vector_stores`` helper of a new
assistant or thread turned into a new store (only ``vector_store_ids`` is kept and shown), and the files
of ``file_search`` attachments added to the thread's store (``VectorStores.add_to_thread``).

Files are checked first, by ``references.require_files``; what it returns (the Files by id) is what
these functions are given."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .. import vector_stores as vs
from ..errors import InvalidRequest
from ..storage import ACTIVE_RUN_STATUSES, ActiveRunError, ListQuery, Obj
from . import params as p

if TYPE_CHECKING:
    from ..app import App


async def require_stores(app: App, project: str | None, resources: Obj | None,
                         param: str = "tool_resources") -> None:
    """A 400 naming the param for the first ``vector_store_ids`` entry that is no store of ``project``
    (another project's is as unknown as a missing one), as for files."""
    for i, store_id in enumerate(vs.store_ids(resources)):
        store = await app.storage.get_vector_store(store_id)
        if store is None or store.get("project") != project:
            raise InvalidRequest(f"No vector store found with id '{store_id}'.",
                                 param=f"{param}.file_search.vector_store_ids[{i}]", code="invalid_value")


async def with_created_store(app: App, project: str | None, resources: Obj, files: dict[str, Any], *,
                             expires_after: Obj | None) -> Obj:
    """``resources`` (validated) with the ``file_search.vector_stores`` helper, if any, made into a new
    store of ``files`` (Files by id, checked) and named in ``vector_store_ids`` instead."""
    search = resources.get("file_search")
    if not search or search.get("vector_stores") is None:
        return resources
    created = []
    for spec in search["vector_stores"]:  # at most one (validated)
        strategy = p.chunking_strategy(spec.get("chunking_strategy") or {"type": "auto"})
        store = await app.vector_stores.create(
            project=project, name=None, description=None, metadata=spec.get("metadata"),
            expires_after=expires_after, files={f: files[f] for f in spec.get("file_ids") or []},
            chunking_strategy=strategy)
        created.append(store["id"])
    return {**resources, "file_search": {"vector_store_ids": created}}


def file_search_files(messages: Iterable[Obj]) -> list[str]:
    """The ids of the files that messages attach for ``file_search``, each once."""
    wanted = (a["file_id"] for m in messages for a in m.get("attachments") or []
              if "file_id" in a and any(t.get("type") == "file_search" for t in a.get("tools") or []))
    return list(dict.fromkeys(wanted))


async def for_new_assistant(app: App, project: str | None, resources: Obj, files: dict[str, Any]) -> Obj:
    """The ``tool_resources`` a new assistant keeps (its helper store never expires)."""
    await require_stores(app, project, resources)
    return await with_created_store(app, project, resources, files, expires_after=None)


async def for_new_thread(app: App, project: str | None, resources: Obj, messages: list[Obj],
                         files: dict[str, Any], param: str = "tool_resources") -> Obj:
    """The ``tool_resources`` a new thread keeps: its helper store made (expiring as OpenAI's thread
    stores do), and its messages' ``file_search`` attachments added to its store, made if it has none."""
    await require_stores(app, project, resources, param)
    resources = await with_created_store(app, project, resources, files,
                                         expires_after=dict(vs.THREAD_STORE_EXPIRY))
    attached = [files[f] for f in file_search_files(messages)]
    if not attached:
        return resources
    named = vs.store_ids(resources)
    if named:
        store = await app.storage.get_vector_store(named[0])
        if store is not None:
            vs.refuse_if_expired(store)
            await app.vector_stores.attach(store["id"], [(f, None, vs.auto_strategy()) for f in attached])
            return resources
    store = await app.vector_stores.create(
        project=project, name=None, description=None, metadata=None,
        expires_after=dict(vs.THREAD_STORE_EXPIRY), files={f["id"]: f for f in attached},
        chunking_strategy=vs.auto_strategy())
    return {**resources, "file_search": {"vector_store_ids": [store["id"]]}}


async def attach_to_thread(app: App, thread: Obj, messages: list[Obj], files: dict[str, Any]) -> None:
    """Add the files that ``messages`` (new ones of an existing thread) attach for ``file_search`` to the
    thread's store."""
    attached = [files[f] for f in file_search_files(messages)]
    if attached:
        await _refuse_if_active(app, thread["id"])
        await app.vector_stores.add_to_thread(thread["id"], attached, thread.get("project"))


async def _refuse_if_active(app: App, thread_id: str) -> None:
    """Raise ActiveRunError if the thread has an active run (its latest, settled: one whose executor
    died ends here), as storing the messages would: their files must not reach the thread's store
    when they are refused."""
    latest = (await app.storage.list_runs(thread_id, ListQuery(limit=1))).data
    if latest and (await app.engine.settle(latest[0]))["status"] in ACTIVE_RUN_STATUSES:
        raise ActiveRunError(thread_id, latest[0]["id"])
