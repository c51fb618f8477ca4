"""The openai embedder passes the EmbedderTests kit against the fake provider's /embeddings (the fake's
vectors are core's hashing ones: words, not meaning); [embedder] plugin = "openai"; a supercompat
client's embeddings.create answered through it; the fake's wire format as the openai SDK reads it."""

import openai
import pytest

from supercompat import App, async_supercompat, supercompat
from supercompat.config import load_adapters
from supercompat.embedders import hashing_embedder
from supercompat.errors import APIError, ConfigError
from supercompat.ingest import count_tokens
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
            assert all(0 < count_tokens(text) <= 8191 for text in body["input"])
            assert sum(map(count_tokens, body["input"])) <= 300_000


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
        await client.embeddings.create(model="text-embedding-3-small", input="word " * 8200)
    with pytest.raises(openai.BadRequestError, match="maximum context length"):  # tokens, not characters
        await client.embeddings.create(model="text-embedding-3-small", input="🚀" * 3000)
    with pytest.raises(openai.BadRequestError, match="max 300000 tokens per request"):
        await client.embeddings.create(model="text-embedding-3-small", input=["word " * 8000] * 38)
    await client.close()


@pytest.mark.parametrize("model, dimensions", [("text-embedding-3-small", 10**9),
                                               ("text-embedding-3-small", 1537),
                                               ("text-embedding-3-large", 0), ("text-embedding-ada-002", 512),
                                               ("text-embedding-3-small", "64")])
async def test_the_fake_bounds_dimensions_as_openai_does(fake, model, dimensions):
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as raised:
        await client.embeddings.create(model=model, input="x", dimensions=dimensions)
    assert raised.value.param == "dimensions"
    await client.close()


async def test_an_input_past_openais_limit_is_cut_not_refused(fake):
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
    embedder = openai_embedder(client)
    [vector] = await embedder.embed(["word " * 20_000])
    assert len(vector) == 1536 and count_tokens(fake.embedding_requests[0]["input"][0]) == 8191
    assert "dimensions" not in fake.embedding_requests[0]  # the model's own size: not sent
    await client.close()


async def test_provider_errors_are_api_errors(fake):
    fake.api_key = "right"
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(APIError) as raised:
        await openai_embedder(client).embed(["x"])
    assert raised.value.status == 401 and raised.value.code == "invalid_api_key"
    await client.close()


@pytest.mark.parametrize("unit", ["🚀", "日本", "e\u0301", "ab"])
async def test_openais_models_get_inputs_cut_to_8191_tokens(fake, unit):
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
    text = "start " + unit * 20_000
    [vector] = await openai_embedder(client, "text-embedding-3-large").embed([text])
    [sent] = fake.embedding_requests[0]["input"]
    assert len(vector) == 3072 and 8000 < count_tokens(sent) <= 8191 and text.startswith(sent)
    await client.close()


async def test_other_models_get_inputs_cut_to_max_input_chars(fake):
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
    await openai_embedder(client, "nomic-embed-text", 256, max_input_chars=100).embed(["word " * 1000])
    assert fake.embedding_requests[0]["input"] == [("word " * 20)]
    await client.close()


async def test_batches_stay_under_openais_300000_tokens_a_request(fake):
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
    texts = [f"text {i} " + "word " * 8000 for i in range(40)]  # 40 x 8,003 tokens: 320,120 in all
    vectors = await openai_embedder(client).embed(texts)
    assert vectors == [pytest.approx(hashing_embedder(1536).vector(text), rel=1e-6, abs=1e-7)
                       for text in texts]
    sizes = [len(body["input"]) for body in fake.embedding_requests]
    assert sum(sizes) == 40 and len(sizes) == 2
    assert all(sum(map(count_tokens, body["input"])) <= 250_000 for body in fake.embedding_requests)
    await client.close()


def test_the_config_without_a_key_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = tmp_path / "supercompat.toml"
    config.write_text('[embedder]\nplugin = "openai"\n')
    with pytest.raises(ConfigError, match="api_key"):
        load_adapters(config)


def test_the_configs_options_are_checked_before_a_client_is_made(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a client made first would fail on this
    config = tmp_path / "supercompat.toml"
    config.write_text('[embedder]\nplugin = "openai"\nmodel = "nomic-embed-text"\n')
    with pytest.raises(ConfigError, match="Name the dimensions"):
        load_adapters(config)


@pytest.mark.parametrize("model, dimensions", [("text-embedding-ada-002", 512),
                                               ("text-embedding-3-small", 2000)])
def test_dimensions_a_model_cannot_make_are_refused_at_construction(tmp_path, model, dimensions):
    client = openai.AsyncOpenAI(base_url="http://127.0.0.1:9", api_key="k")
    with pytest.raises(ConfigError, match="dimensions"):
        openai_embedder(client, model, dimensions)
    config = tmp_path / "supercompat.toml"
    config.write_text(f'[embedder]\nplugin = "openai"\napi_key = "k"\nmodel = "{model}"\n'
                      f'dimensions = {dimensions}\n')
    with pytest.raises(ConfigError, match="dimensions"):
        load_adapters(config)
    assert openai_embedder(client, "text-embedding-ada-002", 1536).dimensions == 1536


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
