"""Image parts of a thread's user message reach Claude as ``image`` blocks (through a run, the real
anthropic SDK, sync and async, and the fake Messages API): an ``image_file`` part as a ``base64``
source holding the file's bytes, an ``image_url`` part as a ``url`` source (a ``base64`` one for a
``data:`` URL). Claude has no ``detail``: it is dropped."""

import re

import pytest

from supercompat import supercompat
from supercompat.errors import InvalidRequest
from supercompat.testing.images import PNG, PNG_BASE64, put_file, run_with_content
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
    run = run_with_content(client, [
        QUESTION, {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_BASE64}"}}])
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
    assert caught.value.param == "messages[0].content"
