"""The Mistral embedder passes the EmbedderTests kit against the fake Mistral's /v1/embeddings (its
vectors are core's hashing ones: words, not meaning), through the SDK's async methods and its sync
ones in threads; [embedder] plugin = "mistral"; provider errors as the OpenAI embedder raises them,
and through a supercompat client's embeddings.create; the fake's wire format as the SDK reads it."""

import httpx2
import openai
import pytest
from mistralai.client import Mistral, errors

from supercompat import App, async_supercompat, supercompat
from supercompat.config import load_adapters
from supercompat.embedders import hashing_embedder
from supercompat.errors import APIError, ConfigError
from supercompat.ingest import count_tokens
from supercompat.loop import run_async
from supercompat.testing import EmbedderTests
from supercompat.testing.contract import call
from supercompat_mistral import mistral_embedder
from supercompat_mistral.embedder import MAX_INPUT_TOKENS, MistralEmbedder, cut_to_estimate, estimated_tokens
from supercompat_mistral.testing import Error, Garbled, Hang


@pytest.fixture
async def mistral(fake):
    """A Mistral client on the fake (its async methods), closed after the test."""
    http = httpx2.AsyncClient()
    yield Mistral(api_key="k", server_url=fake.server_url, async_client=http)
    await http.aclose()


@pytest.fixture
async def core_loop_mistral(fake):
    """The same for a supercompat client's App: its connections live on supercompat's loop, where
    they are closed."""
    http = httpx2.AsyncClient()
    yield Mistral(api_key="k", server_url=fake.server_url, async_client=http)
    await run_async(http.aclose())


class TestMistralEmbedder(EmbedderTests):
    paraphrases_are_close = False  # the fake's vectors are of words alone

    @pytest.fixture
    async def embedder(self, fake, make_client):
        embedder = mistral_embedder(make_client(), batch_size=5)
        yield embedder
        await embedder.close()
        for body in fake.embedding_requests:  # what Mistral would take, every time
            assert 0 < len(body["input"]) <= 5 and "output_dimension" not in body
            assert all(0 < estimated_tokens(text) <= 8192 for text in body["input"])
            assert sum(map(estimated_tokens, body["input"])) <= 16_384


async def test_codestral_embed_is_sent_its_output_dimension(fake, mistral):
    [vector] = await mistral_embedder(mistral, "codestral-embed", 256).embed(["def main(): pass"])
    assert len(vector) == 256 and fake.embedding_requests[0]["output_dimension"] == 256
    assert vector == pytest.approx(hashing_embedder(256).vector("def main(): pass"))
    [vector] = await mistral_embedder(mistral, "codestral-embed").embed(["x"])  # its own size: not sent
    assert len(vector) == 1536 and "output_dimension" not in fake.embedding_requests[1]


async def test_a_query_and_a_document_are_embedded_alike(fake, mistral):
    embedder = mistral_embedder(mistral)
    assert await embedder.embed(["same"], kind="query") == await embedder.embed(["same"], kind="document")
    assert fake.embedding_requests[0] == fake.embedding_requests[1] == {"model": "mistral-embed",
                                                                         "input": ["same"]}


async def test_batches_stay_under_mistrals_512_inputs_and_16384_tokens_a_request(fake, mistral):
    short = [f"text number {i}" for i in range(600)]
    vectors = await mistral_embedder(mistral, batch_size=512).embed(short)
    assert [len(body["input"]) for body in fake.embedding_requests] == [512, 88]
    assert vectors == [pytest.approx(hashing_embedder(1024).vector(text)) for text in short]
    fake.reset()
    long = [f"text {i} " + "word " * 3000 for i in range(10)]  # 10 x 3,003 tokens: 30,030 in all
    vectors = await mistral_embedder(mistral).embed(long)
    assert sum(len(body["input"]) for body in fake.embedding_requests) == 10
    assert len(fake.embedding_requests) > 1
    assert all(sum(map(count_tokens, body["input"])) <= 16_384 for body in fake.embedding_requests)
    assert vectors == [pytest.approx(hashing_embedder(1024).vector(text)) for text in long]


