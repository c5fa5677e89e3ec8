"""The model client: list, summary, history and the presence feed."""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Union, overload

from . import _http
from ._errors import ResponseError, error_from_response
from ._models import ActiveUsers, History, Summary, Unchanged

if TYPE_CHECKING:
    from ._follow import Follower

DEFAULT_URL = "http://localhost:3000"


def default_url() -> str:
    """VIBEPASS_URL, or http://localhost:3000."""
    return os.environ.get("VIBEPASS_URL") or DEFAULT_URL


def default_api_key() -> Optional[str]:
    """ML_API_KEY (the spec's name), else the first key of MODEL_API_KEY (the
    server's, comma-separated); None without either."""
    key = os.environ.get("ML_API_KEY") or os.environ.get("MODEL_API_KEY", "").split(",")[0].strip()
    return key or None


class Client:
    """A client of one vibepass server's model endpoints.

    base_url defaults to VIBEPASS_URL (else http://localhost:3000) and api_key to
    ML_API_KEY, else the first key of MODEL_API_KEY. timeout (seconds) bounds the
    connect and each read. Every method raises a VibepassError on any failure.
    """

    def __init__(self, base_url: Optional[str] = None, api_key: Optional[str] = None,
                 timeout: float = 30.0) -> None:
        self.base_url = (base_url or default_url()).rstrip("/")
        self.api_key = api_key if api_key is not None else default_api_key()
        self.timeout = timeout
        self._endpoint = _http.Endpoint(self.base_url)

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, timeout={self.timeout!r})"

    def headers(self, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        """The request headers: X-API-Key (when there is a key) and extra."""
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        headers.update(extra or {})
        return headers

    def _get_json(self, path: str, extra: Optional[Dict[str, str]] = None) -> tuple[int, Any, Optional[str]]:
        status, headers, body = _http.get(self._endpoint, path, self.headers(extra), self.timeout)
        etag = _http.header_value(headers, "ETag")
        if status == 304:
            return status, None, etag
        if not 200 <= status < 300:
            raise error_from_response(status, headers, body)
        try:
            return status, json.loads(body.decode("utf-8")), etag
        except (UnicodeDecodeError, ValueError):
            raise ResponseError(f"HTTP {status} with a body that is not JSON", status=status,
                                code="bad_response") from None

    @overload
    def active_users(self) -> ActiveUsers: ...

    @overload
    def active_users(self, etag: Optional[str]) -> Union[ActiveUsers, Unchanged]: ...

    def active_users(self, etag: Optional[str] = None) -> Union[ActiveUsers, Unchanged]:
        """Everyone with a live pass now. With etag (a previous answer's .etag) the
        answer is Unchanged while nothing changed (HTTP 304), else the new list."""
        status, data, new_etag = self._get_json("/api/model/active-users",
                                                {"If-None-Match": etag} if etag else None)
        if status == 304:
            if not etag:
                raise ResponseError("HTTP 304 to a request without If-None-Match", status=304, code="bad_response")
            return Unchanged(etag=new_etag or etag)
        return ActiveUsers.from_json(data, new_etag)

    def summary(self) -> Summary:
        """How many are present and their mean preferences."""
        return Summary.from_json(self._get_json("/api/model/summary")[1])

    def history(self) -> History:
        """How many were present at the end of each of the last 60 minutes."""
        return History.from_json(self._get_json("/api/model/history")[1])

    def follow(self, *, heartbeat_timeout: float = 45.0, backoff: float = 0.5, max_backoff: float = 30.0,
               max_retries: Optional[int] = None, max_events: Optional[int] = None,
               stop: Optional[Callable[[], bool]] = None) -> Follower:
        """List, then follow the presence feed from the list's cursor: see Follower."""
        from ._follow import Follower
        return Follower(self, heartbeat_timeout=heartbeat_timeout, backoff=backoff, max_backoff=max_backoff,
                        max_retries=max_retries, max_events=max_events, stop=stop)

