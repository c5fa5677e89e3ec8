"""vibepass model client: the spec's Python example, on the vibepass package.

Lists the users who hold a live vibe pass right now, with their preferences,
and prints the average preferences. Uses the `vibepass` package in
clients/python (pip install ./clients/python); from a checkout it also runs
without installing it. Needs nothing beyond the standard library.

    ML_API_KEY=<one of the server's model keys> python3 examples/model_client.py

The key is ML_API_KEY, or else the first key of MODEL_API_KEY (the server's
variable, comma-separated), so a shell that runs the server can run this too.
Any failure (no key, a wrong key, the database down, no server) prints
`Error: ...` with a hint and exits 1: an empty list only ever means nobody is here.

With --follow it lists once, then follows /api/model/events (the presence feed,
docs/api.md), keeping its own set of present users and printing each change with
the new averages; after a dropped connection it resumes with Last-Event-ID.

VIBEPASS_URL points it at another server (default http://localhost:3000).
"""
import logging
import os
import sys

try:
    import vibepass
except ImportError:  # not installed: use the package in this checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'clients', 'python', 'src'))
    import vibepass

ERROR_HINTS = {
    401: 'no API key was sent: set ML_API_KEY (or MODEL_API_KEY) to one of the server\'s model keys',
    403: 'the server does not accept this API key: check ML_API_KEY against the server\'s MODEL_API_KEY',
    429: 'too many requests with this key: wait a minute, then ask again',
    503: 'vibepass cannot reach its database right now: try again shortly',
    504: 'the database did not answer in time: try again shortly',
}


def get_active_users():
    """Get all currently active users for music selection: the spec's list of dicts
    (user_id, display_name, checked_in_at, expires_at as ISO strings, preferences,
    and is_anonymous). Raises vibepass.VibepassError on any failure, so an empty
    list means nobody is here."""
    users = vibepass.Client().active_users()
    print(f"Active users: {users.count}")
    return [user.as_dict() for user in users.rows]


def print_error(err):
    """Error: <the server's message>, and what to do about it."""
    if err.status is None and err.code == 'connection_error' and 'cannot connect' in err.message:
        print(f"Error: {err.message} (start one with `vibepass dev`, or set VIBEPASS_URL)")
    else:
        print(f"Error: {err.message}")
    hint = ERROR_HINTS.get(err.status)
    if hint:
        print(f"  HTTP {err.status}: {hint}")


def average_preferences(users):
    """The per-dimension mean of the users' preferences, or None with nobody present."""
    if not users:
        return None
    return [sum(user['preferences'][i] for user in users) / len(users) for i in range(5)]


def print_follow():
    """The --follow mode: prints the list, then each change with the new averages."""
    logging.basicConfig(stream=sys.stdout, format='%(message)s', level=logging.INFO)
    follower = vibepass.Client().follow(backoff=0.5, max_backoff=5)
    try:
        for event in follower:
            avg = average_preferences([user.as_dict() for user in follower.present.values()])
            shown = [round(p, 3) for p in avg] if avg else None
            if isinstance(event, vibepass.Listed):
                who = ''
            elif isinstance(event, vibepass.UserChanged):
                who = f' {event.user.display_name}'
            else:
                who = f' {event.user.display_name if event.user else event.user_id}'
            print(f'{event.kind}{who}: {len(follower.present)} present. Average preferences: {shown}', flush=True)
    except vibepass.VibepassError as err:
        print(f'Error: {err}')
        sys.exit(1)
    except KeyboardInterrupt:
        pass


if __name__ == '__main__' and {'-h', '--help'} & set(sys.argv[1:]):
    print(__doc__)
elif __name__ == '__main__' and sys.argv[1:] == ['--follow']:
    print_follow()
elif __name__ == '__main__':
    # Use in your algorithm
    try:
        active_users = get_active_users()
    except vibepass.VibepassError as err:
        print_error(err)
        sys.exit(1)

    # Each user has:
    # - user_id: str
    # - display_name: str
    # - preferences: list of 5 floats [0-1]
    # - checked_in_at: ISO timestamp
    # - expires_at: ISO timestamp
    # - is_anonymous: bool
    for user in active_users:
        print(f"  {user['display_name']}: preferences {user['preferences']}, "
              f"checked in {user['checked_in_at']}, expires {user['expires_at']}")

    # Example: Get average preferences
    if active_users:
        avg_prefs = average_preferences(active_users)
        print(f"Average preferences: {[round(p, 3) for p in avg_prefs]}")
