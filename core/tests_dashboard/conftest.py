"""The dashboard's browser tests: a real headless Chromium (Debian's ``chromium``, or the executable
``$SUPERCOMPAT_CHROMIUM`` names) driven by Playwright, which is only the driver here: it never
downloads a browser. Servers of the fake model (fake_model.py) on memory, SQLite and PostgreSQL
storage, and ``supercompat serve --workers 2`` as a subprocess.

pytest runs with asyncio_mode = "auto", and Playwright's sync API refuses to run inside an event
loop: the tests and fixtures here are plain (sync) functions.

    def test_it(server, page):
        page.goto(server.url + "/ui/")
        ...
        assert ("GET", "/v1/threads?limit=20") in page.api_calls
        screenshot(page, "threads")   # into $SUPERCOMPAT_SCREENSHOTS (docs/dashboard/), if set
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, sync_playwright

from supercompat import App
from supercompat.testing.browser import launch_chromium
from supercompat.testing.serving import RunningServer, serving
from supercompat_sqlalchemy import sqlalchemy_storage_adapter
from supercompat_sqlalchemy.testing import BACKENDS, scratch_database

from fake_model import Model

KEY_A, KEY_B = "sk-dashboard-alpha", "sk-dashboard-beta"  # projects "alpha" and "beta"
API_KEYS = [{"key": KEY_A, "project": "alpha"}, {"key": KEY_B, "project": "beta"}]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
# $SUPERCOMPAT_TEST_DATABASES (supercompat_sqlalchemy.testing) narrows these, e.g. to sqlite.
SQL_BACKENDS = [backend for backend in BACKENDS if backend in ("sqlite", "postgresql")]

__all__ = ["KEY_A", "KEY_B", "Model", "screenshot", "serving_workers"]


# -- the browser -------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session."""
    with sync_playwright() as playwright:
        try:
            launched = launch_chromium(playwright)
        except FileNotFoundError as missing:
            pytest.fail(str(missing), pytrace=False)
        yield launched
        launched.close()


@contextlib.contextmanager
def _page(browser: Browser, **context_options: object) -> Iterator[Page]:
    context = browser.new_context(**context_options)
    try:
        page = context.new_page()
        calls: list[tuple[str, str]] = []
        page.api_calls = calls

        def record(request: Request) -> None:
            url = urlsplit(request.url)
            if url.path.startswith("/v1/"):
                calls.append((request.method, url.path + (f"?{url.query}" if url.query else "")))

        page.on("request", record)
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a new browser context (1280x800). ``page.api_calls`` lists the ``(method,
    path?query)`` of each request it made under ``/v1/``, in order; Playwright reports requests
    when the test next talks to the browser, so read it after an action or wait."""
    with _page(browser, viewport={"width": 1280, "height": 800}) as made:
        yield made


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    """As ``page``, on a phone: 390x844, mobile, touch."""
    with _page(browser, **PHONE) as made:
        yield made


def screenshot(page: Page, name: str) -> None:
    """Save what ``page`` shows as ``<name>.png`` in ``$SUPERCOMPAT_SCREENSHOTS`` (the docs take
    theirs into docs/dashboard/ this way); without the variable, nothing."""
    folder = os.environ.get("SUPERCOMPAT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)


# -- servers -----------------------------------------------------------------------------------------

@pytest.fixture
def model() -> Model:
    """The model the ``server`` and ``sql_server`` fixtures answer with (``model.script(...)``)."""
    return Model()


@contextlib.contextmanager
def _serve(app: App) -> Iterator[RunningServer]:
    with serving(app, api_keys=API_KEYS, shutdown_grace_seconds=0) as running:
        yield running
    running.call(app.aclose(grace=0)).result()  # on the loop it served on


@pytest.fixture
def server(model: Model) -> Iterator[RunningServer]:
    """A real uvicorn server (memory storage) of the fake model; keys KEY_A (project "alpha") and
    KEY_B ("beta"). It has ``.url``, ``.base_url`` and ``.client(kind, api_key=...)``."""
    with _serve(App(client_adapter=model)) as running:
        yield running


@pytest.fixture(params=SQL_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new empty database: a SQLite file, or a PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'dashboard.db'}"
    else:
        with scratch_database(request.param) as url:
            yield url


@pytest.fixture
def sql_server(model: Model, database_url: str) -> Iterator[RunningServer]:
    """As ``server``, on SQL storage (``database_url``: SQLite, then PostgreSQL)."""
    with _serve(App(client_adapter=model, storage_adapter=sqlalchemy_storage_adapter(database_url))) as running:
        yield running


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url + "/health", timeout=5) as response:
            return response.status
    except OSError:
        return None


@contextlib.contextmanager
def serving_workers(database_url: str, folder: Path, workers: int = 2, replies: str = "[]") -> Iterator[str]:
    """``supercompat serve --workers N`` in a subprocess, on SQL storage at ``database_url``, the
    scripted model (answering with ``replies``, a TOML array) and the keys above (config and log in
    ``folder``); yields its URL once GET /health answers, stops it (and its workers) at the end."""
    config = folder / "supercompat.toml"
    keys = ", ".join(f"{{ key = {json.dumps(k['key'])}, project = {json.dumps(k['project'])} }}" for k in API_KEYS)
    config.write_text(f'[client]\nplugin = "scripted"\nreplies = {replies}\n\n'
                      f'[storage]\nplugin = "sqlalchemy"\nurl = {json.dumps(database_url)}\n\n'
                      f'[server]\napi_keys = [{keys}]\nshutdown_grace_seconds = 0\n')
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "serve.log"
    command = [str(Path(sys.executable).with_name("supercompat")), "serve", "--config", str(config),
               "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:  # the child has its own copy of the file
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # its own process group: the workers stop with it
    try:
        deadline = time.monotonic() + 60
        while _health(url) != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"supercompat serve --workers {workers} did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):  # a worker left behind, or one that ignored SIGTERM
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
