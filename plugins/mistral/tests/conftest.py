"""``fake`` (the fake Mistral), ``make_client`` (real Mistral SDK clients on it: with only a sync http
client, so the adapter uses the SDK's sync methods in threads, or only an async one, its ``*_async``
methods) and ``adapter`` (the mistral adapter over one)."""

from supercompat.testing.loopback import provider_fixtures
from supercompat_mistral import mistral_client_adapter
from supercompat_mistral.testing import FakeMistralProvider

fake, make_client, adapter = provider_fixtures(FakeMistralProvider,
                                               lambda sdk: mistral_client_adapter(mistral=sdk))
