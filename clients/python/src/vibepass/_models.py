"""Typed answers of the model endpoints, parsed from the API's JSON."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, Literal, Mapping, Optional, Tuple, Union

from ._errors import ResponseError

Json = Mapping[str, Any]


def parse_time(value: Any, field: str) -> datetime:
    """An API timestamp ("2026-11-27T02:40:00Z") as an aware UTC datetime."""
    if not isinstance(value, str):
        raise ResponseError(f"{field} is not a timestamp: {value!r}", code="bad_response")
    try:
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        raise ResponseError(f"{field} is not a timestamp: {value!r}", code="bad_response") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def format_time(value: datetime) -> str:
    """A datetime as the API writes it: UTC, whole seconds, Z."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def field(data: Json, name: str, kind: Union[type, Tuple[type, ...]]) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ResponseError(f"{name} missing or of the wrong type in {dict(data)!r}", code="bad_response")
    return value


def floats(value: Any, name: str) -> Tuple[float, ...]:
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ResponseError(f"{name} is not a list of numbers: {value!r}", code="bad_response")
    return tuple(float(v) for v in value)


def body_object(data: Any) -> Json:
    if not isinstance(data, dict) or data.get("success") is not True:
        raise ResponseError(f"not a successful answer: {data!r}", code="bad_response")
    return data


@dataclass(frozen=True)
class ActiveUser:
    """One person with a live pass, as the list and the feed show them."""

    user_id: str
    display_name: str
    checked_in_at: datetime
    expires_at: datetime
    preferences: Tuple[float, ...]  # five numbers from 0 to 1
    is_anonymous: bool

    @classmethod
    def from_json(cls, data: Any) -> ActiveUser:
        if not isinstance(data, dict):
            raise ResponseError(f"a user row is not an object: {data!r}", code="bad_response")
        return cls(
            user_id=field(data, "user_id", str),
            display_name=field(data, "display_name", str),
            checked_in_at=parse_time(data.get("checked_in_at"), "checked_in_at"),
            expires_at=parse_time(data.get("expires_at"), "expires_at"),
            preferences=floats(data.get("preferences"), "preferences"),
            is_anonymous=field(data, "is_anonymous", bool),
        )

    def as_dict(self) -> Dict[str, Any]:
        """The row as the API's JSON has it (the spec's dict: timestamps as strings)."""
        return {
            "user_id": self.user_id,
            "display_name": self.display_name,
            "checked_in_at": format_time(self.checked_in_at),
            "expires_at": format_time(self.expires_at),
            "preferences": list(self.preferences),
            "is_anonymous": self.is_anonymous,
        }


@dataclass(frozen=True)
class ActiveUsers:
    """GET /api/model/active-users: everyone present at `timestamp`, newest check-in
    first; `cursor` is the point in the presence feed the list reflects and `etag`
    the value to send back (active_users(etag=...)) to learn whether anything changed."""

    rows: Tuple[ActiveUser, ...]
    count: int
    cursor: str
    etag: Optional[str]
    timestamp: datetime

    def __iter__(self) -> Iterator[ActiveUser]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def from_json(cls, data: Any, etag: Optional[str]) -> ActiveUsers:
        body = body_object(data)
        rows = tuple(ActiveUser.from_json(row) for row in field(body, "data", list))
        count = field(body, "count", int)
        if count != len(rows):
            raise ResponseError(f"count {count} but {len(rows)} rows", code="bad_response")
        return cls(rows=rows, count=count, cursor=field(body, "cursor", str), etag=etag,
                   timestamp=parse_time(body.get("timestamp"), "timestamp"))


@dataclass(frozen=True)
class Unchanged:
    """active_users(etag=...) when nothing changed since that list (HTTP 304): keep
    the rows you have. `etag` is still the current one."""

    etag: str


@dataclass(frozen=True)
class Summary:
    """GET /api/model/summary: how many are present and their mean preferences
    (None when nobody is)."""

    count: int
    mean: Optional[Tuple[float, ...]]
    cursor: str
    timestamp: datetime

    @classmethod
    def from_json(cls, data: Any) -> Summary:
        body = body_object(data)
        mean = body.get("mean")
        return cls(count=field(body, "count", int), mean=None if mean is None else floats(mean, "mean"),
                   cursor=field(body, "cursor", str), timestamp=parse_time(body.get("timestamp"), "timestamp"))


@dataclass(frozen=True)
class HistoryPoint:
    at: datetime
    count: int


@dataclass(frozen=True)
class History:
    """GET /api/model/history: how many were present at the end of each of the last
    60 minutes, oldest first."""

    minutes: Tuple[HistoryPoint, ...]
    timestamp: datetime

    @classmethod
    def from_json(cls, data: Any) -> History:
        body = body_object(data)
        points = []
        for point in field(body, "minutes", list):
            if not isinstance(point, dict):
                raise ResponseError(f"a history point is not an object: {point!r}", code="bad_response")
            points.append(HistoryPoint(at=parse_time(point.get("at"), "at"), count=field(point, "count", int)))
        return cls(minutes=tuple(points), timestamp=parse_time(body.get("timestamp"), "timestamp"))


# Events of follow().

@dataclass(frozen=True)
class Listed:
    """follow() listed everyone present: at the start, and again after a `reset`."""

    rows: Tuple[ActiveUser, ...]
    cursor: str
    reason: Literal["start", "reset"]
    kind: Literal["list"] = "list"


@dataclass(frozen=True)
class UserChanged:
    """join, renew or update: `user` is the row as the list shows it (upserted into present)."""

    kind: Literal["join", "renew", "update"]
    id: str  # the event's id: the cursor after it
    user: ActiveUser

    @property
    def user_id(self) -> str:
        return self.user.user_id


@dataclass(frozen=True)
class UserLeft:
    """leave (checkout, sign-out, account deleted) or expire (the pass ran out, `at` is
    its expires_at): the user is removed from present. `user` is the row follow() had
    for them, None when it had none."""

    kind: Literal["leave", "expire"]
    id: str
    user_id: str
    at: datetime
    user: Optional[ActiveUser]


Event = Union[Listed, UserChanged, UserLeft]
