"""OpenAI-shaped errors: every failure the API reports goes through :class:`APIError`."""

from __future__ import annotations

import re
from typing import Any


class APIError(Exception):
    """An error reported to the client in OpenAI's envelope with OpenAI's status code."""

    status = 400
    type = "invalid_request_error"
    headers: tuple[tuple[str, str], ...] = ()  # sent with the error response

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 status: int | None = None, type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequest(APIError):
    """400: the request is malformed or breaks a rule of the API."""


class InvalidPrompt(InvalidRequest):
    """400 ``invalid_prompt``: a run's thread can't be sent to the model as it is (an ``image_file``
    part whose file is no image, or too big). A run failing with it has ``last_error.code``
    ``invalid_prompt``."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message, param=param, code="invalid_prompt")


class NotFound(APIError):
    status = 404

    @classmethod
    def object(cls, kind: str, object_id: str) -> NotFound:
        return cls(f"No {kind} found with id '{object_id}'.")


class Unauthorized(APIError):
    """401: no API key, or a wrong one (the HTTP server)."""

    status = 401


class MethodNotAllowed(APIError):
    status = 405

    def __init__(self, message: str, *, allow: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers = (("allow", ", ".join(allow)),) if allow else ()


class ServerError(APIError):
    status = 500
    type = "server_error"


class BadGateway(ServerError):
    """502: the model provider answered something that can't be used."""

    status = 502


# What client adapters raise for a provider's failures, so every provider reports them alike.
def provider_error_type(status: int) -> str:
    """OpenAI's error ``type`` for an HTTP status a provider answered with."""
    if status >= 500:
        return "server_error"
    return "rate_limit_error" if status == 429 else "invalid_request_error"


def provider_timeout() -> APIError:
    return APIError("The model provider did not answer in time.", status=504, type="server_error", code="timeout")


def provider_unreachable(exc: BaseException) -> APIError:
    return BadGateway(f"Could not reach the model provider: {redacted(str(exc))}", code="connection_error")


_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_PATH = re.compile(r"(?<![\w.:/~-])(?:~|\.{1,2})?/(?:[^\s/'\"<>]+/)+[^\s'\"<>]*|\b[a-zA-Z]:\\[^\s'\"<>]+")

# libpq-style keyword connection strings ("host=db user=app password=..."), which are no URL.
_SECRET = re.compile(r"\b(password|passwd|pwd|secret|api_key|apikey|token)=[^\s'\"]+", re.I)


def redacted(text: str) -> str:
    """``text`` for a client's eyes: URLs and file paths (where a database or a provider lives, and
    with whose credentials) are replaced; the log keeps them."""
    return _SECRET.sub(r"\1=<hidden>", _PATH.sub("<path>", _URL.sub("<url>", text)))


class ConfigError(Exception):
    """A configuration or plugin-resolution problem, reported as one clear sentence."""
