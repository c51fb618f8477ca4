"""``embeddings.create`` over HTTP: answered by the served App's embedder, in OpenAI's wire format
(the SDK's default base64 and floats), and refused in OpenAI's envelope when the App has none."""

import httpx2
import openai
import pytest

from supercompat import App
from supercompat.embedders import hashing_embedder

from conftest import KEY, serving


def test_embeddings_over_http():
    with serving(App(embedder=hashing_embedder(32)), api_keys=[KEY]) as server:
        client = server.client()
        texts = ["served over loopback", "a second text"]
        expected = [hashing_embedder(32).vector(text) for text in texts]
        response = client.embeddings.create(model="text-embedding-3-small", input=texts)  # base64 on the wire
        assert [item.embedding for item in response.data] == [pytest.approx(v, rel=1e-6, abs=1e-7)
                                                              for v in expected]
        raw = httpx2.post(f"{server.base_url}/embeddings", headers={"authorization": f"Bearer {KEY}"},
                          json={"model": "m", "input": texts[0], "encoding_format": "float"}).json()
        assert raw["data"] == [{"object": "embedding", "index": 0, "embedding": expected[0]}]
        assert raw["model"] == "supercompat-hashing-32"
        assert set(raw["usage"]) == {"prompt_tokens", "total_tokens"}


def test_a_server_without_an_embedder_says_how_to_configure_one():
    with serving(App(), api_keys=[KEY]) as server:
        with pytest.raises(openai.BadRequestError) as raised:
            server.client().embeddings.create(model="text-embedding-3-small", input="x")
        assert raised.value.body["code"] == "embedder_not_configured"
        assert "[embedder]" in raised.value.body["message"]
