"""Every public contract of supercompat in one place: what a plugin implements, and what it is given.

Each is defined next to the code that uses it and re-exported here, so a plugin author reads (and
imports) one module. See docs/architecture.md for where each concern lives and docs/plugins.md for
how a plugin registers its adapters.

- Client adapters (a provider, in chat-completions shapes): :class:`ClientAdapter`, whose options
  subclass :class:`ClientOptions` (``supercompat.clients``).
- Storage adapters: :class:`StorageAdapter`, the union of one protocol per resource
  (:class:`AssistantStorage`, :class:`ThreadStorage`, :class:`MessageStorage`, :class:`RunStorage`,
  :class:`StepStorage`, :class:`JobStorage`, :class:`FileStorage`, :class:`UploadStorage`,
  :class:`VectorStoreStorage`) and of the leases of background work
  (:class:`LeaseStorage`), with the values they exchange (``supercompat.storage``).
- Run adapters: :class:`RunAdapter`, given a :class:`RunContext`, yielding :class:`RunEvent` s; the
  engine publishes :class:`StreamEvent` s, which the API layer frames (``supercompat.runs``).
- Blob stores (where the bytes of Files live): :class:`BlobStore` (``supercompat.blobs``); a run
  adapter reads them through ``RunContext.blobs``.
- Embedders (text to vectors): :class:`Embedder` (``supercompat.embedders``).
- Chunk indexes (where vector stores' chunks are searched): :class:`ChunkIndex`, with the values it
  exchanges (``supercompat.search``).
- Sandboxes (where code_interpreter runs code): :class:`Sandbox`, :class:`SandboxSession` and what
  they exchange (``supercompat.sandboxes``).
- Built-in tools: :class:`ToolExecutor` and what it is given and yields (``supercompat.tools``).
- Background work: jobs (:class:`JobHandler`, :class:`JobContext`) and the lease protocols the
  heartbeat drives (:class:`LeaseHolder`, :class:`LeaseKeeper`) (``supercompat.jobs``).
- Plugin hooks: the ``register`` arguments, :class:`Register` and :class:`RegisterTool`
  (``supercompat.hookspecs``).
- Errors a contract raises for a client to see: :class:`APIError` (``supercompat.errors``).
"""

from __future__ import annotations

from .blobs import BlobNotFound, BlobStore
from .clients import ClientAdapter, ClientOptions
from .embedders import Embedder, EmbedKind
from .errors import APIError
from .hookspecs import Register, RegisterTool
from .jobs import JobContext, JobHandler, LeaseHolder, LeaseKeeper, LeaseLost
from .runs import ImageFile, RunAdapter, RunContext, RunEvent, StreamEvent, TextDelta, ToolCallDelta, TurnEnd
from .sandboxes import Execution, Sandbox, SandboxFile, SandboxSession, SandboxUnavailable
from .search import ChunkIndex, Hit, IndexedChunk, SearchQuery
from .storage import (
                   ActiveRunError,
                   AssistantStorage,
                   FileStorage,
                   JobStorage,
                   LeaseStorage,
                   ListQuery,
                   MessageStorage,
                   Obj,
                   Page,
                   RunStorage,
                   StaleStatusError,
                   StepStorage,
                   StorageAdapter,
                   ThreadStorage,
                   UploadStorage,
                   VectorStoreStorage,
)
from .tools import (
                   Annotator,
                   BuiltinTool,
                   Replay,
                   ToolCall,
                   ToolContext,
                   ToolDelta,
                   ToolEvent,
                   ToolExecutor,
                   ToolResult,
)

__all__ = [
    # clients
    "ClientAdapter", "ClientOptions",
    # storage
    "ActiveRunError", "AssistantStorage", "FileStorage", "JobStorage", "LeaseStorage", "ListQuery",
    "MessageStorage", "Obj", "Page", "RunStorage", "StaleStatusError", "StepStorage", "StorageAdapter",
    "ThreadStorage", "UploadStorage", "VectorStoreStorage",
    # chunk indexes
    "ChunkIndex", "Hit", "IndexedChunk", "SearchQuery",
    # blob stores
    "BlobNotFound", "BlobStore",
    # embedders
    "EmbedKind", "Embedder",
    # sandboxes
    "Execution", "Sandbox", "SandboxFile", "SandboxSession", "SandboxUnavailable",
    # runs
    "ImageFile", "RunAdapter", "RunContext", "RunEvent", "StreamEvent", "TextDelta", "ToolCallDelta", "TurnEnd",
    # tools
    "Annotator", "BuiltinTool", "Replay", "ToolCall", "ToolContext", "ToolDelta", "ToolEvent", "ToolExecutor",
    "ToolResult",
    # background work
    "JobContext", "JobHandler", "LeaseHolder", "LeaseKeeper", "LeaseLost",
    # plugin hooks
    "Register", "RegisterTool",
    # errors
    "APIError",
]
