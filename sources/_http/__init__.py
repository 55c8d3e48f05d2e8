"""The shared HTTP layer of the sources: one client per API owning auth, paging calls, retries and limits.

Modules: :mod:`~sources._http.errors` (what a source raises), :mod:`~sources._http.limits` (the politeness
budget: in-flight slots and rate), :mod:`~sources._http.auth` (bearer tokens, Basic), :mod:`~sources._http.client`
(:class:`ApiClient`: one call with retries), :mod:`~sources._http.session` (running the async client under
dlt's synchronous resources). The public names are re-exported here.
"""

from sources._http.auth import Auth, BasicAuth, TokenAuth
from sources._http.client import ApiClient, RequestStats, decode_json
from sources._http.errors import BadPayload, ConfigError, EndpointUnavailable, RetriableError, SourceError
from sources._http.limits import HttpSettings, RateLimit, Slots, Throttle
from sources._http.session import Session, merge

__all__ = [
    "ApiClient",
    "Auth",
    "BadPayload",
    "BasicAuth",
    "ConfigError",
    "EndpointUnavailable",
    "HttpSettings",
    "RateLimit",
    "RequestStats",
    "RetriableError",
    "Session",
    "Slots",
    "SourceError",
    "Throttle",
    "TokenAuth",
    "decode_json",
    "merge",
]
