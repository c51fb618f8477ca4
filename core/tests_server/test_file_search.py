"""FileSearchTests through the real server: openai.OpenAI and openai.AsyncOpenAI with base_url pointed
at `supercompat serve`'s uvicorn, the scripted model behind it."""

from __future__ import annotations

from supercompat.testing import FileSearchTests
from supercompat.testing.serving import served_client


class TestFileSearchOverHTTP(FileSearchTests):
    client = served_client(["sync-client", "async-client"])
