"""Fixtures for the tests against a real `vibepass dev`, which examples/python_client_test.go
starts: VIBEPASS_URL and ML_API_KEY point at it, VIBEPASS_TEST_TOKENS maps each demo user's
name to a token, VIBEPASS_TEST_CONTROL is an HTTP endpoint of the Go test that takes the
database down (POST /db/down) and up (POST /db/up), VIBEPASS_TEST_EXAMPLES is examples/."""
from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from typing import Callable, Dict, Iterator, List, Set
from urllib.parse import urlsplit

import pytest

import vibepass


def need(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests with `go test ./examples/ -run TestPythonClientPackage`")
    return value


def post(url: str, path: str, headers: Dict[str, str]) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request("POST", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.fixture
def url() -> str:
    return need("VIBEPASS_URL")


@pytest.fixture
def client(url: str) -> vibepass.Client:
    need("ML_API_KEY")
    return vibepass.Client(url, timeout=10)


@pytest.fixture
def as_user(url: str) -> Iterator[Callable[[str, str], None]]:
    """as_user(name, "checkin" | "checkout"): that demo user's call through the proxy.
    Everyone checked in is checked out when the test ends."""
    tokens: Dict[str, str] = json.loads(need("VIBEPASS_TEST_TOKENS"))
    touched: Set[str] = set()

    def call(name: str, action: str) -> None:
        touched.add(name)
        status = post(url, f"/api/{action}", {"Authorization": f"Bearer {tokens[name]}"})
        assert status == 200, f"{action} as {name}: HTTP {status}"

    yield call
    for name in touched:
        call(name, "checkout")


@pytest.fixture
def database() -> Iterator[Callable[[str], None]]:
    """database("down") makes the database refuse vibepass; it is up again after the test."""
    control = need("VIBEPASS_TEST_CONTROL")

    def switch(state: str) -> None:
        assert post(control, f"/db/{state}", {}) == 200

    yield switch
    switch("up")


class Cutter:
    """A TCP proxy to the server that the test can cut: cut() closes every open
    connection and refuses new ones until mend()."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "", parts.port or 80)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.open = True
        self.conns: List[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if not self.open:
                    conn.close()
                    continue
                try:
                    up = socket.create_connection(self.target)
                except OSError:
                    conn.close()
                    continue
                self.conns += [conn, up]
            threading.Thread(target=self.pipe, args=(conn, up), daemon=True).start()
            threading.Thread(target=self.pipe, args=(up, conn), daemon=True).start()

    @staticmethod
    def pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        with self.lock:
            self.open = False
            for conn in self.conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self.conns = []

    def mend(self) -> None:
        with self.lock:
            self.open = True

    def close(self) -> None:
        self.listener.close()
        self.cut()


@pytest.fixture
def cutter(url: str) -> Iterator[Cutter]:
    c = Cutter(url)
    yield c
    c.close()


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout} s")
        time.sleep(0.1)
