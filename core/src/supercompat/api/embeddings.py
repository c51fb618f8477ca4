"""``embeddings.create``, answered by the App's embedder (``supercompat.embedders``)."""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from ..embedders import OFF_LOOP_CHARS, Embedder, base64_vector
from ..errors import BadGateway, InvalidRequest
from ..ingest import count_tokens
from ..router import Request, Router
from . import params as p

if TYPE_CHECKING:
    from ..app import App

MAX_INPUTS = 2048  # OpenAI's limit on the items of one request
_FIELDS = ("input", "model", "dimensions", "encoding_format", "user")


def _is_tokens(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _inputs(value: Any) -> list[str]:
    texts = [value] if isinstance(value, str) else p.array(value, "input", min_items=1)
    if len(texts) > MAX_INPUTS:
        raise p.invalid_value("input", f"an array of at most {MAX_INPUTS} items is expected, "
                                       f"got {len(texts)}.")
    if all(_is_tokens(t) or (isinstance(t, list) and t and all(map(_is_tokens, t))) for t in texts):
        raise p.invalid_value("input", "token ids are not supported here (the embedder has its own "
                                       "tokenizer): send the text instead.")
    for i, text in enumerate(texts):
        if not p.string(text, "input" if isinstance(value, str) else f"input[{i}]"):
            raise p.invalid_value("input" if isinstance(value, str) else f"input[{i}]",
                                  "the text to embed must not be empty.")
    return texts


def _tokens(texts: list[str]) -> int:
    """How many cl100k tokens ``texts`` are, for ``usage`` (what OpenAI's embedding models count)."""
    return sum(map(count_tokens, texts))


def _checked(embedder: Embedder, vectors: Any, count: int) -> list[list[float]]:
    """``vectors`` as floats if they are one a text, of the embedder's dimensions, all finite (a NaN
    or infinity has no JSON); else a 502 naming the embedder."""
    try:
        floats = [[float(x) for x in vector] for vector in vectors]
    except (TypeError, ValueError):
        floats = None
    if (floats is None or len(floats) != count or any(len(v) != embedder.dimensions for v in floats)
            or not all(math.isfinite(x) for v in floats for x in v)):
        what = ("something other than vectors of numbers" if floats is None else
                f"{len(floats)} vectors of {sorted({len(v) for v in floats})} dimensions"
                + ("" if all(math.isfinite(x) for v in floats for x in v) else ", not all finite"))
        raise BadGateway(f"The embedder ({embedder.model}) answered {what} for {count} texts; vectors of "
                         f"{embedder.dimensions} finite numbers, one a text, were expected.")
    return floats


async def create(app: App, req: Request) -> dict[str, Any]:
    body = req.json()
    p.check_known(body, _FIELDS)
    p.string(p.require(body, "model"), "model", max_len=p.MODEL_MAX_LENGTH)
    texts = _inputs(p.require(body, "input"))
    encoding = p.string(body.get("encoding_format", "float"), "encoding_format", choices=("float", "base64"))
    if body.get("user") is not None:
        p.string(body["user"], "user")
    embedder = app.embedder
    if embedder is None:
        raise InvalidRequest(
            "No embedder is configured, so embeddings can't be created: name one in supercompat.toml "
            "([embedder] plugin = \"...\"; `supercompat plugins` lists the installed ones) or pass "
            "supercompat(embedder=...). See docs/embedders.md.",
            param="model", code="embedder_not_configured")
    dimensions = body.get("dimensions")
    if dimensions is not None and p.integer(dimensions, "dimensions", minimum=1) != embedder.dimensions:
        raise p.invalid_value("dimensions", f"the configured embedder ({embedder.model}) makes vectors of "
                                            f"{embedder.dimensions} dimensions only.")
    vectors = _checked(embedder, await embedder.embed(texts, kind="document"), len(texts))
    large = sum(map(len, texts)) > OFF_LOOP_CHARS
    tokens = await asyncio.to_thread(_tokens, texts) if large else _tokens(texts)
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i,
                  "embedding": base64_vector(vector) if encoding == "base64" else vector}
                 for i, vector in enumerate(vectors)],
        "model": embedder.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def register(router: Router) -> None:
    router.add("POST", "/embeddings", create)
