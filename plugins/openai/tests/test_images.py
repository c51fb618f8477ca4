"""Image parts of a thread's user message reach OpenAI as chat-completions ``image_url`` parts with
their ``detail`` (through a run, the real openai SDK on both sides, and the fake OpenAI): an
``image_file`` part's URL is a ``data:`` URL of the file's bytes, an ``image_url`` part's is its own."""

from supercompat import supercompat
from supercompat.testing.images import IMAGE_URL_PARTS, PNG, PNG_URL, put_file, run_with_content

QUESTION = {"type": "text", "text": "What is in it?"}


def test_an_image_file_part_reaches_openai_as_a_data_url(adapter, fake):
    client = supercompat(client_adapter=adapter, max_retries=0)
    file_id = put_file(client, PNG)
    run = run_with_content(client, [QUESTION, {"type": "image_file", "image_file": {"file_id": file_id,
                                                                                      "detail": "high"}}])
    assert run.status == "completed", run.last_error
    assert fake.chat_requests[-1]["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "What is in it?"},
        {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "high"}}]}]


def test_image_url_parts_reach_openai_as_given(adapter, fake):
    client = supercompat(client_adapter=adapter, max_retries=0)
    run = run_with_content(client, [QUESTION, *IMAGE_URL_PARTS])
    assert run.status == "completed", run.last_error
    assert fake.chat_requests[-1]["messages"][0]["content"][1:] == list(IMAGE_URL_PARTS)
