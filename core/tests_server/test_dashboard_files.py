"""The dashboard's files under /ui (its pages are tested in a browser in core/tests_dashboard), its
switch, and the thread list it reads (GET /v1/threads, scoped by project like everything else)."""

from __future__ import annotations

import httpx2

from supercompat.cli import main

from conftest import serving

KEYS = [{"key": "sk-alpha", "project": "alpha"}, {"key": "sk-beta", "project": "beta"}]


def test_the_dashboard_is_served_without_a_key_with_its_policy_and_revalidated():
    with serving(api_keys=KEYS) as server, httpx2.Client(base_url=server.url) as http:
        moved = http.get("/ui")
        assert moved.status_code == 308 and moved.headers["location"] == "/ui/"
        page = http.get("/ui/")
        assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
        assert '<script type="module" src="app.js"></script>' in page.text
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "form-action 'none'" in policy
        assert page.headers["cache-control"] == "no-cache" and page.headers["x-content-type-options"] == "nosniff"
        script = http.get("/ui/app.js")
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert http.get("/ui/app.js", headers={"If-None-Match": script.headers["etag"]}).status_code == 304
        for missing in ("/ui/nothing.js", "/ui/%2e%2e/server.py", "/ui/static/app.js", "/ui/.%2fapp.js"):
            assert http.get(missing).status_code == 404, missing
        refused = http.post("/ui/", json={})
        assert refused.status_code == 405 and refused.json()["error"]["message"]
        assert http.get("/v1/threads").status_code == 401  # the API still wants its key


def test_ui_false_serves_no_dashboard():
    with serving(api_keys=KEYS, ui=False) as server, httpx2.Client(base_url=server.url) as http:
        answer = http.get("/ui/")
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "unknown_url"


def test_serve_no_ui_turns_the_dashboard_off(monkeypatch):
    seen = {}
    monkeypatch.setattr("supercompat.server.serve", lambda path, **overrides: seen.update(overrides))
    assert main(["serve", "--no-ui"]) == 0 and seen["ui"] is False
    assert main(["serve"]) == 0 and seen["ui"] is None  # [server] ui decides


def test_the_thread_list_pages_a_projects_threads_only():
    with serving(api_keys=KEYS) as server:
        alpha, beta = server.client(api_key="sk-alpha"), server.client(api_key="sk-beta")
        mine = [alpha.beta.threads.create(metadata={"n": str(n)}).id for n in range(3)]
        theirs = beta.beta.threads.create().id
        with httpx2.Client(base_url=server.base_url, headers={"Authorization": "Bearer sk-alpha"}) as http:
            first = http.get("/threads", params={"limit": 2}).json()
            assert [t["id"] for t in first["data"]] == mine[:0:-1] and first["has_more"] is True
            assert first["object"] == "list" and first["first_id"] == mine[2] and "project" not in first["data"][0]
            rest = http.get("/threads", params={"after": first["last_id"]}).json()
            assert [t["id"] for t in rest["data"]] == [mine[0]] and rest["has_more"] is False
            assert http.get("/threads", params={"limit": 0}).status_code == 400
        with httpx2.Client(base_url=server.base_url, headers={"Authorization": "Bearer sk-beta"}) as http:
            assert [t["id"] for t in http.get("/threads").json()["data"]] == [theirs]
