"""Both local models pass the EmbedderTests kit, run with the network refused (conftest.py)."""

from __future__ import annotations

import pytest

from supercompat.testing import EmbedderTests


class TestMiniLM(EmbedderTests):
    @pytest.fixture
    async def embedder(self, minilm):
        return minilm


class TestWordLlama(EmbedderTests):
    @pytest.fixture
    async def embedder(self, wordllama):
        return wordllama
