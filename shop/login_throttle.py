"""Brute-force protection for logins: failed attempts per client IP and per username.

Every failed `authenticate()` (the login page, the API token view, the admin's login) sends
`user_login_failed`, which counts here, in the shared cache so that all web processes add up.
After LOGIN_FAILURE_RATE failures (default 10 per hour) from one IP, or for one username, logins
from that IP or for that username are refused until the window ends: the login page and the token
view answer 429 before checking the password, and `LoginThrottleBackend` refuses the rest.
Counting per username stops a password guesser that changes IP; the price is that someone who
knows a username can lock it out for the window (the owner can still reset the password).
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_login_failed
from django.core.cache import caches
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

LOCKED_MESSAGE = "Too many failed logins from here or for this account. Please try again later, or reset your password."


def _rate() -> tuple[int, int]:
    """(failures allowed, window in seconds) from LOGIN_FAILURE_RATE, e.g. "10/hour" (DRF's rate syntax)."""
    count, period = settings.LOGIN_FAILURE_RATE.split("/")
    return int(count), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]


def _keys(request: HttpRequest | None, username: object) -> list[str]:
    keys = []
    if request is not None:
        # REMOTE_ADDR, or the client named by NUM_PROXIES trusted proxies (as the other throttles).
        keys.append(f"login-failures:ip:{BaseThrottle().get_ident(request)}")
    if isinstance(username, str) and username.strip():
        # Hashed: a username may be long or hold any characters; the key stays short and safe.
        digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()
        keys.append(f"login-failures:user:{digest}")
    return keys


def login_retry_after(request: HttpRequest | None, username: object) -> int:
    """0 when a login may be tried now, else the seconds to wait (at most the window)."""
    limit, window = _rate()
    keys = _keys(request, username)
    if not keys:
        return 0
    try:
        counts = caches["shared"].get_many(keys)
    except RedisError as error:
        logger.warning("login throttle skipped, shared cache unreachable: %s", error)
        return 0
    return window if any(count >= limit for count in counts.values()) else 0


def login_failure_record(request: HttpRequest | None, username: object) -> None:
    """Count one failed login for the client IP and the username."""
    _, window = _rate()
    cache = caches["shared"]
    try:
        for key in _keys(request, username):
            # A fixed window from the first failure: add() starts it, incr() is atomic in Redis.
            cache.add(key, 0, window)
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr: a new window
                cache.add(key, 1, window)
    except RedisError as error:
        logger.warning("login failure not counted, shared cache unreachable: %s", error)


@receiver(user_login_failed, dispatch_uid="shop_login_failure_record")
def login_failed_receiver(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    login_failure_record(request, credentials.get("username"))


class LoginThrottleBackend(ModelBackend):
    """First in AUTHENTICATION_BACKENDS: refuses every login attempt while its IP or username is
    locked out, whichever view it comes through (the admin's login too); otherwise it leaves the
    password to ModelBackend, next in the list.

    A ModelBackend so that sessions it is named in (Django's test client's force_login names the
    first backend) load their user, and permissions read the same.
    """

    def authenticate(self, request: HttpRequest | None, username: str | None = None, **kwargs) -> None:
        if login_retry_after(request, username):
            raise PermissionDenied(LOCKED_MESSAGE)
        return None
