import pytest
from google import genai
from google.genai import types
from supercompat_google import google_client_adapter
from supercompat_google.testing import FakeGeminiProvider


@pytest.fixture
def fake():
    with FakeGeminiProvider(models=("gemini-2.5-flash", "test-model")) as provider:
        yield provider


@pytest.fixture(params=["sync", "async"])
async def make_client(request, fake):
    """Builds real google-genai clients pointed at the fake: a ``genai.Client`` or its ``.aio``."""
    made = []

    def make(**http_options):
        options = types.HttpOptions(**{"base_url": fake.base_url, **http_options})
        client = genai.Client(api_key="test-key", http_options=options)
        made.append(client)
        return client if request.param == "sync" else client.aio

    yield make
    for client in made:
        await client.aio.aclose()
        client.close()


@pytest.fixture
def adapter(make_client):
    return google_client_adapter(google=make_client())
