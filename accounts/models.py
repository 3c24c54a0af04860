import contextvars
from contextlib import contextmanager

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower

# Within one batch of the event worker, each operator's email is looked up once: calls of a busy line
# name the same few operators again and again.
_remembered = contextvars.ContextVar("operators_by_email", default=None)


@contextmanager
def operator_lookups_remembered():
    token = _remembered.set({})
    try:
        yield
    finally:
        _remembered.reset(token)


class ConnectiveUserManager(UserManager):
    def remember_operators(self, emails):
        """Look up these emails' active users at once, for the active_by_email calls that follow in the
        batch (see operator_lookups_remembered)."""
        remembered = _remembered.get()
        if remembered is None:
            return
        wanted = {email.strip().lower() for email in emails if email and email.strip()} - set(remembered)
        if not wanted:
            return
        remembered.update(dict.fromkeys(wanted))
        for user in self.alias(lowered=Lower("email")).filter(lowered__in=wanted, is_active=True):
            remembered[user.email.lower()] = user

    def active_by_email(self, email):
        """The active user whose email matches, ignoring case; None when there is none."""
        email = (email or "").strip()
        if not email:
            return None
        remembered = _remembered.get()
        if remembered is not None and email.lower() in remembered:
            return remembered[email.lower()]
        user = self.filter(email__iexact=email, is_active=True).first()
        if remembered is not None:
            remembered[email.lower()] = user
        return user


class User(AbstractUser):
    """An administrator or operator. Providers and actions name operators by email."""

    email = models.EmailField("email address", unique=True)

    objects = ConnectiveUserManager()

    REQUIRED_FIELDS = ["email"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ignoring_case"),
        ]

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email)
