"""Vector stores, their files and file batches, and search (``/vector_stores``): validation with
OpenAI's limits and wording, and the project check; what they do is ``supercompat.vector_stores``.
A store belongs to the project of the API key that created it; another project's reads as missing."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .. import vector_stores as vs
from ..errors import InvalidRequest
from ..router import Request, Response, Router
from ..storage import VECTOR_STORE_FILE_STATUSES, Obj
from . import params as p
from . import references
from .ownership import of_project
from .runs import poll_hold_seconds

if TYPE_CHECKING:
    from ..app import App

MAX_CREATE_FILE_IDS = 500
MAX_BATCH_FILES = 2000
MAX_RESULTS = 50
DEFAULT_RESULTS = 10
RANKERS = ("none", "auto", "default-2024-11-15")
COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")
MAX_FILTER_DEPTH = 8  # compound filters nested deeper than this are refused
SEARCH_MODE_HEADER = "x-supercompat-search"  # "hybrid", or "keyword" when no vectors could be used
POLL_AFTER = [("openai-poll-after-ms", "1")]  # poll() sleeps this between GETs; the GET waits for news
POLL_RECHECK_SECONDS = 0.25  # how often a held poll re-reads storage, for other processes' changes


# -- validation -------------------------------------------------------------------------------------------
def expires_after(value: Any, param: str = "expires_after") -> Obj | None:
    """``{"anchor": "last_active_at", "days": 1..365}``; None for null."""
    if value is None:
        return None
    p.obj(value, param)
    p.check_known(value, ("anchor", "days"), f"{param}.")
    p.string(p.require(value, "anchor", f"{param}."), f"{param}.anchor", choices=("last_active_at",))
    days = p.integer(p.require(value, "days", f"{param}."), f"{param}.days", minimum=1, maximum=365,
                     nullable=False)
    return {"anchor": "last_active_at", "days": days}


def attributes(value: Any, param: str = "attributes") -> Obj | None:
    """At most 16 keys of up to 64 characters; values strings of up to 512, numbers or booleans."""
    if value is None:
        return None
    p.obj(value, param)
    if len(value) > 16:
        raise p.invalid_value(param, f"too many properties. Expected an object with at most 16 properties, "
                                     f"but got an object with {len(value)} properties instead.",
                              "object_above_max_properties")
    for key, val in value.items():
        if len(key) > 64:
            raise p.invalid_value(param, f"key too long. Expected keys with maximum length 64, but got a key "
                                         f"with length {len(key)} instead.", "key_above_max_length")
        if isinstance(val, str):
            p.string(val, f"{param}.{key}", max_len=512)
        elif isinstance(val, bool) or isinstance(val, (int, float)):
            continue
        else:
            raise p.invalid_type(f"{param}.{key}", "a string, number or boolean", val)
    return value


def file_ids(value: Any, param: str, *, max_items: int, min_items: int = 0) -> list[str]:
    p.array(value, param, max_items=max_items, min_items=min_items)
    for i, item in enumerate(value):
        p.string(item, f"{param}[{i}]")
    return list(value)


def strategy(body: Obj, param: str = "chunking_strategy") -> Obj:
    """The request's chunking strategy as a file shows it; ``auto`` when not given."""
    value = body.get("chunking_strategy")
    return p.chunking_strategy({"type": "auto"} if value is None else value, param)


def filters(value: Any, param: str = "filters", depth: int = 0) -> Obj:
    """A comparison filter ``{type, key, value}`` or a compound one ``{type: and|or, filters}``."""
    p.obj(value, param)
    if depth > MAX_FILTER_DEPTH:
        raise p.invalid_value(param, f"filters nested too deeply. Expected at most {MAX_FILTER_DEPTH} "
                                     f"levels.")
    kind = p.string(p.require(value, "type", f"{param}."), f"{param}.type",
                    choices=(*COMPARISONS, "and", "or"))
    if kind in ("and", "or"):
        p.check_known(value, ("type", "filters"), f"{param}.")
        inner = p.array(p.require(value, "filters", f"{param}."), f"{param}.filters")
        for i, item in enumerate(inner):
            filters(item, f"{param}.filters[{i}]", depth + 1)
        return value
    p.check_known(value, ("type", "key", "value"), f"{param}.")
    p.string(p.require(value, "key", f"{param}."), f"{param}.key")
    wanted = p.require(value, "value", f"{param}.")
    if kind in ("in", "nin"):
        for i, item in enumerate(p.array(wanted, f"{param}.value")):
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                raise p.invalid_type(f"{param}.value[{i}]", "a string or number", item)
    elif not isinstance(wanted, (str, int, float)):  # bool is an int
        raise p.invalid_type(f"{param}.value", "a string, number or boolean", wanted)
    return value


