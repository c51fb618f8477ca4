"""Core's bubblewrap sandbox passes SandboxTests (tox env sandbox), with the Python environment that
``sandbox_python.py`` makes (numpy, pandas, matplotlib), or the one ``SUPERCOMPAT_SANDBOX_PYTHON``
names, else /usr/bin/python3 (the figure test is then skipped)."""

import os

import pytest
from sandbox_python import PYTHON as MADE

from supercompat.sandbox_bubblewrap import BubblewrapOptions, BubblewrapSandbox
from supercompat.testing import SandboxTests

PYTHON = os.environ.get("SUPERCOMPAT_SANDBOX_PYTHON") or (str(MADE) if MADE.exists() else "/usr/bin/python3")


class TestBubblewrap(SandboxTests):
    @pytest.fixture
    async def sandbox(self):
        sandbox = BubblewrapSandbox(BubblewrapOptions(python=PYTHON))
        yield sandbox
        await sandbox.close()
