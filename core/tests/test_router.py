"""Errors outside the resources: unknown routes, wrong methods, bad JSON, our own bugs."""

from __future__ import annotations

import httpx2
import openai
import pytest

from supercompat import App, SupercompatTransport, supercompat
from supercompat.router import Router

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it


def raw_client() -> httpx2.Client:
    return httpx2.Client(transport=SupercompatTransport(App()), base_url="http://test/v1")


def test_unknown_route_is_404_in_the_envelope():
    r = raw_client().get("/nothing/here")
    assert r.status_code == 404 and r.headers["x-should-retry"] == "false"
    assert r.json() == {"error": {"message": "Invalid URL (GET /v1/nothing/here)",
                                  "type": "invalid_request_error", "param": None, "code": "unknown_url"}}


def test_wrong_method_is_405():
    r = raw_client().put("/assistants")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_malformed_json_is_400():
    r = raw_client().post("/assistants", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "could not parse the JSON body" in r.json()["error"]["message"]
    r = raw_client().post("/assistants", content=b"[1, 2]")
    assert r.status_code == 400


def test_a_body_that_is_not_json_is_refused_in_process_as_over_http():
    http = raw_client()
    for kind in ("text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", None):
        headers = {"content-type": kind} if kind else {}
        r = http.post("/assistants", content=b'{"model": "m"}', headers=headers)
        assert r.status_code == 400
        assert r.json()["error"] == {
            "message": f"Unsupported content type: {kind or ''!r}. This API method only accepts 'application/json' "
                       f"requests, but you specified the header 'Content-Type: {kind or ''}'. Please try again "
                       "with a supported content type.",
            "type": "invalid_request_error", "param": None, "code": "unsupported_content_type"}
    assert http.get("/assistants").json()["data"] == []  # nothing was created
    assert http.post("/threads").status_code == 200  # no body, no type needed (openai-node's cancel, DELETE)
    client = supercompat(max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        client.post("/assistants", body={"model": "m"}, cast_to=object,
                    options={"headers": {"Content-Type": "text/plain"}})
    assert refused.value.code == "unsupported_content_type"
    assert client.beta.assistants.list().data == []


def test_literal_segments_win_over_parameters():
    router = Router()

    async def literal(app, req): return "literal"
    async def param(app, req): return "param"
    router.add("POST", "/threads/{thread_id}", param)
    router.add("POST", "/threads/runs", literal)
    assert router.find("POST", "/v1/threads/runs")[0] is literal
    assert router.find("POST", "/v1/threads/thread_1") == (param, {"thread_id": "thread_1"}, None)


class BrokenStorage:
    async def create_assistant(self, assistant):
        raise RuntimeError("boom")

    async def close(self):
        pass


def test_our_bug_is_a_500_in_the_envelope_not_a_dropped_connection(caplog):
    client = supercompat(storage_adapter=BrokenStorage())
    with pytest.raises(openai.InternalServerError) as info:
        client.beta.assistants.create(model="m")
    assert info.value.status_code == 500
    assert info.value.body["type"] == "server_error"
    assert info.value.response.headers["x-should-retry"] == "false"
    assert "boom" in caplog.text  # logged for us, not shown to the caller
    assert "boom" not in info.value.message


def test_a_long_string_of_escapes_in_a_deep_body_is_refused_without_memory_to_match():
    # The depth scan's string pattern kept backtracking state per escape: 300 MB for this 4 MB body.
    import tracemalloc

    from supercompat.errors import InvalidRequest
    from supercompat.router import parse_json_body

    body = b'{"model":"m","x":' + b"[" * 34 + b"]" * 34 + b',"name":"' + b"\\n" * 2_000_000 + b'"}'
    tracemalloc.start()
    try:
        with pytest.raises(InvalidRequest, match="nested too deeply"):
            parse_json_body(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(body)


def test_a_refused_key_comes_back_escaped_in_the_error():
    r = raw_client().post("/assistants", content=b'{"model":"m","metadata":{"a\\u0000b":"x"}}',
                          headers={"content-type": "application/json"})
    error = r.json()["error"]
    assert r.status_code == 400 and error["param"] == "metadata.a\\u0000b"
    assert "\x00" not in error["message"]
