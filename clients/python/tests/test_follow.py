"""follow() against a real `vibepass dev`, through a connection the test cuts."""
from __future__ import annotations

import queue
import threading
from typing import Callable, List

import pytest

import vibepass
from conftest import Cutter, wait_until


class Collector:
    """Runs a Follower in a thread and hands its events over one by one."""

    def __init__(self, follower: vibepass.Follower) -> None:
        self.follower = follower
        self.events: "queue.Queue[object]" = queue.Queue()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        try:
            for event in self.follower:
                self.events.put(event)
        except BaseException as err:  # handed to the test
            self.events.put(err)
        self.events.put(None)

    def next(self, timeout: float = 60) -> vibepass.Event:
        try:
            item = self.events.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no event within {timeout} s")
        if isinstance(item, BaseException):
            raise item
        assert item is not None, "the follower ended"
        return item  # type: ignore[return-value]

    def stop(self) -> None:
        self.follower.close()
        self.thread.join(10)
        assert not self.thread.is_alive(), "close() did not end the follower"


def name_of(event: vibepass.Event) -> str:
    if isinstance(event, vibepass.UserChanged):
        return event.user.display_name
    if isinstance(event, vibepass.UserLeft):
        assert event.user is not None
        return event.user.display_name
    return ""


def test_follow_resumes_after_a_cut_with_no_gap_or_repeat(
        url: str, cutter: Cutter, as_user: Callable[[str, str], None]) -> None:
    client = vibepass.Client(cutter.url, timeout=10)
    follower = client.follow(heartbeat_timeout=20, backoff=0.1, max_backoff=0.5)
    collector = Collector(follower)
    try:
        listed = collector.next()
        assert isinstance(listed, vibepass.Listed) and listed.reason == "start"
        changes: List[vibepass.Event] = []

        as_user("MusicFan", "checkin")
        changes.append(collector.next())
        assert (changes[-1].kind, name_of(changes[-1])) == ("join", "MusicFan")

        # Cut: while the follower cannot reconnect, BeatLover checks in and MusicFan out.
        cutter.cut()
        wait_until("a failed reconnect", lambda: follower.reconnects >= 1)
        as_user("BeatLover", "checkin")
        as_user("MusicFan", "checkout")
        cutter.mend()
        changes.append(collector.next())
        changes.append(collector.next())
        assert [(e.kind, name_of(e)) for e in changes] == [
            ("join", "MusicFan"), ("join", "BeatLover"), ("leave", "MusicFan")]
        ids = [int(e.id) for e in changes if not isinstance(e, vibepass.Listed)]
        assert ids == sorted(set(ids)), f"events repeated or out of order: {ids}"
        assert int(ids[0]) > int(listed.cursor)

        # What it holds is who is present.
        now = vibepass.Client(url).active_users()
        assert set(follower.present) == {user.user_id for user in now.rows}
        assert [u.display_name for u in follower.present.values()] == ["BeatLover"]
        assert follower.cursor == str(ids[-1])
        assert collector.events.empty(), "more events than changes"
    finally:
        collector.stop()


def test_follow_stops_after_max_events_or_stop(client: vibepass.Client, as_user: Callable[[str, str], None]) -> None:
    events = list(client.follow(max_events=1))
    assert len(events) == 1 and isinstance(events[0], vibepass.Listed)

    seen: List[vibepass.Event] = []
    holder: List[vibepass.Follower] = []
    follower = client.follow(stop=lambda: holder[0].events >= 2)  # asked before each event
    holder.append(follower)
    collector = Collector(follower)
    try:
        seen.append(collector.next())
        as_user("JazzCat", "checkin")
        seen.append(collector.next())
        assert seen[1].kind == "join" and name_of(seen[1]) == "JazzCat"
        collector.thread.join(5)
        assert not collector.thread.is_alive(), "stop() returned true but the follower went on"
    finally:
        collector.stop()


def test_follow_breaks_out_cleanly(client: vibepass.Client) -> None:
    follower = client.follow()
    for event in follower:
        assert isinstance(event, vibepass.Listed)
        break
    follower.close()