@pytest.mark.parametrize("unit", ["word ", "🚀", "日本", "e\u0301"])
async def test_an_input_past_mistrals_8192_tokens_is_cut_not_refused(fake, mistral, unit):
    text = "start " + unit * 20_000
    with pytest.raises(errors.SDKError, match="Too many tokens in input"):  # uncut: refused
        await mistral.embeddings.create_async(model="mistral-embed", inputs=[text])
    [vector] = await mistral_embedder(mistral).embed([text])
    [sent] = fake.embedding_requests[-1]["input"]
    assert len(vector) == 1024 and text.startswith(sent) and estimated_tokens(sent) <= MAX_INPUT_TOKENS
    assert estimated_tokens(sent) > MAX_INPUT_TOKENS - 100  # cut no shorter than it needs to be


def test_tokens_are_estimated_at_least_as_mistrals_byte_fallback_makes_them():
    assert estimated_tokens("日本語") == 9 and estimated_tokens("🚀") == 4  # a token a UTF-8 byte
    assert estimated_tokens("abcdef" * 100) >= 200  # a token per three ASCII characters at least
    assert estimated_tokens("1 " * 100) == count_tokens("1 " * 100) > 200 // 3  # or cl100k's count, if more
    assert cut_to_estimate("short", 8192) == "short"


async def test_the_fake_refuses_what_mistral_refuses(fake, mistral):
    with pytest.raises(errors.SDKError, match="Too many inputs in request"):
        await mistral.embeddings.create_async(model="mistral-embed", inputs=["x"] * 513)
    with pytest.raises(errors.SDKError, match="Too many tokens overall"):
        await mistral.embeddings.create_async(model="mistral-embed", inputs=["word " * 6000] * 3)
    with pytest.raises(errors.SDKError, match="output_dimension is not supported"):
        await mistral.embeddings.create_async(model="mistral-embed", inputs=["x"], output_dimension=256)
    with pytest.raises(errors.SDKError, match="output_dimension must be between 1 and 3072"):
        await mistral.embeddings.create_async(model="codestral-embed", inputs=["x"], output_dimension=4096)
    with pytest.raises(errors.SDKError, match="Invalid model"):
        await mistral.embeddings.create_async(model="no-such-model", inputs=["x"])
    response = await mistral.embeddings.create_async(model="mistral-embed", inputs="one text")
    assert response.usage.prompt_tokens == 2 and [item.index for item in response.data] == [0]


# The same provider failures the OpenAI embedder reports, and a supercompat client's embeddings.create
# answers with them, typed by the openai SDK.
FAILURES = [
    (Error(429, "Requests rate limit exceeded", "rate_limited"), 429, "rate_limited", openai.RateLimitError),
    (Error(400, "Invalid input", "invalid_request_error"), 400, "invalid_request_error",
     openai.BadRequestError),
    (Error(422, "Extra inputs are not permitted", "invalid_request_error"), 400, "invalid_request_error",
     openai.BadRequestError),
    (Error(500, "Internal server error", "internal_server_error"), 500, "internal_server_error",
     openai.InternalServerError),
    (Garbled(), 502, "server_error", openai.InternalServerError),
]


@pytest.mark.parametrize("failure, status, kind, sdk_error", FAILURES)
async def test_provider_errors_are_api_errors_and_reach_the_openai_sdk(fake, mistral, core_loop_mistral,
                                                                       failure, status, kind, sdk_error):
    fake.script(failure)
    with pytest.raises(APIError) as raised:
        await mistral_embedder(mistral).embed(["x"])
    assert (raised.value.status, raised.value.type) == (status, kind)
    assert "chat completion" not in raised.value.message  # the client adapter's words for its own answers
    fake.script(failure)
    client = async_supercompat(embedder=mistral_embedder(core_loop_mistral), max_retries=0)
    with pytest.raises(sdk_error) as typed:
        await client.embeddings.create(model="text-embedding-3-small", input="x")
    assert typed.value.status_code == status


