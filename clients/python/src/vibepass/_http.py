"""A small HTTP/1.1 GET on the standard library's http.client, with every failure
turned into a VibepassError."""
from __future__ import annotations

import http.client
import socket
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit

from ._errors import VibepassConnectionError, VibepassError, VibepassTimeoutError


class Endpoint:
    """Where vibepass answers: scheme, host, port and a path prefix."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.url = base_url.rstrip("/")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = parts.path

    def connect(self, timeout: float) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


def network_error(err: BaseException, url: str, timeout: float) -> VibepassError:
    """The client's error for an exception raised while asking url."""
    if isinstance(err, VibepassError):
        return err
    if isinstance(err, (socket.timeout, TimeoutError)):
        return VibepassTimeoutError(f"vibepass at {url} did not answer within {timeout:g} seconds", code="timeout")
    if isinstance(err, http.client.IncompleteRead):
        return VibepassConnectionError(f"the answer from {url} was cut off", code="connection_error")
    if isinstance(err, (ConnectionRefusedError, socket.gaierror)):
        return VibepassConnectionError(f"cannot connect to vibepass at {url}: is the server running?",
                                       code="connection_error")
    return VibepassConnectionError(f"connection to {url} failed: {type(err).__name__}: {err}", code="connection_error")


def open_get(endpoint: Endpoint, path: str, headers: Dict[str, str], timeout: float
             ) -> Tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """Send GET path and return the connection and the response, its body unread.
    The caller closes the connection."""
    conn = endpoint.connect(timeout)
    try:
        conn.request("GET", endpoint.prefix + path, headers=headers)
        return conn, conn.getresponse()
    except BaseException as err:
        conn.close()
        if isinstance(err, (OSError, http.client.HTTPException)):
            raise network_error(err, endpoint.url, timeout) from err
        raise


def get(endpoint: Endpoint, path: str, headers: Dict[str, str], timeout: float
        ) -> Tuple[int, http.client.HTTPMessage, bytes]:
    """GET path and read the whole body: (status, headers, body)."""
    conn, response = open_get(endpoint, path, headers, timeout)
    try:
        body = response.read()
        return response.status, response.headers, body
    except (OSError, http.client.HTTPException) as err:
        raise network_error(err, endpoint.url, timeout) from err
    finally:
        conn.close()


def header_value(headers: http.client.HTTPMessage, name: str) -> Optional[str]:
    value = headers.get(name)
    return value if isinstance(value, str) else None
