"""vibepass model client: the spec's Python example, against the vibepass proxy.

Lists the users who hold a live vibe pass right now, with their preferences,
and prints the average preferences. Needs `requests` (Debian: python3-requests).

    ML_API_KEY=<one of the server's model keys> python3 examples/model_client.py

The key is ML_API_KEY, or else the first key of MODEL_API_KEY (the server's
variable, comma-separated), so a shell that runs the server can run this too.

With --follow it lists once, then follows /api/model/events (the presence feed,
docs/api.md), keeping its own set of present users and printing each change with
the new averages; after a dropped connection it resumes with Last-Event-ID.

VIBEPASS_URL points it at another server (default http://localhost:3000).
"""
import json
import os
import sys
import time

import requests

VIBEPASS_URL = os.getenv('VIBEPASS_URL', 'http://localhost:3000').rstrip('/')

ERROR_HINTS = {
    401: 'no API key was sent: set ML_API_KEY (or MODEL_API_KEY) to one of the server\'s model keys',
    403: 'the server does not accept this API key: check ML_API_KEY against the server\'s MODEL_API_KEY',
    429: 'too many requests with this key: wait a minute, then ask again',
    503: 'vibepass cannot reach its database right now: try again shortly',
    504: 'the database did not answer in time: try again shortly',
}


def api_key():
    """The model key: ML_API_KEY (the spec's name), else MODEL_API_KEY's first key; None without either."""
    key = os.getenv('ML_API_KEY') or os.getenv('MODEL_API_KEY', '').split(',')[0].strip()
    return key or None


def get_active_users():
    """Get all currently active users for music selection"""
    try:
        response = requests.get(
            f'{VIBEPASS_URL}/api/model/active-users',
            headers={'X-API-Key': api_key()},  # requests drops a None header
            timeout=30,
        )
    except requests.ConnectionError:
        print(f"Error: cannot connect to vibepass at {VIBEPASS_URL}: "
              "is the server running? (start one with `vibepass dev`, or set VIBEPASS_URL)")
        return []
    except requests.Timeout:
        print(f"Error: vibepass at {VIBEPASS_URL} did not answer within 30 seconds")
        return []

    try:
        data = response.json()
    except ValueError:
        data = {'success': False, 'error': f'HTTP {response.status_code} with a body that is not JSON'}

    if not data['success']:
        print(f"Error: {data.get('error')}")
        hint = ERROR_HINTS.get(response.status_code)
        if hint:
            print(f"  HTTP {response.status_code}: {hint}")
        return []

    print(f"Active users: {data['count']}")
    return data['data']


# Events whose data is the user's row (upsert it), and those that remove the user.
UPSERTS = ('join', 'renew', 'update')
REMOVALS = ('leave', 'expire')


class FollowError(Exception):
    """The server refused to list or follow; retrying will not help."""


def follow_headers(extra=None):
    """The model key header, plus extra."""
    headers = {'X-API-Key': api_key()}  # requests drops a None header
    headers.update(extra or {})
    return headers


def list_present():
    """List once: returns ({user_id: row}, cursor), the cursor the list reflects."""
    response = requests.get(f'{VIBEPASS_URL}/api/model/active-users', headers=follow_headers(), timeout=30)
    try:
        data = response.json()
    except ValueError:
        data = {'success': False, 'error': f'HTTP {response.status_code} with a body that is not JSON'}
    if not data.get('success'):
        raise FollowError(f"HTTP {response.status_code}: {data.get('error')}")
    return {user['user_id']: user for user in data['data']}, data['cursor']


def sse_events(response):
    """Yield (id, event, data) for each event of a text/event-stream response; comments
    (heartbeats) are skipped."""
    event_id, event, data = None, None, []
    for line in response.iter_lines(decode_unicode=True):
        if line == '':
            if event:
                yield event_id, event, json.loads('\n'.join(data))
            event_id, event, data = None, None, []
        elif line.startswith(':'):
            continue
        else:
            field, _, value = line.partition(':')
            value = value[1:] if value.startswith(' ') else value
            if field == 'id':
                event_id = value
            elif field == 'event':
                event = value
            elif field == 'data':
                data.append(value)


def follow(retry_pause=1.0):
    """List, then follow the presence feed for good. Yields (kind, row, present) after
    the list ('list', None) and after each change ('join', 'renew', 'update', 'leave',
    'expire', with the user's row as it was last known); present maps user_id to row.
    A connection that drops is resumed after the last event seen (Last-Event-ID);
    `dropped` resumes the same way, and `reset` lists again."""
    present, cursor = list_present()
    yield 'list', None, present
    while True:
        try:
            with requests.get(f'{VIBEPASS_URL}/api/model/events', stream=True, timeout=(10, 60),
                              headers=follow_headers({'Last-Event-ID': cursor})) as response:
                if response.status_code in (401, 403):
                    raise FollowError(f"HTTP {response.status_code}: {response.json().get('error')}")
                if response.status_code != 200:
                    pause = float(response.headers.get('Retry-After', retry_pause))
                    print(f'Events answered HTTP {response.status_code}: retrying in {pause:g} s', flush=True)
                    time.sleep(pause)
                    continue
                for event_id, kind, data in sse_events(response):
                    if kind == 'reset':
                        print('Reset: the cursor is outside the history kept, listing again', flush=True)
                        present, cursor = list_present()
                        yield 'list', None, present
                        break
                    if kind == 'dropped':
                        print(f"Dropped for falling behind: resuming after {data['cursor']}", flush=True)
                        cursor = data['cursor']
                        break
                    if kind in UPSERTS:
                        row = present[data['user_id']] = data
                    elif kind in REMOVALS:
                        row = present.pop(data['user_id'], data)
                    else:
                        continue  # an event this client does not know yet
                    cursor = event_id
                    yield kind, row, present
                else:
                    print(f'Connection ended: resuming after {cursor}', flush=True)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
            print(f'Connection lost ({type(e).__name__}): resuming after {cursor}', flush=True)
            time.sleep(retry_pause)


def average_preferences(users):
    """The per-dimension mean of the users' preferences, or None with nobody present."""
    if not users:
        return None
    return [sum(user['preferences'][i] for user in users) / len(users) for i in range(5)]


def print_follow():
    """The --follow mode: prints the list, then each change with the new averages."""
    try:
        for kind, row, present in follow():
            avg = average_preferences(list(present.values()))
            shown = [round(p, 3) for p in avg] if avg else None
            who = f" {row.get('display_name', row['user_id'])}" if row else ''
            print(f'{kind}{who}: {len(present)} present. Average preferences: {shown}', flush=True)
    except FollowError as e:
        print(f'Error: {e}')
        sys.exit(1)
    except KeyboardInterrupt:
        pass


if __name__ == '__main__' and {'-h', '--help'} & set(sys.argv[1:]):
    print(__doc__)
elif __name__ == '__main__' and sys.argv[1:] == ['--follow']:
    print_follow()
elif __name__ == '__main__':
    # Use in your algorithm
    active_users = get_active_users()

    # Each user has:
    # - user_id: str
    # - display_name: str
    # - preferences: list of 5 floats [0-1]
    # - checked_in_at: ISO timestamp
    # - expires_at: ISO timestamp
    for user in active_users:
        print(f"  {user['display_name']}: preferences {user['preferences']}, "
              f"checked in {user['checked_in_at']}, expires {user['expires_at']}")

    # Example: Get average preferences
    if active_users:
        avg_prefs = [
            sum(user['preferences'][i] for user in active_users) / len(active_users)
            for i in range(5)
        ]
        print(f"Average preferences: {[round(p, 3) for p in avg_prefs]}")
