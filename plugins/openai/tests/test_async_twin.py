"""A plain sync openai.OpenAI is called through an AsyncOpenAI twin on supercompat's loop: same
settings on the wire, no worker thread; a client with an http_client of its own is used as given."""

import httpx2
import openai
import pytest

from supercompat import providers, supercompat
from supercompat_openai import openai_client_adapter


@pytest.fixture
def no_worker_threads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the provider was called in a worker thread")

    monkeypatch.setattr(providers, "call_in_thread", refuse)  # the provider shell's way to a worker thread
    monkeypatch.setattr(providers, "iterate_in_thread", refuse)


def run_once(provider: openai.OpenAI):
    client = supercompat(client_adapter=openai_client_adapter(openai=provider), max_retries=0)
    assistant = client.beta.assistants.create(model="fake-model", instructions="Be brief.")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    return client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                    poll_interval_ms=1)


def test_a_plain_sync_client_runs_on_the_loop_with_its_own_settings(fake, no_worker_threads):
    provider = openai.OpenAI(base_url=fake.base_url, api_key="sync-key", organization="org-1", project="p-1",
                             max_retries=0, default_headers={"x-team": "blue"})
    run = run_once(provider)
    assert run.status == "completed"
    request = fake.requests[-1]
    assert request["path"] == "/v1/chat/completions"
    headers = request["headers"]
    assert headers["authorization"] == "Bearer sync-key"
    assert headers["openai-organization"] == "org-1" and headers["openai-project"] == "p-1"
    assert headers["x-team"] == "blue"


def test_a_client_with_its_own_http_client_is_used_as_given(fake):
    seen = []

    class Recording(httpx2.HTTPTransport):
        def handle_request(self, request):
            seen.append(request.url.path)
            return super().handle_request(request)

    provider = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0,
                             http_client=openai.DefaultHttpxClient(transport=Recording()))
    assert run_once(provider).status == "completed"
    assert seen == ["/v1/chat/completions"]


def test_provider_errors_map_the_same_through_the_twin(fake, no_worker_threads):
    from supercompat_openai.testing import Error

    fake.script(Error(429, "Slow down", "rate_limit_error"))
    run = run_once(openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0))
    assert run.status == "failed"
    assert run.last_error.code == "rate_limit_exceeded" and run.last_error.message == "Slow down"


def test_the_twin_shares_the_sync_clients_tls_context(fake, monkeypatch):
    # Building a TLS context loads the CA bundle: most of what an AsyncOpenAI() costs (15-30 ms),
    # paid on the first run of every new adapter if the twin built its own.
    import httpcore2

    provider = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
    built = []
    default_ssl_context = httpcore2.default_ssl_context
    monkeypatch.setattr(httpcore2, "default_ssl_context",
                        lambda *a, **kw: built.append(1) or default_ssl_context(*a, **kw))
    assert run_once(provider).status == "completed"
    assert built == []
