"""Staff logins: tokens that end, and a brake on guessing passwords.

A token is made per login and lives SHOP_TOKEN_LIFETIME seconds. Only a digest of it is
stored, so a copy of the database holds no working token. It also ends when the caller
revokes it (DELETE /api/auth/token/), and when the user's password changes: a token keeps
the user's `get_session_auth_hash()` of its login, which is how Django ends a user's
sessions on a password change, however the password was changed (the API, `changepassword`,
a shell).

Failed logins are counted per username and per client with DRF's throttling, in the shared
cache (settings.CACHES): past the limit every login attempt, right or wrong, is a 429 with
Retry-After until the window has passed. Successful logins are not counted.

edge.models is imported where it is used: DRF imports this module (its settings name the
authentication class) while Django is still loading the apps, before models can be imported.
"""

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.throttling import SimpleRateThrottle

if TYPE_CHECKING:
    from edge.models import AuthToken


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_token(*, user, now: datetime | None = None) -> tuple[str, "AuthToken"]:
    """A new token for `user` (the key, shown once, and its row); drops their dead tokens."""
    from edge.models import AuthToken

    now = now or timezone.now()
    for token in AuthToken.objects.filter(user=user).select_related("user"):
        if not token.works(now):
            token.delete()
    key = secrets.token_hex(20)
    token = AuthToken.objects.create(
        digest=_digest(key),
        user=user,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.SHOP_TOKEN_LIFETIME),
        password_stamp=user.get_session_auth_hash(),
    )
    return key, token


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, for a token that has not expired, been revoked, or been
    outlived by a password change."""

    def authenticate_credentials(self, key: str):
        from edge.models import AuthToken

        token = AuthToken.objects.select_related("user").filter(digest=_digest(key)).first()
        if token is None or not token.works(timezone.now()):
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return token.user, token


class FailedLoginThrottle(SimpleRateThrottle):
    """DRF's rate throttle, counting only the failures the view reports (`record_failure`).

    DRF's own throttles count every request they let through; a login throttle that did
    would lock out a user who logs in often, and stop nobody sooner.
    """

    def allow_request(self, request, view) -> bool:
        self.key = self.get_cache_key(request, view)
        if self.rate is None or self.key is None:
            return True
        self.now = self.timer()
        self.history = self._recent(self.key)
        return len(self.history) < self.num_requests

    def record_failure(self, request, view) -> None:
        key = self.get_cache_key(request, view)
        if self.rate is not None and key is not None:
            now = self.timer()
            self.cache.set(key, [now, *self._recent(key, now)], self.duration)

    def _recent(self, key: str, now: float | None = None) -> list[float]:
        """The failures of `key` within the window, newest first."""
        since = (now or self.now) - self.duration
        return [moment for moment in self.cache.get(key, []) if moment > since]

    def ident_of(self, request) -> str | None:
        raise NotImplementedError

    def get_cache_key(self, request, view) -> str | None:
        if request.method != "POST":  # only logging in is throttled, not revoking a token
            return None
        ident = self.ident_of(request)
        return None if ident is None else self.cache_format % {"scope": self.scope, "ident": ident}


class FailedLoginsPerUsername(FailedLoginThrottle):
    """Guessing one user's password, from however many clients."""

    scope = "login_username"

    def ident_of(self, request) -> str | None:
        username = request.data.get("username") if isinstance(request.data, dict) else None
        if not isinstance(username, str) or not username:
            return None  # no username, no password check: the view answers 400 at once
        return _digest(username)  # any string a client sends becomes a safe cache key


class FailedLoginsPerClient(FailedLoginThrottle):
    """One client guessing many users' passwords. The client is its address, or the one the
    proxy in front of the app names (REST_FRAMEWORK["NUM_PROXIES"])."""

    scope = "login_client"

    def ident_of(self, request) -> str | None:
        return self.get_ident(request)
