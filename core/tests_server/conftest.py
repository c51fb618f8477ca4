"""A real uvicorn server on 127.0.0.1 (a free port, in a thread) serving an ASGIApp: the kits' own
(``supercompat.testing.serving``), shared by every module here."""

from __future__ import annotations

import pytest

from supercompat.testing.serving import KEY, RunningServer, serving

__all__ = ["KEY", "RunningServer", "serving"]


@pytest.fixture(scope="module")
def http_server():
    """One server per module; a test may give it a fresh App (``http_server.asgi.app = App(...)``)."""
    with serving(api_keys=[KEY]) as server:
        yield server