# -- lookups ----------------------------------------------------------------------------------------------
async def get_store(app: App, store_id: str, project: str | None) -> Obj:
    """The stored vector store, if it belongs to ``project``."""
    return of_project(await app.storage.get_vector_store(store_id), project, "vector store", store_id,
                      missing=vs.store_not_found(store_id))


async def owned_store(app: App, req: Request) -> Obj:
    return await get_store(app, req.params["vector_store_id"], req.project)


async def get_file(app: App, req: Request) -> Obj:
    store = await owned_store(app, req)
    file_id = req.params["file_id"]
    file = await app.storage.get_vector_store_file(store["id"], file_id)
    if file is None:
        raise vs.file_not_found(store["id"], file_id)
    return file


async def get_batch(app: App, req: Request) -> Obj:
    store = await owned_store(app, req)
    batch_id = req.params["batch_id"]
    batch = await app.storage.get_file_batch(store["id"], batch_id)
    if batch is None:
        raise vs.batch_not_found(store["id"], batch_id)
    return batch


async def held(app: App, req: Request, store_id: str, read: Callable[[], Awaitable[Obj]],
               working: Callable[[Obj], bool]) -> Obj:
    """``read()``; for a poll helper's GET, held (bounded) until ``working`` says it is done."""
    obj = await read()
    if not req.header("x-stainless-poll-helper"):
        return obj
    deadline = time.monotonic() + poll_hold_seconds(req)
    while working(obj) and (remaining := deadline - time.monotonic()) > 0:
        await app.vector_stores.wait_for_change(store_id, min(remaining, POLL_RECHECK_SECONDS))
        obj = await read()
    return obj


def poll_answer(obj: Obj) -> Response:
    return Response.json(obj, headers=POLL_AFTER)


# -- stores ---------------------------------------------------------------------------------------------
async def create(app: App, req: Request) -> dict[str, Any]:
    body = req.json()
    p.check_known(body, ("name", "description", "metadata", "file_ids", "chunking_strategy", "expires_after"))
    name = p.string(body.get("name"), "name", max_len=256, nullable=True)
    description = p.string(body.get("description"), "description", max_len=512, nullable=True)
    metadata = p.metadata(body.get("metadata"))
    after = expires_after(body.get("expires_after"))
    ids = file_ids(body.get("file_ids") or [], "file_ids", max_items=MAX_CREATE_FILE_IDS)
    chosen = strategy(body)
    files = await references.require_files(app, req.project,
                                           ((f, f"file_ids[{i}]") for i, f in enumerate(ids)))
    store = await app.vector_stores.create(project=req.project, name=name, description=description,
                                           metadata=metadata, expires_after=after, files=files,
                                           chunking_strategy=chosen)
    return vs.public_store(store)


async def retrieve(app: App, req: Request) -> Response:
    store_id = req.params["vector_store_id"]
    store = await held(app, req, store_id, lambda: owned_store(app, req),
                       lambda s: vs.public_store(s)["status"] == "in_progress")
    return poll_answer(vs.public_store(store))


async def update(app: App, req: Request) -> dict[str, Any]:
    body = req.json()
    p.check_known(body, ("name", "expires_after", "metadata"))
    changes: Obj = {}
    if "name" in body:
        changes["name"] = p.string(body["name"], "name", max_len=256, nullable=True) or ""
    if "expires_after" in body:
        changes["expires_after"] = expires_after(body["expires_after"])
    store = await owned_store(app, req)
    if "metadata" in body:
        changes["metadata"] = p.merged_metadata(store.get("metadata"), body["metadata"])
    if not changes:
        return vs.public_store(store)
    updated = await app.storage.update_vector_store(store["id"], changes)
    if updated is None:
        raise vs.store_not_found(store["id"])
    return vs.public_store(updated)


async def delete(app: App, req: Request) -> dict[str, Any]:
    store = await owned_store(app, req)
    if not await app.vector_stores.delete(store):
        raise vs.store_not_found(store["id"])
    return {"id": store["id"], "object": "vector_store.deleted", "deleted": True}


