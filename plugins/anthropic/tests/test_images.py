"""Image parts of a thread's user message reach Claude as ``image`` blocks (through a run, the real
anthropic SDK, sync and async, and the fake Messages API): an ``image_file`` part as a ``base64``
source holding the file's bytes, an ``image_url`` part as a ``url`` source (a ``base64`` one for a
``data:`` URL). Claude has no ``detail``: it is dropped."""

import re

import pytest

from supercompat import supercompat
from supercompat.errors import InvalidPrompt, InvalidRequest
from supercompat.images import data_url
from supercompat.testing.images import IMAGE_URL_PARTS, PNG, PNG_BASE64, put_file, run_with_content
from supercompat_anthropic.testing import problem
from supercompat_anthropic.translate import messages_request

QUESTION = {"type": "text", "text": "What is in it?"}


def test_an_image_file_part_reaches_claude_as_a_base64_image(adapter, fake):
    client = supercompat(client_adapter=adapter, max_retries=0)
    file_id = put_file(client, PNG)
    run = run_with_content(client, [QUESTION, {"type": "image_file", "image_file": {"file_id": file_id,
                                                                                      "detail": "high"}}])
    assert run.status == "completed", run.last_error
    assert fake.message_requests[-1]["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "What is in it?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_BASE64}}]}]


def test_image_url_parts_reach_claude_as_url_and_base64_images(adapter, fake):
    client = supercompat(client_adapter=adapter, max_retries=0)
    run = run_with_content(client, [QUESTION, *IMAGE_URL_PARTS])
    assert run.status == "completed", run.last_error
    assert fake.message_requests[-1]["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_BASE64}}]


@pytest.mark.parametrize(("url", "message"), [("ftp://example.com/cat.png", "http(s) URL or as data: URLs"),
                                              ("data:;base64,AAAA", "needs a media type and data")])
def test_image_urls_claude_cannot_take_are_refused_naming_the_message(url, message):
    params = {"model": "claude-sonnet-4-6", "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]}
    with pytest.raises(InvalidRequest, match=re.escape(message)) as caught:
        messages_request(params, model="claude-sonnet-4-6", max_tokens=None, stream=False)
    assert caught.value.param == "messages[0].content[0]"


# Claude takes 5 MB of base64 an image: a file of three quarters of that, 3.75 MB.
LARGEST = PNG + bytes(5 * 1024 * 1024 * 3 // 4 - len(PNG))


def test_an_image_over_claudes_5_mb_fails_the_run_before_claude_is_called(adapter, fake):
    """OpenAI takes 20 MB an image, Claude 5 MB of base64: the run fails ``invalid_prompt`` naming the
    part, not with the provider's refusal as a server error."""
    client = supercompat(client_adapter=adapter, max_retries=0)
    file_id = put_file(client, LARGEST + b"\0")
    run = run_with_content(client, [QUESTION, {"type": "image_file", "image_file": {"file_id": file_id}}])
    assert run.status == "failed" and run.last_error.code == "invalid_prompt", run.last_error
    assert "messages[0].content[1]" in run.last_error.message and "5 MB" in run.last_error.message
    assert "Claude" in run.last_error.message
    assert fake.message_requests == []


def test_an_image_of_exactly_5_mb_of_base64_reaches_claude(adapter, fake):
    client = supercompat(client_adapter=adapter, max_retries=0)
    file_id = put_file(client, LARGEST)
    run = run_with_content(client, [{"type": "image_file", "image_file": {"file_id": file_id}}])
    assert run.status == "completed", run.last_error
    [block] = fake.message_requests[-1]["messages"][0]["content"]
    assert len(block["source"]["data"]) == 5 * 1024 * 1024


def image_body(*urls: str) -> dict:
    return {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [
        {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": u}} for u in urls]}]}


def test_the_fake_refuses_what_claude_refuses():
    too_big = messages_request({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": data_url("image/png", LARGEST)}}]}]},
        model="claude-sonnet-4-6", max_tokens=None, stream=False)
    assert problem(too_big) is None
    too_big["messages"][0]["content"][0]["source"]["data"] += "AAAA"
    assert "image exceeds 5 MB maximum: 5242884 bytes > 5242880 bytes" in problem(too_big)
    assert problem(image_body(*["https://example.com/a.png"] * 600)) is None
    assert "too many images" in problem(image_body(*["https://example.com/a.png"] * 601))


def test_claudes_image_types_and_count_are_checked_before_sending():
    def request(*urls: str) -> dict:
        params = {"model": "claude-sonnet-4-6", "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": u}} for u in urls]}]}
        return messages_request(params, model="claude-sonnet-4-6", max_tokens=None, stream=False)

    with pytest.raises(InvalidPrompt, match="image/bmp, which Claude does not take") as caught:
        request("https://example.com/a.png", "data:image/bmp;base64,Qk0=")
    assert caught.value.param == "messages[0].content[1]" and caught.value.code == "invalid_prompt"
    request(*["https://example.com/a.png"] * 600)
    with pytest.raises(InvalidPrompt, match="at most 600 images") as caught:
        request(*["https://example.com/a.png"] * 601)
    assert caught.value.param == "messages[0].content[600]"
