"""Over HTTP, a poll is never held past the client's read timeout: create_and_poll with a timeout
shorter than the model turn completes instead of raising APITimeoutError."""

from __future__ import annotations

import openai

from supercompat import App
from supercompat.testing.cancels import PacedModel

from conftest import KEY, serving


def test_create_and_poll_outlives_a_read_timeout_shorter_than_the_turn():
    model = PacedModel(text="Done.", delay=0, start_after=3.5)  # answers "Done." after 3.5 s
    with serving(App(client_adapter=model), api_keys=[KEY]) as server, \
            openai.OpenAI(base_url=server.base_url, api_key=KEY, timeout=2.0, max_retries=0) as client:
        a = client.beta.assistants.create(model="m")
        t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
        assert run.status == "completed"
        assert client.beta.threads.messages.list(t.id).data[0].content[0].text.value == "Done."
