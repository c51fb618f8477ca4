"""The openai embedder passes the EmbedderTests kit against the fake provider's /embeddings (the fake's
vectors are core's hashing ones: words, not meaning); [embedder] plugin = "openai"; a supercompat
client's embeddings.create answered through it; the fake's wire format as the openai SDK reads it."""

import openai
import pytest

from supercompat import App, async_supercompat, supercompat
from supercompat.config import load_adapters
from supercompat.embedders import hashing_embedder
from supercompat.errors import APIError, ConfigError
from supercompat.testing import EmbedderTests
from supercompat.testing.contract import call
from supercompat_openai import openai_embedder
from supercompat_openai.embedder import OpenAIEmbedder
from supercompat_openai.testing import FakeOpenAIProvider


@pytest.fixture
def fake():
    with FakeOpenAIProvider() as fake:
        yield fake


class TestOpenAIEmbedder(EmbedderTests):
    paraphrases_are_close = False  # the fake's vectors are of words alone

    @pytest.fixture
    async def embedder(self, fake):
        client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        embedder = openai_embedder(client, "text-embedding-3-small", 64, batch_size=5)
        yield embedder
        await embedder.close()
        await client.close()
        for body in fake.embedding_requests:  # what OpenAI would take, every time
            assert body["dimensions"] == 64 and len(body["input"]) <= 5
            assert all(0 < len(text) <= 8000 for text in body["input"])


async def test_the_fakes_vectors_are_the_hashing_ones_in_both_encodings(fake):
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
    texts = ["one text", "another"]
    expected = [hashing_embedder(1536).vector(text) for text in texts]
    default = await client.embeddings.create(model="text-embedding-3-small", input=texts)  # base64 on the wire
    assert [item.embedding for item in default.data] == [pytest.approx(v, rel=1e-6, abs=1e-7)
                                                         for v in expected]
    floats = await client.embeddings.create(model="text-embedding-3-small", input=texts,
                                            encoding_format="float")
    assert [item.embedding for item in floats.data] == expected
    assert floats.usage.prompt_tokens == floats.usage.total_tokens == 2 + 1
    with pytest.raises(openai.BadRequestError, match="maximum context length"):
        await client.embeddings.create(model="text-embedding-3-small", input="x" * 40_000)
    await client.close()


async def test_an_input_past_openais_limit_is_cut_not_refused(fake):
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
    embedder = openai_embedder(client)
    [vector] = await embedder.embed(["word " * 20_000])
    assert len(vector) == 1536 and len(fake.embedding_requests[0]["input"][0]) == 8000
    assert "dimensions" not in fake.embedding_requests[0]  # the model's own size: not sent
    await client.close()


async def test_provider_errors_are_api_errors(fake):
    fake.api_key = "right"
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(APIError) as raised:
        await openai_embedder(client).embed(["x"])
    assert raised.value.status == 401 and raised.value.code == "invalid_api_key"
    await client.close()


def test_a_model_of_unknown_size_needs_its_dimensions():
    client = openai.AsyncOpenAI(base_url="http://127.0.0.1:9", api_key="k")
    with pytest.raises(ConfigError, match="dimensions"):
        openai_embedder(client, "nomic-embed-text")
    assert openai_embedder(client, "nomic-embed-text", 768).dimensions == 768


@pytest.mark.parametrize("factory", [supercompat, async_supercompat])
async def test_embeddings_through_a_supercompat_client_configured_in_toml(fake, tmp_path, factory):
    config = tmp_path / "supercompat.toml"
    config.write_text(f'[embedder]\nplugin = "openai"\nbase_url = "{fake.base_url}"\napi_key = "k"\n'
                      f'model = "nomic-embed-text"\ndimensions = 256\n')
    embedder = load_adapters(config)["embedder"]
    assert isinstance(embedder, OpenAIEmbedder) and embedder.dimensions == 256
    client = factory(embedder=embedder, max_retries=0)
    response = await call(client.embeddings.create(model="text-embedding-3-small", input=["hello there"]))
    assert response.model == "nomic-embed-text" and len(response.data[0].embedding) == 256
    assert response.data[0].embedding == pytest.approx(hashing_embedder(256).vector("hello there"), rel=1e-6,
                                                       abs=1e-7)
    assert fake.embedding_requests[-1] == {"model": "nomic-embed-text", "input": ["hello there"],
                                           "encoding_format": "base64"}
    await embedder.close()
    assert embedder.client.is_closed()  # made from the configuration: the embedder's to close


async def test_vectors_of_another_size_than_configured_are_a_bad_gateway(fake):
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
    with pytest.raises(APIError) as raised:  # the fake's vectors of an unknown model have 256
        await openai_embedder(client, "nomic-embed-text", 768).embed(["x"])
    assert raised.value.status == 502 and "768 dimensions are configured" in raised.value.message
    await client.close()


async def test_after_a_fork_the_embedder_opens_its_own_connections(fake):
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
    embedder = openai_embedder(client)
    app = App(embedder=embedder)
    await embedder.embed(["before"])
    pool = client._client._transport._pool
    assert pool._connections  # kept alive
    app.after_fork()  # what a forked child's App does: the parent's sockets are dropped, unclosed
    assert pool._connections == []
    assert len((await embedder.embed(["after"]))[0]) == 1536
    await client.close()


def test_the_config_refuses_unknown_options(tmp_path):
    config = tmp_path / "supercompat.toml"
    config.write_text('[embedder]\nplugin = "openai"\nmodle = "x"\n')
    with pytest.raises(ConfigError, match="Unknown option 'modle'"):
        load_adapters(config)
