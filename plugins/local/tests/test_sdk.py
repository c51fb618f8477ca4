"""The local embedder answers ``client.embeddings.create`` through a supercompat client (the real
openai SDK, in process), as configured by name in ``supercompat.toml``."""

from __future__ import annotations

import numpy as np
import pytest

from supercompat import async_supercompat, from_config

pytestmark = pytest.mark.sdk


async def test_embeddings_create_is_answered_by_the_local_model(minilm) -> None:
    client = async_supercompat(embedder=minilm)
    texts = ["How do I reset my password?", "I forgot my login credentials and need new ones."]
    response = await client.embeddings.create(model="text-embedding-3-small", input=texts)
    assert response.model == "all-MiniLM-L6-v2-int8"
    vectors = [item.embedding for item in response.data]
    assert np.allclose(vectors, await minilm.embed(texts), atol=1e-6)  # base64 float32s, decoded by the SDK
    assert response.usage.prompt_tokens > 0
    await client.close()


def test_configured_in_a_file(tmp_path) -> None:
    config = tmp_path / "supercompat.toml"
    config.write_text('[client]\nplugin = "scripted"\n[embedder]\nplugin = "local"\nmodel = "wordllama"\n')
    client = from_config(str(config))
    response = client.embeddings.create(model="any", input="Offline embeddings", encoding_format="float")
    assert response.model == "wordllama-l2-supercat-256" and len(response.data[0].embedding) == 256
    client.close()
