"""The Gemini embedder passes the EmbedderTests kit against the fake Gemini's batchEmbedContents (its
vectors are core's hashing ones: words, not meaning), through a genai.Client (sync methods in threads)
and its .aio; [embedder] plugin = "google"; provider errors as the OpenAI embedder raises them, and
through a supercompat client's embeddings.create; the fake's wire format as the SDK reads it."""

import math

import openai
import pytest
from google import genai
from google.genai import errors, types

from supercompat import App, async_supercompat, supercompat
from supercompat.config import load_adapters
from supercompat.embedders import hashing_embedder
from supercompat.errors import APIError, ConfigError
from supercompat.ingest import count_tokens
from supercompat.testing import EmbedderTests
from supercompat.testing.contract import call
from supercompat_google import google_embedder
from supercompat_google.embedder import GoogleEmbedder
from supercompat_google.testing import Error, Garbled, Hang


@pytest.fixture
async def gemini(fake):
    """``gemini(**http_options)``: a genai.Client on the fake, closed after the test."""
    made = []

    def make(**http_options):
        made.append(genai.Client(api_key="k", http_options=types.HttpOptions(base_url=fake.base_url,
                                                                              **http_options)))
        return made[-1]

    yield make
    for client in made:
        await client.aio.aclose()
        client.close()


def norm(vector):
    return math.sqrt(sum(x * x for x in vector))


class TestGoogleEmbedder(EmbedderTests):
    paraphrases_are_close = False  # the fake's vectors are of words alone

    @pytest.fixture
    async def embedder(self, fake, make_client):
        embedder = google_embedder(make_client(), "gemini-embedding-001", 128, batch_size=5)
        yield embedder
        await embedder.close()
        for body in fake.embed_requests:  # what Gemini would take, every time
            assert 0 < len(body["requests"]) <= 5
            for request in body["requests"]:
                assert request["outputDimensionality"] == 128
                assert request["taskType"] in ("RETRIEVAL_DOCUMENT", "RETRIEVAL_QUERY")
                assert 0 < count_tokens(request["content"]["parts"][0]["text"]) <= 2048


@pytest.mark.parametrize("kind, task", [("document", "RETRIEVAL_DOCUMENT"), ("query", "RETRIEVAL_QUERY")])
async def test_the_task_type_follows_the_kind(fake, gemini, kind, task):
    await google_embedder(gemini().aio).embed(["one", "two"], kind=kind)
    assert [r["taskType"] for r in fake.embed_requests[0]["requests"]] == [task, task]


async def test_shortened_vectors_are_normalised(fake, gemini):
    texts = ["shortened vectors are not unit length", "another text"]
    client = gemini().aio
    raw = await client.models.embed_content(model="gemini-embedding-001", contents=texts,
                                            config=types.EmbedContentConfig(output_dimensionality=256))
    assert all(not math.isclose(norm(e.values), 1.0) for e in raw.embeddings)  # as Google documents
    vectors = await google_embedder(client, "gemini-embedding-001", 256).embed(texts)
    assert vectors == [pytest.approx(hashing_embedder(256).vector(text)) for text in texts]
    assert all(math.isclose(norm(vector), 1.0) for vector in vectors)


async def test_a_models_full_size_sends_no_output_dimensionality(fake, gemini):
    [vector] = await google_embedder(gemini().aio).embed(["full size"])
    assert len(vector) == 3072 and "outputDimensionality" not in fake.embed_requests[0]["requests"][0]
    assert fake.embed_requests[0]["requests"][0]["model"] == "models/gemini-embedding-001"
    [vector] = await google_embedder(gemini().aio, "text-embedding-004").embed(["full size"])
    assert len(vector) == 768


async def test_more_texts_than_gemini_takes_are_split_into_batches_of_100(fake, gemini):
    texts = [f"text number {i}" for i in range(250)]
    vectors = await google_embedder(gemini().aio, dimensions=128).embed(texts)
    assert [len(body["requests"]) for body in fake.embed_requests] == [100, 100, 50]
    assert vectors == [pytest.approx(hashing_embedder(128).vector(text)) for text in texts]


