"""Image parts of a thread's user message reach Gemini (through a run, the real google-genai SDK,
sync and async, and the fake Gemini): an ``image_file`` part as ``inlineData`` holding the file's
bytes, an ``image_url`` part as ``fileData`` (``inlineData`` for a ``data:`` URL). Gemini has no
``detail`` for all models: it is dropped."""

import base64

from supercompat import supercompat
from supercompat.testing.images import PNG, PNG_BASE64, put_file, run_with_content

QUESTION = {"type": "text", "text": "What is in it?"}
# The SDK decodes the base64 it is given and sends the bytes in URL-safe base64 (``-`` and ``_``
# for ``+`` and ``/``), which Gemini reads as it reads the standard alphabet.
SENT = base64.urlsafe_b64encode(PNG).decode()


def test_an_image_file_part_reaches_gemini_as_inline_data(adapter, fake):
    client = supercompat(client_adapter=adapter, max_retries=0)
    file_id = put_file(client, PNG)
    run = run_with_content(client, [QUESTION, {"type": "image_file", "image_file": {"file_id": file_id,
                                                                                      "detail": "high"}}])
    assert run.status == "completed", run.last_error
    # The SDK spells the fields inside a part in snake_case; Gemini reads either spelling.
    assert fake.generate_requests[-1]["contents"] == [{"role": "user", "parts": [
        {"text": "What is in it?"}, {"inlineData": {"mime_type": "image/png", "data": SENT}}]}]


def test_image_url_parts_reach_gemini_as_file_data_and_inline_data(adapter, fake):
    client = supercompat(client_adapter=adapter, max_retries=0)
    run = run_with_content(client, [
        QUESTION, {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_BASE64}"}}])
    assert run.status == "completed", run.last_error
    assert fake.generate_requests[-1]["contents"][0]["parts"][1:] == [
        {"fileData": {"file_uri": "https://example.com/cat.png", "mime_type": "image/png"}},
        {"inlineData": {"mime_type": "image/png", "data": SENT}}]