async def test_a_wrong_key_is_a_401_as_openai_says_it(fake, mistral, core_loop_mistral):
    fake.api_key = "right"
    with pytest.raises(APIError) as raised:
        await mistral_embedder(mistral).embed(["x"])
    assert (raised.value.status, raised.value.code) == (401, "invalid_api_key")
    client = async_supercompat(embedder=mistral_embedder(core_loop_mistral), max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await client.embeddings.create(model="m", input="x")


async def test_a_provider_that_does_not_answer_in_time_is_a_504(fake):
    fake.script(Hang(30))  # until the fake stops, after the test
    async with httpx2.AsyncClient() as http:
        client = Mistral(api_key="k", server_url=fake.server_url, async_client=http, timeout_ms=200)
        with pytest.raises(APIError) as raised:
            await mistral_embedder(client).embed(["x"])
    assert (raised.value.status, raised.value.code) == (504, "timeout")


async def test_vectors_of_another_size_than_configured_are_a_bad_gateway(fake, mistral):
    with pytest.raises(APIError) as raised:  # the fake's vectors of a model it doesn't know have 256
        await mistral_embedder(mistral, "mistral-small-latest", 768).embed(["x"])
    assert raised.value.status == 502 and "768 dimensions are configured" in raised.value.message


@pytest.mark.parametrize("factory", [supercompat, async_supercompat])
async def test_embeddings_through_a_supercompat_client_configured_in_toml(fake, tmp_path, factory):
    config = tmp_path / "supercompat.toml"
    config.write_text(f'[embedder]\nplugin = "mistral"\nbase_url = "{fake.server_url}"\napi_key = "k"\n'
                      f'model = "codestral-embed"\ndimensions = 512\n')
    embedder = load_adapters(config)["embedder"]
    assert isinstance(embedder, MistralEmbedder) and embedder.dimensions == 512
    assert embedder.adapter.owns_client  # made from the configuration: the embedder's to close
    client = factory(embedder=embedder, max_retries=0)
    response = await call(client.embeddings.create(model="text-embedding-3-small", input=["hello there"]))
    assert response.model == "codestral-embed" and len(response.data[0].embedding) == 512
    assert response.data[0].embedding == pytest.approx(hashing_embedder(512).vector("hello there"), rel=1e-6,
                                                       abs=1e-7)
    assert fake.embedding_requests[-1] == {"model": "codestral-embed", "input": ["hello there"],
                                           "output_dimension": 512}
    assert fake.requests[-1]["headers"]["authorization"] == "Bearer k"
    await embedder.close()


def test_the_config_without_a_key_is_a_config_error_naming_the_section(tmp_path, monkeypatch):
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    config = tmp_path / "supercompat.toml"
    config.write_text('[embedder]\nplugin = "mistral"\n')
    with pytest.raises(ConfigError, match=r'^\[embedder\] plugin "mistral": no api_key'):
        load_adapters(config)


def test_the_configs_options_are_checked_before_a_client_is_made(tmp_path, monkeypatch):
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)  # a client made first would fail on this
    config = tmp_path / "supercompat.toml"
    config.write_text('[embedder]\nplugin = "mistral"\nmodel = "some-embedding-model"\n')
    with pytest.raises(ConfigError, match="Name the dimensions"):
        load_adapters(config)


@pytest.mark.parametrize("model, dimensions", [("mistral-embed", 512), ("codestral-embed", 4096)])
def test_dimensions_a_model_cannot_make_are_refused_at_construction(tmp_path, model, dimensions):
    client = Mistral(api_key="k")
    with pytest.raises(ConfigError, match="dimensions"):
        mistral_embedder(client, model, dimensions)
    config = tmp_path / "supercompat.toml"
    config.write_text(f'[embedder]\nplugin = "mistral"\napi_key = "k"\nmodel = "{model}"\n'
                      f'dimensions = {dimensions}\n')
    with pytest.raises(ConfigError, match="dimensions"):
        load_adapters(config)
    assert mistral_embedder(client, "mistral-embed", 1024).dimensions == 1024


@pytest.mark.parametrize("section", ['batch_size = 513', 'modle = "x"'])
def test_the_config_refuses_what_it_cannot_take(tmp_path, section):
    config = tmp_path / "supercompat.toml"
    config.write_text(f'[embedder]\nplugin = "mistral"\napi_key = "k"\n{section}\n')
    with pytest.raises(ConfigError, match="batch_size|Unknown option 'modle'"):
        load_adapters(config)


async def test_after_a_fork_the_embedder_opens_its_own_connections(fake, mistral):
    embedder = mistral_embedder(mistral)
    app = App(embedder=embedder)
    await embedder.embed(["before"])
    pool = mistral.sdk_configuration.async_client._transport._pool
    assert pool._connections  # kept alive
    app.after_fork()  # what a forked child's App does: the parent's sockets are dropped, unclosed
    assert pool._connections == []
    assert len((await embedder.embed(["after"]))[0]) == 1024


def test_a_client_of_another_sdk_is_refused():
    with pytest.raises(TypeError, match="mistralai.client.Mistral"):
        mistral_embedder(object())
