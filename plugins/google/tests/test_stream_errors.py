"""Findings of a review of the google adapter, each shown through the real google-genai SDK (sync
and async) against the fake Gemini, or on the translation itself."""

import pytest

from supercompat.errors import APIError
from supercompat_google.testing import Error

PARAMS = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Hi there"}]}


async def test_a_refused_stream_fails_before_its_first_chunk(adapter, fake):
    # supercompat answers a streamed chat completion only once the first chunk is in, so that a
    # provider error is an HTTP error (a 429 the openai SDK can retry), not a broken 200 stream.
    fake.script(Error(429, "Resource has been exhausted."))
    stream = adapter.chat_completions_stream(PARAMS)
    with pytest.raises(APIError) as info:
        await anext(stream)
    assert info.value.status == 429
    await stream.aclose()
