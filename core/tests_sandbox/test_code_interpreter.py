"""code_interpreter in runs on core's bubblewrap sandbox, with the Python environment of the sandbox
tests (numpy, pandas, matplotlib): the CodeInterpreterTests kit, in process with the scripted model."""

import pytest

from supercompat.testing import CodeInterpreterTests
from supercompat.testing.sandbox_python import sandbox_for_tests


class TestCodeInterpreterOnBubblewrap(CodeInterpreterTests):
    @pytest.fixture
    def sandbox(self):
        return sandbox_for_tests()  # closed with the App
