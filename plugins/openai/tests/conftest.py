"""``fake`` (the fake OpenAI), ``make_client`` (real openai SDK clients on it) and ``adapter`` (the
openai adapter over one)."""

import openai
import pytest

from supercompat.testing.loopback import SDKClients, provider_fixtures
from supercompat_openai import openai_client_adapter
from supercompat_openai.testing import FakeOpenAIProvider

fake, _, adapter = provider_fixtures(lambda: FakeOpenAIProvider(tokens=5),
                                     lambda sdk: openai_client_adapter(openai=sdk))


@pytest.fixture(params=["sync", "sync-own-http-client", "async"])
async def make_client(request, fake):
    """Async clients; sync ones, which the adapter calls through an async twin; and sync ones with an
    http_client of their own, which it calls as given in worker threads."""
    clients = SDKClients(fake, asynchronous=request.param == "async")

    def make(**options):
        if request.param == "sync-own-http-client":
            options.setdefault("http_client", openai.DefaultHttpxClient())
        return clients.make(**options)

    yield make
    await clients.aclose()
