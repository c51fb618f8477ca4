"""The template adapter passes the client kit, sync and async, against its fake provider: what a
plugin written from the template gets from options, translation and an error table alone."""

import pytest

from supercompat.testing import ClientAdapterTests
from supercompat_template.testing import ScriptedFakeTemplate


class TestTemplateClientAdapter(ClientAdapterTests):
    @pytest.fixture
    def scripted_provider(self, fake, adapter):
        return ScriptedFakeTemplate(fake, adapter)
