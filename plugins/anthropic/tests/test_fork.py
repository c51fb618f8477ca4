"""The anthropic adapter in a forked child: the provider client's kept-alive connections are the
parent's; the child opens its own, and both go on talking to the provider."""

from supercompat import supercompat
from supercompat.testing.forking import in_forked_child
from supercompat_anthropic import anthropic_client_adapter


def completed_run(client, assistant_id):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    return client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_id,
                                                    poll_interval_ms=1).status


def test_the_provider_client_works_in_the_child_and_the_parent(make_client):
    client = supercompat(client_adapter=anthropic_client_adapter(anthropic=make_client()), max_retries=0)
    assistant = client.beta.assistants.create(model="claude-test")
    assert completed_run(client, assistant.id) == "completed"  # a connection kept alive in the pool

    assert in_forked_child(lambda: [completed_run(client, assistant.id) for _ in range(2)]) == ["completed"] * 2
    assert completed_run(client, assistant.id) == "completed"
