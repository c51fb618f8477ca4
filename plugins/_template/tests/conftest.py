"""``fake`` (the fake provider), ``make_client`` (sync and async SDK clients on it) and ``adapter``."""

from supercompat.testing.loopback import provider_fixtures
from supercompat_template import template_client_adapter
from supercompat_template.testing import FakeTemplateProvider

fake, make_client, adapter = provider_fixtures(FakeTemplateProvider,
                                               lambda sdk: template_client_adapter(template=sdk))
