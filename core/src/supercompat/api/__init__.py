"""One module per resource; each exposes ``register(router)``."""

from __future__ import annotations

from ..router import Router
from . import assistants, messages, threads


def build_router() -> Router:
    router = Router()
    for module in (assistants, threads, messages):
        module.register(router)
    return router
