import openai
import pytest
from supercompat.testing.fake_openai import FakeOpenAIProvider
from supercompat_openai import openai_client_adapter


@pytest.fixture
def fake():
    with FakeOpenAIProvider(tokens=5) as provider:
        yield provider


@pytest.fixture(params=["sync", "sync-own-http-client", "async"])
async def make_client(request, fake):
    """Builds real openai SDK clients pointed at the fake: async, sync (which the adapter calls through
    an async twin), or sync with an http_client of its own (which it calls in worker threads)."""
    made = []

    def make(**options):
        options = {"base_url": fake.base_url, "api_key": "test-key", "max_retries": 0, **options}
        if request.param == "sync-own-http-client":
            options.setdefault("http_client", openai.DefaultHttpxClient())
        client = openai.AsyncOpenAI(**options) if request.param == "async" else openai.OpenAI(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        if isinstance(client, openai.AsyncOpenAI):
            await client.close()
        else:
            client.close()


@pytest.fixture
def adapter(make_client):
    return openai_client_adapter(openai=make_client())
