"""Image parts of a thread's user message reach Gemini (through a run, the real google-genai SDK,
sync and async, and the fake Gemini): an ``image_file`` part as ``inlineData`` holding the file's
bytes, an ``image_url`` part as ``fileData`` (``inlineData`` for a ``data:`` URL). Gemini has no
``detail`` for all models: it is dropped."""

import base64

import pytest

from supercompat import supercompat
from supercompat.errors import InvalidPrompt
from supercompat.images import data_url
from supercompat.testing.images import IMAGE_URL_PARTS, PNG, put_file, run_with_content
from supercompat_google.testing import Rejected, check_request
from supercompat_google.translate import to_gemini

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
    run = run_with_content(client, [QUESTION, *IMAGE_URL_PARTS])
    assert run.status == "completed", run.last_error
    assert fake.generate_requests[-1]["contents"][0]["parts"][1:] == [
        {"fileData": {"file_uri": "https://example.com/cat.png", "mime_type": "image/png"}},
        {"inlineData": {"mime_type": "image/png", "data": SENT}}]



GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00;"


def test_a_gif_fails_the_run_before_gemini_is_called(adapter, fake):
    """OpenAI and Claude take GIF, Gemini does not: the run fails ``invalid_prompt`` naming the part
    and the types Gemini takes, not with Gemini's refusal as a server error."""
    client = supercompat(client_adapter=adapter, max_retries=0)
    file_id = put_file(client, GIF)
    run = run_with_content(client, [QUESTION, {"type": "image_file", "image_file": {"file_id": file_id}}])
    assert run.status == "failed" and run.last_error.code == "invalid_prompt", run.last_error
    message = run.last_error.message
    assert "messages[0].content[1]" in message and "image/gif, which Gemini does not take" in message
    assert "PNG, JPEG, WEBP, HEIC and HEIF" in message
    assert fake.generate_requests == []


def test_images_over_geminis_20_mb_a_request_fail_the_run_before_gemini_is_called(adapter, fake):
    """Each image within OpenAI's 20 MB, together over the 20 MB a Gemini request may be."""
    client = supercompat(client_adapter=adapter, max_retries=0)
    half = put_file(client, PNG + bytes(8 * 1024 * 1024))
    run = run_with_content(client, [{"type": "image_file", "image_file": {"file_id": half}}])
    assert run.status == "completed", run.last_error
    run = run_with_content(client, [{"type": "image_file", "image_file": {"file_id": half}},
                                    {"type": "image_file", "image_file": {"file_id": half}}])
    assert run.status == "failed" and run.last_error.code == "invalid_prompt", run.last_error
    assert "messages[0].content[1]" in run.last_error.message and "20 MB" in run.last_error.message
    assert len(fake.generate_requests) == 1


def test_the_fake_refuses_what_gemini_refuses():
    def body(*parts: dict) -> dict:
        return {"contents": [{"role": "user", "parts": list(parts)}]}

    check_request(body({"inlineData": {"mimeType": "image/webp", "data": "AAAA"}},
                       {"fileData": {"fileUri": "https://example.com/a.heic", "mimeType": "image/heic"}}))
    for part in ({"inlineData": {"mimeType": "image/gif", "data": "AAAA"}},
                 {"file_data": {"file_uri": "https://example.com/a.gif", "mime_type": "image/gif"}}):
        with pytest.raises(Rejected, match="Unsupported MIME type: image/gif"):
            check_request(body(part))
    big = "A" * (10 * 1024 * 1024)
    check_request(body({"inlineData": {"mimeType": "image/png", "data": big}},
                       {"inlineData": {"mimeType": "image/png", "data": big}}))
    with pytest.raises(Rejected, match="Request payload size exceeds the limit: 20971520 bytes"):
        check_request(body({"inlineData": {"mimeType": "image/png", "data": big}},
                           {"inlineData": {"mimeType": "image/png", "data": big + "AAAA"}}))


def test_an_image_url_gemini_cannot_take_is_refused_naming_the_part():
    for url in ("https://example.com/cat.gif", data_url("image/gif", GIF)):
        params = {"messages": [{"role": "user", "content": [
            {"type": "text", "text": "Hi"}, {"type": "image_url", "image_url": {"url": url}}]}]}
        with pytest.raises(InvalidPrompt, match="image/gif, which Gemini does not take") as caught:
            to_gemini(params, {})
        assert caught.value.param == "messages[0].content[1]" and caught.value.code == "invalid_prompt"
    pdf = {"messages": [{"role": "user", "content": [  # not an image: Gemini reads PDFs too
        {"type": "image_url", "image_url": {"url": "https://example.com/a.pdf"}},
        {"type": "image_url", "image_url": {"url": "data:application/pdf;base64,JVBERi0="}}]}]}
    contents, _ = to_gemini(pdf, {})
    assert [next(iter(part)) for part in contents[0]["parts"]] == ["file_data", "inline_data"]