@pytest.mark.parametrize("unit", ["word ", "🚀", "日本", "e\u0301"])
async def test_an_input_past_the_models_2048_tokens_is_cut_not_refused(fake, gemini, unit):
    text = "start " + unit * 20_000
    client = gemini().aio
    with pytest.raises(errors.ClientError, match="over the model's limit of 2048 tokens"):  # uncut: refused
        await client.models.embed_content(model="gemini-embedding-001", contents=[text])
    [vector] = await google_embedder(client).embed([text])
    [sent] = fake.embed_requests[-1]["requests"]
    sent_text = sent["content"]["parts"][0]["text"]
    assert len(vector) == 3072 and 2000 < count_tokens(sent_text) <= 2048 and text.startswith(sent_text)


async def test_the_fake_refuses_what_gemini_refuses(fake, gemini):
    client = gemini().aio
    with pytest.raises(errors.ClientError, match="at most 100 requests can be in one batch"):
        await client.models.embed_content(model="gemini-embedding-001",
                                          contents=[f"t{i}" for i in range(101)])
    for size in (3073, 64, 0):
        with pytest.raises(errors.ClientError, match="output_dimensionality"):
            await client.models.embed_content(model="gemini-embedding-001", contents=["x"],
                                              config=types.EmbedContentConfig(output_dimensionality=size))
    with pytest.raises(errors.ClientError, match="is not found"):
        await client.models.embed_content(model="no-such-model", contents=["x"])


# The same provider failures the OpenAI embedder reports, and a supercompat client's embeddings.create
# answers with them, typed by the openai SDK.
FAILURES = [
    (Error(429, "Resource has been exhausted."), 429, "rate_limit_error", openai.RateLimitError),
    (Error(400, "Request contains an invalid argument."), 400, "invalid_request_error",
     openai.BadRequestError),
    (Error(500, "An internal error has occurred."), 500, "server_error", openai.InternalServerError),
    (Error(503, "The model is overloaded."), 503, "server_error", openai.InternalServerError),
    (Garbled(), 502, "server_error", openai.InternalServerError),
]


@pytest.mark.parametrize("failure, status, kind, sdk_error", FAILURES)
async def test_provider_errors_are_api_errors_and_reach_the_openai_sdk(fake, gemini, failure, status, kind,
                                                                       sdk_error):
    embedder = google_embedder(gemini(retry_options=types.HttpRetryOptions(attempts=1)).aio)
    fake.script(failure)
    with pytest.raises(APIError) as raised:
        await embedder.embed(["x"])
    assert (raised.value.status, raised.value.type) == (status, kind)
    fake.script(failure)
    client = async_supercompat(embedder=embedder, max_retries=0)
    with pytest.raises(sdk_error) as typed:
        await client.embeddings.create(model="text-embedding-3-small", input="x")
    assert typed.value.status_code == status


async def test_a_wrong_key_is_a_401_as_openai_says_it(fake, gemini):
    fake.api_key = "right"
    embedder = google_embedder(gemini().aio)
    with pytest.raises(APIError) as raised:
        await embedder.embed(["x"])
    assert (raised.value.status, raised.value.code) == (401, "invalid_api_key")
    with pytest.raises(openai.AuthenticationError):
        await async_supercompat(embedder=embedder, max_retries=0).embeddings.create(model="m", input="x")


async def test_a_provider_that_does_not_answer_in_time_is_a_504(fake, gemini):
    fake.script(Hang(30))  # until the fake stops, after the test
    with pytest.raises(APIError) as raised:
        await google_embedder(gemini(timeout=200).aio).embed(["x"])  # HttpOptions takes ms
    assert (raised.value.status, raised.value.code) == (504, "timeout")


