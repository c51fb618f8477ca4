"""The built-in adapters pass the conformance kits that third parties use."""

import pytest

from supercompat.runs import completions_run_adapter
from supercompat.testing import (
    AssistantsContractTests,
    ClientAdapterTests,
    RunAdapterTests,
    scripted_client_adapter,
)

from conftest import storage_closed_by_the_app

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it


class TestScriptedClientAdapter(ClientAdapterTests):
    @pytest.fixture
    def scripted_provider(self):
        return scripted_client_adapter()


class TestCompletionsRunAdapter(RunAdapterTests):
    @pytest.fixture
    def run_adapter(self):
        return completions_run_adapter()


class TestContractOnMemory(AssistantsContractTests):
    """The contract kit here too: its client fixture closes its App before the store's fixture ends."""

    @pytest.fixture
    def storage_adapter(self):
        yield from storage_closed_by_the_app()

    @pytest.fixture
    def scripted_provider(self):
        return scripted_client_adapter()
