"""The built-in adapters pass the conformance kits that third parties use."""

import pytest

from supercompat.runs import completions_run_adapter
from supercompat.testing import ClientAdapterTests, RunAdapterTests, scripted_client_adapter


class TestScriptedClientAdapter(ClientAdapterTests):
    @pytest.fixture
    def scripted_provider(self):
        return scripted_client_adapter()


class TestCompletionsRunAdapter(RunAdapterTests):
    @pytest.fixture
    def run_adapter(self):
        return completions_run_adapter()
