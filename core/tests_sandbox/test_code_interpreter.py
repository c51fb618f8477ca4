"""code_interpreter in runs on core's bubblewrap sandbox, with the Python environment of the sandbox
tests (numpy, pandas, matplotlib): the CodeInterpreterTests kit, in process with the scripted model."""

import pytest
from test_bubblewrap import PYTHON

from supercompat.sandbox_bubblewrap import BubblewrapOptions, BubblewrapSandbox
from supercompat.testing import CodeInterpreterTests


class TestCodeInterpreterOnBubblewrap(CodeInterpreterTests):
    @pytest.fixture
    def sandbox(self):
        return BubblewrapSandbox(BubblewrapOptions(python=PYTHON))  # closed with the App