async def test_vectors_of_another_size_than_configured_are_a_bad_gateway(fake, gemini):
    with pytest.raises(APIError) as raised:  # the fake's vectors of a model it doesn't know have 256
        await google_embedder(gemini().aio, "test-model", 768).embed(["x"])
    assert raised.value.status == 502 and "768 dimensions are configured" in raised.value.message


@pytest.mark.parametrize("factory", [supercompat, async_supercompat])
async def test_embeddings_through_a_supercompat_client_configured_in_toml(fake, tmp_path, factory):
    config = tmp_path / "supercompat.toml"
    config.write_text(f'[embedder]\nplugin = "google"\nbase_url = "{fake.base_url}"\napi_key = "k"\n'
                      f'api_version = "v1beta"\ndimensions = 768\n')
    embedder = load_adapters(config)["embedder"]
    assert isinstance(embedder, GoogleEmbedder) and embedder.dimensions == 768
    assert embedder.adapter.owns_client  # made from the configuration: the embedder's to close
    client = factory(embedder=embedder, max_retries=0)
    response = await call(client.embeddings.create(model="text-embedding-3-small", input=["hello there"]))
    assert response.model == "gemini-embedding-001" and len(response.data[0].embedding) == 768
    assert response.data[0].embedding == pytest.approx(hashing_embedder(768).vector("hello there"), rel=1e-6,
                                                       abs=1e-7)
    assert fake.requests[-1]["path"] == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert fake.requests[-1]["headers"]["x-goog-api-key"] == "k"
    await embedder.close()


def test_the_config_without_a_key_is_a_config_error_naming_the_section(tmp_path, monkeypatch):
    for var in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(var, raising=False)
    config = tmp_path / "supercompat.toml"
    config.write_text('[embedder]\nplugin = "google"\n')
    with pytest.raises(ConfigError, match=r'^\[embedder\] plugin "google": '):
        load_adapters(config)


def test_the_configs_options_are_checked_before_a_client_is_made(tmp_path, monkeypatch):
    for var in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(var, raising=False)  # a client made first would fail on this
    config = tmp_path / "supercompat.toml"
    config.write_text('[embedder]\nplugin = "google"\nmodel = "some-embedding-model"\n')
    with pytest.raises(ConfigError, match="Name the dimensions"):
        load_adapters(config)


@pytest.mark.parametrize("model, dimensions", [("gemini-embedding-001", 64), ("gemini-embedding-001", 4096),
                                               ("text-embedding-004", 1024)])
def test_dimensions_a_model_cannot_make_are_refused_at_construction(tmp_path, model, dimensions):
    client = genai.Client(api_key="k")
    with pytest.raises(ConfigError, match="dimensions"):
        google_embedder(client, model, dimensions)
    config = tmp_path / "supercompat.toml"
    config.write_text(f'[embedder]\nplugin = "google"\napi_key = "k"\nmodel = "{model}"\n'
                      f'dimensions = {dimensions}\n')
    with pytest.raises(ConfigError, match="dimensions"):
        load_adapters(config)
    assert google_embedder(client, "other-model", 512).dimensions == 512


@pytest.mark.parametrize("section", ['batch_size = 101', 'modle = "x"'])
def test_the_config_refuses_what_it_cannot_take(tmp_path, section):
    config = tmp_path / "supercompat.toml"
    config.write_text(f'[embedder]\nplugin = "google"\napi_key = "k"\n{section}\n')
    with pytest.raises(ConfigError, match="batch_size|Unknown option 'modle'"):
        load_adapters(config)


async def test_after_a_fork_the_embedder_opens_its_own_connections(fake, gemini):
    client = gemini().aio
    embedder = google_embedder(client)
    app = App(embedder=embedder)
    await embedder.embed(["before"])
    app.after_fork()  # what a forked child's App does: the parent's sockets are dropped, unclosed
    assert len((await embedder.embed(["after"]))[0]) == 3072


def test_a_client_of_another_sdk_is_refused():
    with pytest.raises(TypeError, match="google.genai.Client or its .aio"):
        google_embedder(object())
