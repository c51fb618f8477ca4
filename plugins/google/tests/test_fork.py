"""The google adapter in a forked child: the provider client's kept-alive connections are the parent's;
the child opens its own, and both go on talking to the provider."""

import pytest

from supercompat import supercompat
from supercompat.testing.forking import check_runs_across_fork, completed_run, in_forked_child
from supercompat_google import google_client_adapter


def test_the_provider_client_works_in_the_child_and_the_parent(make_client):
    client = supercompat(client_adapter=google_client_adapter(google=make_client()), max_retries=0)
    check_runs_across_fork(client, "gemini-2.5-flash")


def pooled(sdk):
    api = sdk._api_client
    return sum(len(c._transport._pool._connections) for c in (api._httpx_client, api._async_httpx_client)
               if c is not None)


def test_the_child_never_sends_on_the_parents_connections(make_client):
    sdk = make_client()
    client = supercompat(client_adapter=google_client_adapter(google=sdk), max_retries=0)
    assistant = client.beta.assistants.create(model="gemini-2.5-flash")
    assert completed_run(client, assistant.id) == "completed"
    if not pooled(sdk):
        pytest.skip("this client kept no connection alive")
    assert in_forked_child(lambda: pooled(sdk)) == 0  # two processes on one stream would garble both
