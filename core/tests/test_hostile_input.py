"""The HostileInputTests kit on memory storage (the sqlalchemy plugin runs it on its databases)."""

import pytest

from conftest import storage_closed_by_the_app
from supercompat.testing import HostileInputTests


class TestHostileInputOnMemory(HostileInputTests):
    @pytest.fixture
    def storage_adapter(self):
        yield from storage_closed_by_the_app()
