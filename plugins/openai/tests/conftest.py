import openai
import pytest
from supercompat.testing.fake_openai import FakeOpenAIProvider
from supercompat_openai import openai_client_adapter


@pytest.fixture
def fake():
    with FakeOpenAIProvider(tokens=5) as provider:
        yield provider


@pytest.fixture(params=["sync", "async"])
async def make_client(request, fake):
    """Builds real openai SDK clients, sync or async per the parameter, pointed at the fake."""
    made = []

    def make(**options):
        options = {"base_url": fake.base_url, "api_key": "test-key", "max_retries": 0, **options}
        client = openai.OpenAI(**options) if request.param == "sync" else openai.AsyncOpenAI(**options)
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
