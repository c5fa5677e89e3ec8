"""vibepass model client: the spec's Python example, against the vibepass proxy.

Lists the users who hold a live vibe pass right now, with their preferences,
and prints the average preferences. Needs `requests` (Debian: python3-requests).

    ML_API_KEY=<one of the server's model keys> python3 examples/model_client.py

The key is ML_API_KEY, or else the first key of MODEL_API_KEY (the server's
variable, comma-separated), so a shell that runs the server can run this too.
VIBEPASS_URL points it at another server (default http://localhost:3000).
"""
import os
import sys

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


if __name__ == '__main__':
    if {'-h', '--help'} & set(sys.argv[1:]):
        print(__doc__)
        sys.exit(0)

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
