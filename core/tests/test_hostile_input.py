"""The HostileInputTests kit on memory storage (the sqlalchemy plugin runs it on its databases)."""

import pytest

from supercompat.testing import HostileInputTests

from conftest import storage_closed_by_the_app

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it


class TestHostileInputOnMemory(HostileInputTests):
    @pytest.fixture
    def storage_adapter(self):
        yield from storage_closed_by_the_app()
