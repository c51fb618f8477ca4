import anthropic
import pytest
from supercompat_anthropic import anthropic_client_adapter
from supercompat_anthropic.testing import FakeAnthropicProvider


@pytest.fixture
def fake():
    with FakeAnthropicProvider() as provider:
        yield provider


@pytest.fixture(params=["sync", "async"])
async def make_client(request, fake):
    """Builds real anthropic SDK clients, sync or async per the parameter, pointed at the fake."""
    made = []

    def make(**options):
        options = {"base_url": fake.base_url, "api_key": "test-key", "max_retries": 0, **options}
        client = anthropic.Anthropic(**options) if request.param == "sync" else anthropic.AsyncAnthropic(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        if isinstance(client, anthropic.AsyncAnthropic):
            await client.close()
        else:
            client.close()


@pytest.fixture
def adapter(make_client):
    return anthropic_client_adapter(anthropic=make_client())
