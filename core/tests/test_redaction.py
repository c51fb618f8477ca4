"""A run's last_error and a provider's connection error name no URL or file path: clients read them."""

from __future__ import annotations

import pytest

from supercompat import supercompat
from supercompat.errors import APIError, provider_unreachable
from supercompat.storage import memory_storage_adapter

WHERE = ("db.internal", "s3cret", "/srv/app/private", "10.0.0.5")


class FailingModel:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def chat_completions_stream(self, params):
        raise self.error
        yield  # an async generator


@pytest.mark.parametrize("error", [
    APIError("upstream at https://user:s3cret@db.internal:8443/v1 refused; see /srv/app/private/log.txt", status=502),
    RuntimeError("could not read /srv/app/private/keys.json from postgresql://app:s3cret@10.0.0.5/db"),
], ids=["api-error", "our-bug"])
def test_a_failed_runs_last_error_names_no_url_or_path(error):
    client = supercompat(client_adapter=FailingModel(error), storage_adapter=memory_storage_adapter(), max_retries=0)
    a = client.beta.assistants.create(model="m")
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert run.status == "failed" and run.last_error.message
    assert not [w for w in WHERE if w in run.last_error.message], run.last_error.message


def test_a_providers_connection_error_names_no_url():
    message = provider_unreachable(OSError("connect to https://key:s3cret@db.internal/v1 failed")).message
    assert message.startswith("Could not reach the model provider:") and "db.internal" not in message
