"""The openai adapter in a forked child: the provider client's kept-alive connections (and the async twin
on the parent's loop) are the parent's; the child opens its own, and both go on talking to the provider."""

import openai
import pytest

from supercompat import supercompat
from supercompat.loop import run_sync
from supercompat.testing.forking import check_runs_across_fork
from supercompat_openai import openai_client_adapter


@pytest.mark.parametrize("kind", ["sync", "sync-own-http-client", "async"])
def test_the_provider_client_works_in_the_child_and_the_parent(fake, kind):
    options = {"base_url": fake.base_url, "api_key": "k", "max_retries": 0, "timeout": 20}
    if kind == "sync-own-http-client":
        options["http_client"] = openai.DefaultHttpxClient()
    provider = (openai.AsyncOpenAI if kind == "async" else openai.OpenAI)(**options)
    client = supercompat(client_adapter=openai_client_adapter(openai=provider), max_retries=0)
    try:
        check_runs_across_fork(client, "fake-model")
    finally:  # the provider client is the test's to close, an async one on the loop its connections live on
        if kind == "async":
            run_sync(provider.close())
        else:
            provider.close()
