"""The list, summary and history against a real `vibepass dev`, and every failure kind."""
from __future__ import annotations

import importlib.util
import os
import socket
from datetime import datetime
from types import ModuleType
from typing import Callable, Iterator

import pytest

import vibepass
from conftest import need


def test_active_users_typed_and_unchanged(client: vibepass.Client, as_user: Callable[[str, str], None]) -> None:
    as_user("MusicFan", "checkin")
    first = client.active_users()
    assert isinstance(first, vibepass.ActiveUsers)
    fan = next(user for user in first.rows if user.display_name == "MusicFan")
    assert isinstance(fan, vibepass.ActiveUser)
    assert isinstance(fan.checked_in_at, datetime) and fan.checked_in_at.tzinfo is not None
    assert fan.expires_at > fan.checked_in_at
    assert len(fan.preferences) == 5 and all(isinstance(p, float) and 0 <= p <= 1 for p in fan.preferences)
    assert fan.is_anonymous is False
    assert first.count == len(first.rows) and first.cursor and first.etag

    # Nothing changed: a 304, told apart from an empty room.
    same = client.active_users(etag=first.etag)
    assert isinstance(same, vibepass.Unchanged) and same.etag == first.etag

    as_user("MusicFan", "checkout")
    after = client.active_users(etag=first.etag)
    assert isinstance(after, vibepass.ActiveUsers)
    assert fan.user_id not in {user.user_id for user in after.rows}
    assert after.etag != first.etag


def test_summary_and_history(client: vibepass.Client, as_user: Callable[[str, str], None]) -> None:
    as_user("BeatLover", "checkin")
    listed = client.active_users()
    summary = client.summary()
    assert summary.count == listed.count >= 1
    assert summary.mean is not None and len(summary.mean) == 5
    history = client.history()
    assert len(history.minutes) == 60
    assert all(isinstance(point.at, datetime) and point.count >= 0 for point in history.minutes)


def test_defaults_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIBEPASS_URL", raising=False)
    monkeypatch.delenv("ML_API_KEY", raising=False)
    monkeypatch.setenv("MODEL_API_KEY", " first-key , second-key")
    client = vibepass.Client()
    assert client.base_url == "http://localhost:3000" and client.api_key == "first-key"
    monkeypatch.setenv("ML_API_KEY", "ml-key")
    monkeypatch.setenv("VIBEPASS_URL", "http://example.test:8080/")
    client = vibepass.Client()
    assert client.base_url == "http://example.test:8080" and client.api_key == "ml-key"


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.fixture
def no_server() -> str:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def load_sample() -> ModuleType:
    """examples/model_client.py, the spec's sample, as a module."""
    path = os.path.join(need("VIBEPASS_TEST_EXAMPLES"), "model_client.py")
    spec = importlib.util.spec_from_file_location("model_client", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FAILURES = ["no key", "wrong key", "database down", "timeout", "no server"]


@pytest.mark.parametrize("failure", FAILURES)
def test_every_failure_raises_never_an_empty_list(
        failure: str, url: str, monkeypatch: pytest.MonkeyPatch, database: Callable[[str], None],
        silent_server: str, no_server: str) -> None:
    key = need("ML_API_KEY")
    expected: type[vibepass.VibepassError]
    if failure == "no key":
        make, expected, status, code = (lambda: vibepass.Client(url, api_key="")), vibepass.AuthError, 401, "missing_api_key"
        monkeypatch.delenv("ML_API_KEY")
        monkeypatch.delenv("MODEL_API_KEY", raising=False)
        env = {"VIBEPASS_URL": url}
    elif failure == "wrong key":
        make, expected, status, code = (lambda: vibepass.Client(url, "not-the-model-key-0123456789")), \
            vibepass.AuthError, 403, "invalid_api_key"
        env = {"VIBEPASS_URL": url, "ML_API_KEY": "not-the-model-key-0123456789"}
    elif failure == "database down":
        database("down")
        make, expected, status, code = (lambda: vibepass.Client(url, key)), vibepass.UnavailableError, 503, "unavailable"
        env = {"VIBEPASS_URL": url, "ML_API_KEY": key}
    elif failure == "timeout":
        make, expected, status, code = (lambda: vibepass.Client(silent_server, key, timeout=0.5)), \
            vibepass.VibepassTimeoutError, None, "timeout"
        env = {"VIBEPASS_URL": silent_server, "ML_API_KEY": key}
    else:
        make, expected, status, code = (lambda: vibepass.Client(no_server, key)), \
            vibepass.VibepassConnectionError, None, "connection_error"
        env = {"VIBEPASS_URL": no_server, "ML_API_KEY": key}

    client = make()
    calls = [client.active_users, client.summary, lambda: client.active_users(etag='W/"1"')]
    if failure != "database down":  # the proxy shares one history a minute, from memory
        calls.append(client.history)
    for call in calls:
        with pytest.raises(expected) as raised:
            result = call()
            pytest.fail(f"{failure}: answered {type(result).__name__} instead of raising")
        assert isinstance(raised.value, vibepass.VibepassError)
        assert raised.value.status == status and raised.value.code == code and raised.value.message
    if expected is vibepass.AuthError:
        with pytest.raises(vibepass.AuthError):
            next(iter(client.follow()))

    # The spec's get_active_users() raises too, with the client's defaults.
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if failure == "timeout":
        monkeypatch.setattr(vibepass.Client.__init__, "__defaults__", (None, None, 0.5))
    sample = load_sample()
    with pytest.raises(expected):
        users = sample.get_active_users()
        pytest.fail(f"{failure}: get_active_users() returned {users!r}")


def test_database_back_answers_again(client: vibepass.Client, database: Callable[[str], None]) -> None:
    database("down")
    with pytest.raises(vibepass.UnavailableError):
        client.active_users()
    database("up")
    from conftest import wait_until

    def answers() -> bool:
        try:
            client.active_users()
            return True
        except vibepass.UnavailableError:
            return False
    wait_until("answer after the database came back", answers)
