"""``fake`` (the fake OpenAI), ``make_client`` (real openai SDK clients on it, sync and async) and
``adapter`` (the openai adapter over one)."""

from supercompat.testing.fake_openai import FakeOpenAIProvider
from supercompat.testing.loopback import provider_fixtures
from supercompat_openai import openai_client_adapter

fake, make_client, adapter = provider_fixtures(lambda: FakeOpenAIProvider(tokens=5),
                                               lambda sdk: openai_client_adapter(openai=sdk))
