"""``client.embeddings.create`` through a supercompat client, sync and async, answered by the App's
embedder in OpenAI's response shape (floats and base64), and refused in OpenAI's error envelope when
there is no embedder or the request is bad."""

import base64
import struct

import openai
import pytest

from supercompat import async_supercompat, supercompat
from supercompat.embedders import hashing_embedder
from supercompat.ingest import count_tokens
from supercompat.testing.contract import call

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it

TEXTS = ["The first text to embed.", "Ünïcödé and emoji 🚀", "a third"]


@pytest.fixture(params=["sync", "async"])
def client(request):
    factory = supercompat if request.param == "sync" else async_supercompat
    return factory(embedder=hashing_embedder(64), max_retries=0)


def expected(texts):
    return [hashing_embedder(64).vector(text) for text in texts]


async def test_floats_are_the_embedders_vectors_in_order(client):
    response = await call(client.embeddings.create(model="text-embedding-3-small", input=TEXTS,
                                                   encoding_format="float"))
    assert [item.index for item in response.data] == [0, 1, 2]
    assert [item.embedding for item in response.data] == expected(TEXTS)
    assert response.model == "supercompat-hashing-64" and response.object == "list"
    assert response.usage.prompt_tokens == response.usage.total_tokens > 0


async def test_the_sdks_default_base64_decodes_to_the_same_vectors(client):
    response = await call(client.embeddings.create(model="text-embedding-3-small",
                                                   input="The first text to embed."))
    [vector] = expected(["The first text to embed."])
    assert response.data[0].embedding == pytest.approx(vector, rel=1e-6, abs=1e-7)  # float32 on the wire


async def test_the_wire_format_is_openais(client):
    raw = await call(client.embeddings.with_raw_response.create(model="m", input=["one", "two words"],
                                                                encoding_format="base64"))
    body = raw.http_response.json()
    assert set(body) == {"object", "data", "model", "usage"}
    assert body["usage"] == {"prompt_tokens": 1 + 2, "total_tokens": 1 + 2}  # cl100k tokens: one / two, words
    for i, (item, vector) in enumerate(zip(body["data"], expected(["one", "two words"]), strict=True)):
        assert set(item) == {"object", "index", "embedding"}
        assert item["object"] == "embedding" and item["index"] == i
        packed = base64.b64decode(item["embedding"])
        assert len(packed) == 4 * 64
        assert list(struct.unpack("<64f", packed)) == pytest.approx(vector, rel=1e-6, abs=1e-7)
    raw = await call(client.embeddings.with_raw_response.create(model="m", input="one", encoding_format="float"))
    floats = raw.http_response.json()
    assert floats["data"][0]["embedding"] == expected(["one"])[0]


async def test_dimensions_equal_to_the_embedders_are_taken(client):
    response = await call(client.embeddings.create(model="m", input="x", dimensions=64,
                                                   encoding_format="float"))
    assert len(response.data[0].embedding) == 64


@pytest.mark.parametrize("factory", [supercompat, async_supercompat])
async def test_without_an_embedder_the_error_says_how_to_configure_one(factory):
    client = factory(max_retries=0)
    with pytest.raises(openai.BadRequestError) as raised:
        await call(client.embeddings.create(model="text-embedding-3-small", input="hello"))
    error = raised.value.body
    assert raised.value.status_code == 400 and error["code"] == "embedder_not_configured"
    assert error["param"] == "model" and error["type"] == "invalid_request_error"
    assert "[embedder]" in error["message"] and "supercompat(embedder=" in error["message"]


@pytest.mark.parametrize("kwargs, param, code", [
    ({"input": ""}, "input", "invalid_value"),
    ({"input": []}, "input", None),
    ({"input": ["ok", ""]}, "input[1]", "invalid_value"),
    ({"input": ["ok", 3]}, "input[1]", "invalid_type"),
    ({"input": [1, 2, 3]}, "input", "invalid_value"),
    ({"input": [[1, 2], [3]]}, "input", "invalid_value"),
    ({"input": ["x"] * 2049}, "input", "invalid_value"),
    ({"input": {"text": "x"}}, "input", "invalid_type"),
    ({"input": "x", "encoding_format": "binary"}, "encoding_format", None),
    ({"input": "x", "dimensions": 32}, "dimensions", "invalid_value"),
    ({"input": "x", "dimensions": 0}, "dimensions", "integer_below_min_value"),
    ({"input": "x", "user": 5}, "user", "invalid_type"),
    ({"input": "x", "extra_body": {"colour": "red"}}, "colour", "unknown_parameter"),
])
async def test_bad_requests_name_their_param(client, kwargs, param, code):
    with pytest.raises(openai.BadRequestError) as raised:
        await call(client.embeddings.create(model="text-embedding-3-small", **kwargs))
    assert raised.value.body["param"] == param
    if code is not None:
        assert raised.value.body["code"] == code


async def test_a_missing_model_or_input_is_refused(client):
    with pytest.raises(openai.BadRequestError) as raised:
        await call(client.post("/embeddings", body={"input": "x"}, cast_to=object))
    assert raised.value.body["param"] == "model" and raised.value.body["code"] == "missing_required_parameter"
    with pytest.raises(openai.BadRequestError) as raised:
        await call(client.post("/embeddings", body={"model": "m"}, cast_to=object))
    assert raised.value.body["param"] == "input"


class _Broken:
    """An embedder that answers ``vectors`` whatever it is asked."""

    model = "broken-embedder"
    dimensions = 3

    def __init__(self, vectors):
        self.vectors = vectors

    async def embed(self, texts, *, kind="document"):
        return self.vectors

    async def close(self):
        pass


@pytest.mark.parametrize("encoding", ["float", "base64"])
@pytest.mark.parametrize("vectors", [
    [[0.1, 0.2, 0.3]],  # one vector for two texts
    [[0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3]],  # three
    [[0.1, 0.2, 0.3], [0.1, 0.2]],  # of the wrong size
    [[0.1, 0.2, 0.3], [0.1, float("nan"), 0.3]],  # NaN: no JSON
    [[0.1, 0.2, 0.3], [float("inf"), 0.2, 0.3]],
    [[0.1, 0.2, 0.3], ["x", 0.2, 0.3]],
    None,
], ids=["fewer", "more", "size", "nan", "inf", "text", "none"])
@pytest.mark.parametrize("factory", [supercompat, async_supercompat])
async def test_an_embedders_unusable_answer_is_a_bad_gateway_naming_it(factory, vectors, encoding):
    client = factory(embedder=_Broken(vectors), max_retries=0)
    with pytest.raises(openai.InternalServerError) as raised:
        await call(client.embeddings.create(model="m", input=["one", "two"], encoding_format=encoding))
    assert raised.value.status_code == 502
    error = raised.value.body
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "server_error"
    assert "broken-embedder" in error["message"]


async def test_usage_counts_cl100k_tokens(client):
    texts = ["🚀🔥🚀", "日本語のテキスト", "plain words here"]
    response = await call(client.embeddings.create(model="m", input=texts))
    assert response.usage.prompt_tokens == response.usage.total_tokens == sum(map(count_tokens, texts))
