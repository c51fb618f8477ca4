"""``fake`` (the fake Anthropic), ``make_client`` (real anthropic SDK clients on it, sync and async)
and ``adapter`` (the anthropic adapter over one)."""

from supercompat.testing.loopback import provider_fixtures
from supercompat_anthropic import anthropic_client_adapter
from supercompat_anthropic.testing import FakeAnthropicProvider

fake, make_client, adapter = provider_fixtures(FakeAnthropicProvider,
                                               lambda sdk: anthropic_client_adapter(anthropic=sdk))
