"""The module layering the architecture relies on (docs/architecture.md), checked from the sources."""

from __future__ import annotations

import ast
from pathlib import Path

import supercompat

PACKAGE = Path(supercompat.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """The supercompat modules ``path`` imports, anywhere in it (lazy imports too), as dotted names."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = f"{base}.{node.module}" if node.level and node.module else (node.module or base)
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from . import x`
    return {name for name in found if name.startswith("supercompat")}


def test_the_api_modules_import_each_other_without_a_cycle():
    modules = {f"supercompat.api.{p.stem}": p for p in (PACKAGE / "api").glob("*.py") if p.stem != "__init__"}
    graph = {name: imported_modules(path) & modules.keys() for name, path in modules.items()}
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", f"import cycle: {' -> '.join([*trail, name])}"
        state[name] = "open"
        for other in sorted(graph[name]):
            visit(other, [*trail, name])
        state[name] = "done"

    for name in sorted(graph):
        visit(name, [])
    assert "supercompat.api.messages" not in graph["supercompat.api.threads"]
    assert "supercompat.api.threads" not in graph["supercompat.api.messages"]


def test_the_engine_knows_no_wire_format():
    engine = imported_modules(PACKAGE / "runs" / "engine.py")
    assert "supercompat.router" not in engine and "supercompat.api" not in {m.rpartition(".")[0] for m in engine}


async def test_a_run_event_is_framed_once_for_every_stream_that_sends_it():
    from supercompat import App
    from supercompat.router import SSE_DONE, Response, sse
    from supercompat.scripted import scripted_client_adapter

    engine = App(client_adapter=scripted_client_adapter()).engine
    first, second = engine.subscribe("run_1"), engine.subscribe("run_1")
    engine._publish("run_1", "thread.run.in_progress", {"id": "run_1", "status": "in_progress"})
    engine._end_segment("run_1")

    async def read(queue, prelude=()):
        return [chunk async for chunk in Response.run_stream(engine.stream("run_1", queue, prelude)).stream]

    one = await read(first, [("thread.run.created", {"id": "run_1", "status": "queued"})])
    other = await read(second)
    event = sse("thread.run.in_progress", {"id": "run_1", "status": "in_progress"})
    assert one == [sse("thread.run.created", {"id": "run_1", "status": "queued"}), event, SSE_DONE]
    assert other == [event, SSE_DONE]
    assert one[1] is other[0]  # the same bytes: framed by the first stream, reused by the second


def test_every_public_contract_is_importable_from_one_place_and_where_it_was():
    from supercompat import clients, contracts, hookspecs, jobs, runs, search, storage, tools

    homes = {"ClientAdapter": clients, "StorageAdapter": storage, "LeaseStorage": storage, "RunAdapter": runs,
             "StreamEvent": runs, "ToolExecutor": tools, "JobHandler": jobs, "LeaseHolder": jobs,
             "Register": hookspecs, "RegisterTool": hookspecs, "ChunkIndex": search}
    for name, home in homes.items():
        assert getattr(contracts, name) is getattr(home, name), name
    assert all(hasattr(contracts, name) for name in contracts.__all__)


def test_the_storage_contract_is_the_union_of_one_protocol_per_resource_and_the_leases():
    from supercompat import storage
    from supercompat.storage.memory import MemoryStorageAdapter

    def methods(protocol: type) -> set[str]:
        return {name for name in dir(protocol) if not name.startswith("_")}

    parts = [storage.AssistantStorage, storage.ThreadStorage, storage.MessageStorage, storage.RunStorage,
             storage.StepStorage, storage.LeaseStorage, storage.JobStorage, storage.FileStorage,
             storage.UploadStorage, storage.VectorStoreStorage]
    assert methods(storage.StorageAdapter) == set().union(*map(methods, parts)) | {"close"}
    assert methods(storage.LeaseStorage) == {"renew_leases", "claim_lapsed"}
    assert sum(len(methods(part)) for part in parts) == len(set().union(*map(methods, parts)))  # no overlap
    adapter = MemoryStorageAdapter()
    assert isinstance(adapter, storage.StorageAdapter) and all(isinstance(adapter, part) for part in parts)
