"""The anthropic adapter in a forked child: the provider client's kept-alive connections are the
parent's; the child opens its own, and both go on talking to the provider."""

from supercompat import supercompat
from supercompat.testing.forking import check_runs_across_fork
from supercompat_anthropic import anthropic_client_adapter


def test_the_provider_client_works_in_the_child_and_the_parent(make_client):
    client = supercompat(client_adapter=anthropic_client_adapter(anthropic=make_client()), max_retries=0)
    check_runs_across_fork(client, "claude-test")
