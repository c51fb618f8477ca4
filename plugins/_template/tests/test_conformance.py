"""The template adapter passes the ClientAdapterTests and ProviderFailureTests kits, sync and async,
against its fake provider: what a plugin written from the template gets from options, translation
and an error table alone."""

from supercompat.testing import ClientAdapterTests, ProviderFailureTests
from supercompat_template import template_client_adapter
from supercompat_template.testing import ScriptedFakeTemplate, Truncated


class TestTemplateClientAdapter(ClientAdapterTests):
    scripted_provider = ScriptedFakeTemplate.fixture()


class TestTemplateProviderFailures(ProviderFailureTests):
    def adapter_with_timeout(self, make_client, seconds):
        return template_client_adapter(template=make_client(timeout=seconds))

    def dropped(self):
        return Truncated(clean=False)
