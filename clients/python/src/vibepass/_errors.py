"""The errors the client raises: every failure is one of these, never an empty answer."""
from __future__ import annotations

import json
from email.message import Message
from typing import Optional


class VibepassError(Exception):
    """A request to vibepass failed.

    status is the HTTP status (None when no answer came), code the server's
    machine-readable `code` (or the client's own: "connection_error", "timeout",
    "bad_response"), message the server's `error` or what went wrong, and
    retry_after the seconds of a Retry-After header, when there was one.
    """

    def __init__(self, message: str, *, status: Optional[int] = None, code: Optional[str] = None,
                 retry_after: Optional[float] = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else (self.code or "error")
        return f"{where}: {self.message}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, "
                f"code={self.code!r}, retry_after={self.retry_after!r})")

    @property
    def transient(self) -> bool:
        """Whether asking again later may succeed (a broken connection, a timeout,
        a 429 or a 5xx); a wrong key or a bad request will not."""
        return self.status is None or self.status == 429 or self.status >= 500


class AuthError(VibepassError):
    """401 (no key, code missing_api_key) or 403 (a key the server does not accept,
    code invalid_api_key): retrying with the same key will not help."""


class RateLimitError(VibepassError):
    """429: too many requests with this key; wait retry_after seconds."""


class UnavailableError(VibepassError):
    """503 or 504: vibepass cannot reach its database (code unavailable), the
    database is too slow (upstream_timeout), or too many reads or streams are open
    (model_busy, feed_busy, with retry_after). Try again shortly."""


class VibepassConnectionError(VibepassError):
    """No answer: the server could not be reached or the connection broke before the
    answer was complete (status None, code "connection_error")."""


class VibepassTimeoutError(VibepassConnectionError):
    """No answer within the client's timeout (status None, code "timeout")."""


class ResponseError(VibepassError):
    """The server answered something that is not the documented JSON (code "bad_response")."""


def error_from_response(status: int, headers: Message, body: bytes) -> VibepassError:
    """The error for a non-2xx answer, from the API's {"success": false, "error", "code"}."""
    message = f"HTTP {status} with a body that is not the API's JSON"
    code: Optional[str] = None
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if isinstance(data, dict):
        if isinstance(data.get("error"), str):
            message = data["error"]
        if isinstance(data.get("code"), str):
            code = data["code"]
    retry_after: Optional[float] = None
    header = headers.get("Retry-After")
    if header is not None:
        try:
            retry_after = float(header)
        except ValueError:
            retry_after = None
    cls: type[VibepassError] = VibepassError
    if status in (401, 403):
        cls = AuthError
    elif status == 429:
        cls = RateLimitError
    elif status in (503, 504):
        cls = UnavailableError
    return cls(message, status=status, code=code, retry_after=retry_after)
