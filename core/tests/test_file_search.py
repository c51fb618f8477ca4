"""file_search through the openai SDK: the FileSearchTests kit on memory with the scripted model."""

from __future__ import annotations

import pytest

from supercompat.testing import FileSearchTests

from conftest import storage_closed_by_the_app

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it


class TestMemory(FileSearchTests):
    @pytest.fixture
    def storage_adapter(self):
        yield from storage_closed_by_the_app()
