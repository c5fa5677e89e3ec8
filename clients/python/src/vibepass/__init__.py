"""vibepass: a typed client of the vibepass model endpoints.

    from vibepass import Client, VibepassError

    client = Client()  # VIBEPASS_URL, ML_API_KEY (or MODEL_API_KEY's first key)
    for user in client.active_users():
        print(user.display_name, user.preferences)

Every failure raises a VibepassError (AuthError, RateLimitError, UnavailableError,
VibepassConnectionError, VibepassTimeoutError, ResponseError): an empty list always
means nobody is present.
"""
from ._client import Client, default_api_key, default_url
from ._errors import (AuthError, RateLimitError, ResponseError, UnavailableError, VibepassConnectionError,
                      VibepassError, VibepassTimeoutError)
from ._follow import Follower
from ._models import (ActiveUser, ActiveUsers, Event, History, HistoryPoint, Listed, Summary, Unchanged, UserChanged,
                      UserLeft, format_time)

__all__ = [
    "ActiveUser", "ActiveUsers", "AuthError", "Client", "Event", "Follower", "History", "HistoryPoint", "Listed",
    "RateLimitError", "ResponseError", "Summary", "UnavailableError", "Unchanged", "UserChanged", "UserLeft",
    "VibepassConnectionError", "VibepassError", "VibepassTimeoutError", "default_api_key", "default_url",
    "format_time",
]
__version__ = "0.1.0"
