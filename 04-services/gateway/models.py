"""The gateway's one table of its own: the staff's tokens (users are Django's auth)."""

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils.crypto import constant_time_compare


class AuthToken(models.Model):
    """A staff login's token (gateway.auth): stored as a digest, ending at `expires_at` or
    when the user's password changes."""

    digest = models.CharField(max_length=64, primary_key=True)  # sha256 of the key
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="auth_tokens"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # The user's get_session_auth_hash() at login: it changes with the password.
    password_stamp = models.CharField(max_length=128)

    def __str__(self) -> str:
        return f"token of {self.user} until {self.expires_at:%Y-%m-%d %H:%M}"

    def works(self, now: datetime) -> bool:
        return now < self.expires_at and constant_time_compare(
            self.password_stamp, self.user.get_session_auth_hash()
        )
