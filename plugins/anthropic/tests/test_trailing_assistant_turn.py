"""Findings of a review of the anthropic adapter, each shown through the real anthropic SDK (sync
and async) against the fake provider, or on the translation itself."""

from supercompat_anthropic.testing import problem
from supercompat_anthropic.translate import messages_request

PARAMS = {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "Hi there"}]}


def translate(messages, model="claude-sonnet-4-6", **params):
    body = messages_request({"model": model, "messages": messages, **params}, model=model, max_tokens=None,
                            stream=False)
    assert problem(body) is None, problem(body)
    return body


def test_a_conversation_that_ends_with_the_assistant_still_ends_with_a_user_turn():
    # Claude 4.6 and later refuse assistant prefill ("The conversation must end with a user
    # message."), older models would continue the message instead of answering. A thread ends with
    # an assistant message whenever a run follows a finished run without a new user message.
    body = translate([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! "}])
    assert [turn["role"] for turn in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [{"type": "text", "text": "Hello! "}]
    assert body["messages"][2]["content"][0]["text"]


def test_a_run_right_after_a_finished_run_asks_claude_for_a_new_answer(fake):
    import anthropic

    from supercompat import supercompat
    from supercompat_anthropic import anthropic_client_adapter

    with anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0) as sdk:
        client = supercompat(client_adapter=anthropic_client_adapter(anthropic=sdk))
        assistant = client.beta.assistants.create(model="claude-sonnet-4-6")
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
        for _ in range(2):
            run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
            assert run.status == "completed", run.last_error
    second = fake.message_requests[-1]["messages"]
    assert [turn["role"] for turn in second] == ["user", "assistant", "user"]