async def list_(app: App, req: Request) -> dict[str, Any]:
    page = await app.storage.list_vector_stores(p.list_query(req), project=req.project)
    page.data = [vs.public_store(s) for s in page.data]
    return p.list_body(page)


# -- search ---------------------------------------------------------------------------------------------
async def search(app: App, req: Request) -> Response:
    body = req.json()
    p.check_known(body, ("query", "max_num_results", "ranking_options", "filters", "rewrite_query"))
    query = p.require(body, "query")
    if isinstance(query, str):
        queries = [query]
    else:
        queries = p.array(query, "query", min_items=1, max_items=MAX_RESULTS)
        for i, item in enumerate(queries):
            p.string(item, f"query[{i}]")
    limit = p.integer(body.get("max_num_results"), "max_num_results", minimum=1, maximum=MAX_RESULTS)
    threshold = 0.0
    if body.get("ranking_options") is not None:
        ranking = p.obj(body["ranking_options"], "ranking_options")
        p.check_known(ranking, ("ranker", "score_threshold"), "ranking_options.")
        if "ranker" in ranking:
            p.string(ranking["ranker"], "ranking_options.ranker", choices=RANKERS)
        threshold = p.number(ranking.get("score_threshold"), "ranking_options.score_threshold",
                             minimum=0, maximum=1) or 0.0
    chosen = None if body.get("filters") is None else filters(body["filters"])
    p.boolean(body.get("rewrite_query"), "rewrite_query")  # accepted; queries are searched as given
    store = await owned_store(app, req)
    vs.refuse_if_expired(store)
    store = await app.vector_stores.touch(store)
    results, hybrid = await app.vector_stores.search([store], queries, limit=limit or DEFAULT_RESULTS,
                                                     score_threshold=threshold, filters=chosen)
    page = {"object": "vector_store.search_results.page", "search_query": queries, "data": results,
            "has_more": False, "next_page": None}
    return Response.json(page, headers=[(SEARCH_MODE_HEADER, "hybrid" if hybrid else "keyword")])


# -- files ------------------------------------------------------------------------------------------------
def _file_spec(body: Obj, param: str = "") -> tuple[str, Obj | None, Obj]:
    file_id = p.string(p.require(body, "file_id", param), f"{param}file_id")
    return file_id, attributes(body.get("attributes"), f"{param}attributes"), strategy(
        body, f"{param}chunking_strategy")


async def create_file(app: App, req: Request) -> dict[str, Any]:
    body = req.json()
    p.check_known(body, ("file_id", "attributes", "chunking_strategy"))
    spec = _file_spec(body)
    store = await owned_store(app, req)
    vs.refuse_if_expired(store)
    files = await references.require_files(app, req.project, [(spec[0], "file_id")])
    [file], _ = await app.vector_stores.attach(store["id"], [(files[spec[0]], spec[1], spec[2])])
    return vs.public_file(file)


async def retrieve_file(app: App, req: Request) -> Response:
    store_id = req.params["vector_store_id"]
    file = await held(app, req, store_id, lambda: get_file(app, req), lambda f: f["status"] == "in_progress")
    return poll_answer(vs.public_file(file))


async def update_file(app: App, req: Request) -> dict[str, Any]:
    body = req.json()
    p.check_known(body, ("attributes",))
    chosen = attributes(p.require(body, "attributes"))
    file = await get_file(app, req)
    updated = await app.storage.update_vector_store_file(file["vector_store_id"], file["id"],
                                                         {"attributes": chosen or {}})
    if updated is None:
        raise vs.file_not_found(file["vector_store_id"], file["id"])
    return vs.public_file(updated)


async def delete_file(app: App, req: Request) -> dict[str, Any]:
    file = await get_file(app, req)
    if not await app.vector_stores.detach(file["vector_store_id"], file["id"]):
        raise vs.file_not_found(file["vector_store_id"], file["id"])
    return {"id": file["id"], "object": "vector_store.file.deleted", "deleted": True}


def status_filter(req: Request) -> str | None:
    wanted = req.query.get("filter", [""])[-1] or None
    if wanted is not None:
        p.string(wanted, "filter", choices=VECTOR_STORE_FILE_STATUSES)
    return wanted


async def list_files(app: App, req: Request) -> dict[str, Any]:
    query, wanted = p.list_query(req), status_filter(req)
    store = await owned_store(app, req)
    page = await app.storage.list_vector_store_files(store["id"], query, status=wanted)
    page.data = [vs.public_file(f) for f in page.data]
    return p.list_body(page)


