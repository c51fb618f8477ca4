"""The built-in adapters pass the conformance kits that third parties use."""

import pytest

from supercompat.runs import completions_run_adapter
from supercompat.testing import ClientAdapterTests, RunAdapterTests, scripted_client_adapter


class TestScriptedClientAdapter(ClientAdapterTests):
    @pytest.fixture
    def scripted_provider(self):
        adapter = scripted_client_adapter()
        adapter.adapter = adapter  # the scripted adapter is its own fake provider
        return adapter


class TestCompletionsRunAdapter(RunAdapterTests):
    @pytest.fixture
    def run_adapter(self):
        return completions_run_adapter()
