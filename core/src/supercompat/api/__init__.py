"""One module per resource; each exposes ``register(router)``."""

from __future__ import annotations

from ..router import Router
from . import assistants, chat, embeddings, files, messages, runs, threads, uploads, vector_stores


def build_router() -> Router:
    router = Router()
    for module in (assistants, threads, messages, runs, chat, embeddings, files, uploads, vector_stores):
        module.register(router)
    return router