async def file_content(app: App, req: Request) -> dict[str, Any]:
    file = await get_file(app, req)
    texts = await app.index.texts(file["vector_store_id"], file["id"])
    return {"object": "vector_store.file_content.page", "data": [{"type": "text", "text": t} for t in texts],
            "has_more": False, "next_page": None}


# -- file batches -----------------------------------------------------------------------------------------
async def create_batch(app: App, req: Request) -> dict[str, Any]:
    body = req.json()
    p.check_known(body, ("file_ids", "files", "attributes", "chunking_strategy"))
    if ("file_ids" in body) == ("files" in body):
        raise InvalidRequest("Exactly one of 'file_ids' or 'files' must be provided.",
                             param="file_ids" if "file_ids" not in body else "files", code="invalid_value")
    specs: list[tuple[str, Obj | None, Obj]]
    if "file_ids" in body:
        ids = file_ids(body["file_ids"], "file_ids", max_items=MAX_BATCH_FILES, min_items=1)
        shared = attributes(body.get("attributes")), strategy(body)
        specs = [(file_id, *shared) for file_id in ids]
        params = [f"file_ids[{i}]" for i in range(len(ids))]
    else:  # the batch-wide attributes and chunking_strategy are ignored: each file gives its own
        attributes(body.get("attributes"))
        strategy(body)
        items = p.array(body["files"], "files", max_items=MAX_BATCH_FILES, min_items=1)
        specs = []
        for i, item in enumerate(items):
            p.obj(item, f"files[{i}]")
            p.check_known(item, ("file_id", "attributes", "chunking_strategy"), f"files[{i}].")
            specs.append(_file_spec(item, f"files[{i}]."))
        params = [f"files[{i}].file_id" for i in range(len(items))]
    store = await owned_store(app, req)
    vs.refuse_if_expired(store)
    files = await references.require_files(app, req.project, ((spec[0], param) for spec, param
                                                              in zip(specs, params, strict=True)))
    _, batch = await app.vector_stores.attach(store["id"], [(files[f], a, c) for f, a, c in specs],
                                              batch=True)
    assert batch is not None
    return vs.public_batch(batch)


async def retrieve_batch(app: App, req: Request) -> Response:
    store_id = req.params["vector_store_id"]
    # poll() loops while file_counts.in_progress > 0, not on status
    batch = await held(app, req, store_id, lambda: get_batch(app, req),
                       lambda b: b["file_counts"]["in_progress"] > 0)
    return poll_answer(vs.public_batch(batch))


async def cancel_batch(app: App, req: Request) -> dict[str, Any]:
    batch = await get_batch(app, req)
    if vs.batch_status(batch) != "in_progress":
        return vs.public_batch(batch)  # nothing left to cancel: it stays as it ended
    cancelled = await app.vector_stores.cancel_batch(batch["vector_store_id"], batch["id"])
    if cancelled is None:
        raise vs.batch_not_found(batch["vector_store_id"], batch["id"])
    return vs.public_batch(cancelled)


async def list_batch_files(app: App, req: Request) -> dict[str, Any]:
    query, wanted = p.list_query(req), status_filter(req)
    batch = await get_batch(app, req)
    page = await app.storage.list_vector_store_files(batch["vector_store_id"], query, status=wanted,
                                                     batch_id=batch["id"])
    page.data = [vs.public_file(f) for f in page.data]
    return p.list_body(page)


def register(router: Router) -> None:
    base = "/vector_stores/{vector_store_id}"
    router.add("POST", "/vector_stores", create)
    router.add("GET", "/vector_stores", list_)
    router.add("GET", base, retrieve)
    router.add("POST", base, update)
    router.add("DELETE", base, delete)
    router.add("POST", f"{base}/search", search)
    router.add("POST", f"{base}/files", create_file)
    router.add("GET", f"{base}/files", list_files)
    router.add("GET", f"{base}/files/{{file_id}}", retrieve_file)
    router.add("POST", f"{base}/files/{{file_id}}", update_file)
    router.add("DELETE", f"{base}/files/{{file_id}}", delete_file)
    router.add("GET", f"{base}/files/{{file_id}}/content", file_content)
    router.add("POST", f"{base}/file_batches", create_batch)
    router.add("GET", f"{base}/file_batches/{{batch_id}}", retrieve_batch)
    router.add("POST", f"{base}/file_batches/{{batch_id}}/cancel", cancel_batch)
    router.add("GET", f"{base}/file_batches/{{batch_id}}/files", list_batch_files)
