"""follow(): list, then the presence feed (GET /api/model/events, Server-Sent Events)."""
from __future__ import annotations

import http.client
import json
import logging
import random
import socket
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, Optional, Tuple

from . import _http
from ._errors import ResponseError, VibepassConnectionError, VibepassError, error_from_response
from ._models import ActiveUser, Event, Listed, UserChanged, UserLeft, parse_time

if TYPE_CHECKING:
    from ._client import Client

log = logging.getLogger("vibepass")

UPSERTS = ("join", "renew", "update")
REMOVALS = ("leave", "expire")


def sse_events(response: http.client.HTTPResponse) -> Iterator[Tuple[Optional[str], str, str]]:
    """(id, event, data) for each event of a text/event-stream; comments (the
    `: heartbeat` lines) are skipped. Ends when the stream ends."""
    event_id: Optional[str] = None
    event = ""
    data: list[str] = []
    while True:
        raw = response.readline()
        if not raw:
            return
        line = raw.decode("utf-8").rstrip("\r\n")
        if line == "":
            if event or data:
                yield event_id, event or "message", "\n".join(data)
            event_id, event, data = None, "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "id":
            event_id = value
        elif name == "event":
            event = value
        elif name == "data":
            data.append(value)


class Follower:
    """An iterator of the presence feed's events that keeps `present` up to date.

    It lists first (a Listed event), then yields a UserChanged for each join, renew
    and update and a UserLeft for each leave and expire, in commit order, each once.
    `present` maps user_id to the row of everyone present after the event just
    yielded; `cursor` is the feed position it reflects.

    A connection that drops, ends, or carries nothing (not even a heartbeat) for
    heartbeat_timeout seconds is resumed with Last-Event-ID after the last event,
    waiting backoff seconds after the first failure, twice that after the next, up to
    max_backoff (or a 503's or 429's Retry-After, if longer). `reset` lists again (a
    Listed event with reason "reset"); `dropped` resumes from the cursor it names.
    Failures that retrying cannot mend (401, 403, 400) raise their VibepassError, and
    so does a transient one after max_retries failures in a row (None: never).

    It ends after max_events events, when stop() returns true (asked before each
    event), after close() (from any thread), or when the caller stops iterating.
    Notices (a lost connection, a reset) are logged to the "vibepass" logger.
    """

    def __init__(self, client: Client, *, heartbeat_timeout: float = 45.0, backoff: float = 0.5,
                 max_backoff: float = 30.0, max_retries: Optional[int] = None, max_events: Optional[int] = None,
                 stop: Optional[Callable[[], bool]] = None) -> None:
        self.client = client
        self.heartbeat_timeout = heartbeat_timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retries = max_retries
        self.max_events = max_events
        self.stop = stop
        self.present: Dict[str, ActiveUser] = {}
        self.cursor: Optional[str] = None
        self.events = 0  # yielded so far
        self.streams = 0  # connections to the feed opened
        self.reconnects = 0  # of them, after the first
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._conn: Optional[http.client.HTTPConnection] = None
        self._iterator: Optional[Iterator[Event]] = None

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        if self._iterator is None:
            self._iterator = self._run()
        return next(self._iterator)

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop: the iteration ends (a read in progress is interrupted)."""
        self._closed.set()
        with self._lock:
            conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _done(self) -> bool:
        if self._closed.is_set():
            return True
        if self.max_events is not None and self.events >= self.max_events:
            return True
        return self.stop is not None and self.stop()

    def _emit(self, event: Event) -> Event:
        self.events += 1
        return event

    def _wait(self, failures: int, err: VibepassError) -> None:
        """Sleep before the next attempt, or raise err when retrying is pointless."""
        if not err.transient or (self.max_retries is not None and failures > self.max_retries):
            raise err
        delay = min(self.max_backoff, self.backoff * 2 ** (failures - 1)) * random.uniform(0.75, 1.0)
        if err.retry_after is not None:
            delay = max(delay, err.retry_after)
        what = "Connection lost" if err.status is None else f"Refused (HTTP {err.status})"
        log.warning("%s (%s: %s): resuming after %s in %.1f s", what, type(err).__name__, err.message,
                    self.cursor, delay)
        self._closed.wait(delay)

    def _run(self) -> Iterator[Event]:
        failures = 0
        listing: Optional[str] = "start"
        while not self._done():
            if listing is not None:
                try:
                    result = self.client.active_users()
                except VibepassError as err:
                    failures += 1
                    self._wait(failures, err)
                    continue
                self.present = {user.user_id: user for user in result.rows}
                self.cursor = result.cursor
                yield self._emit(Listed(rows=result.rows, cursor=result.cursor,
                                        reason="start" if listing == "start" else "reset"))
                listing = None
                continue
            try:
                if self.streams:
                    self.reconnects += 1
                self.streams += 1
                for event in self._stream():
                    if event == "connected":
                        failures = 0
                    elif event == "dropped":
                        break
                    elif event == "reset":
                        listing = "reset"
                        break
                    else:
                        yield self._emit(event)
                        if self._done():
                            return
                else:
                    if not self._closed.is_set():
                        raise VibepassConnectionError("the event stream ended", code="connection_error")
            except VibepassError as err:
                if self._closed.is_set():
                    return
                failures += 1
                self._wait(failures, err)

    def _stream(self) -> Iterator[Any]:
        """One connection to the feed from self.cursor: yields "connected" once it is
        accepted, then the events (applied to present), and last "reset" (list again)
        or "dropped" (self.cursor is now the one its data names) if the feed says so."""
        assert self.cursor is not None
        endpoint = self.client._endpoint
        headers = self.client.headers({"Accept": "text/event-stream", "Last-Event-ID": self.cursor})
        conn, response = _http.open_get(endpoint, "/api/model/events", headers, self.client.timeout)
        with self._lock:
            self._conn = conn
        try:
            if response.status != 200:
                raise error_from_response(response.status, response.headers, response.read())
            if conn.sock is not None:
                conn.sock.settimeout(self.heartbeat_timeout)
            if self._closed.is_set():
                return
            yield "connected"
            for event_id, kind, data in self._read(response):
                if kind in ("reset", "dropped"):
                    cursor = self._json(kind, data).get("cursor")
                    if kind == "reset":
                        log.warning("Reset: the cursor %s is outside the history kept (%s): listing again",
                                    self.cursor, self._json(kind, data).get("reason"))
                        yield "reset"
                        return
                    if not isinstance(cursor, str):
                        raise ResponseError(f"dropped without a cursor: {data}", code="bad_response")
                    log.warning("Dropped for falling behind: resuming after %s", cursor)
                    self.cursor = cursor
                    yield "dropped"
                    return
                if event_id is None:
                    continue  # nothing this client knows
                if kind in UPSERTS:
                    user = ActiveUser.from_json(self._json(kind, data))
                    self.present[user.user_id] = user
                    self.cursor = event_id
                    yield UserChanged(kind=kind, id=event_id, user=user)  # type: ignore[arg-type]
                elif kind in REMOVALS:
                    body = self._json(kind, data)
                    user_id = body.get("user_id")
                    if not isinstance(user_id, str):
                        raise ResponseError(f"{kind} without a user_id: {data}", code="bad_response")
                    at = parse_time(body.get("at"), "at")
                    known = self.present.pop(user_id, None)
                    self.cursor = event_id
                    yield UserLeft(kind=kind, id=event_id, user_id=user_id, at=at, user=known)  # type: ignore[arg-type]
                else:
                    self.cursor = event_id  # an event this client does not know yet
        finally:
            with self._lock:
                self._conn = None
            conn.close()

    def _read(self, response: http.client.HTTPResponse) -> Iterator[Tuple[Optional[str], str, str]]:
        try:
            yield from sse_events(response)
        except (OSError, http.client.HTTPException, ValueError) as err:
            if self._closed.is_set():
                return
            raise _http.network_error(err, self.client.base_url, self.heartbeat_timeout) from err

    @staticmethod
    def _json(kind: str, data: str) -> Dict[str, Any]:
        try:
            body = json.loads(data)
        except ValueError:
            raise ResponseError(f"{kind} data is not JSON: {data!r}", code="bad_response") from None
        if not isinstance(body, dict):
            raise ResponseError(f"{kind} data is not an object: {data!r}", code="bad_response")
        return body
