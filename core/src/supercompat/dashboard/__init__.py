"""The dashboard (docs/dashboard.md): static pages under ``/ui`` that call the API under ``/v1`` with
the key their user logs in with, so they show exactly what that key may see. The pages hold no data
and need no key themselves; ``supercompat serve`` answers them unless ``[server] ui = false``.

The front end is plain JavaScript modules, HTML and CSS in ``static/``, shipped as package data: no
build step, nothing fetched from elsewhere (the Content-Security-Policy allows this origin only).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from ..errors import MethodNotAllowed, NotFound
from ..router import Response

PREFIX = "/ui"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
# Messages, files and tool outputs are shown as text, never as markup; the policy is a second line:
# no inline script, no other origin, no framing, and the key never leaves in a form or a referrer.
HEADERS = [
    ("content-security-policy", "default-src 'none'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' blob: data:; connect-src 'self'; form-action 'none'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-cache"),  # revalidated (ETag) each time: an upgrade shows at once
]


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _assets() -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    for item in (resources.files(__name__) / "static").iterdir():
        suffix = "." + item.name.rpartition(".")[2]
        if item.is_file() and suffix in TYPES:
            body = item.read_bytes()
            found[item.name] = Asset(body, TYPES[suffix], '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
    return found


class Dashboard:
    """Answers ``GET`` and ``HEAD`` under ``/ui``: ``/ui/`` is the app, the rest its files."""

    def __init__(self) -> None:
        self.assets = _assets()

    @staticmethod
    def serves(path: str) -> bool:
        return path == PREFIX or path.startswith(PREFIX + "/")

    def respond(self, method: str, path: str, headers: dict[str, str]) -> Response:
        if method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"Method {method} is not allowed on {path}.", allow=("GET", "HEAD"))
        if path == PREFIX:  # relative links in the page resolve against /ui/
            return Response(308, b"", [("location", PREFIX + "/"), *HEADERS])
        asset = self.assets.get(path[len(PREFIX) + 1:] or "index.html")
        if asset is None:
            raise NotFound(f"Invalid URL ({method} {path})", code="unknown_url")
        common = [("etag", asset.etag), *HEADERS]
        if asset.etag in (headers.get("if-none-match") or ""):
            return Response(304, b"", common)
        return Response(200, asset.body, [("content-type", asset.content_type), *common])  # uvicorn drops HEAD's


__all__ = ["Dashboard", "PREFIX"]
