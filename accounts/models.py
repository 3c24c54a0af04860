from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower


class ConnectiveUserManager(UserManager):
    def active_by_email(self, email):
        """The active user whose email matches, ignoring case; None when there is none."""
        email = (email or "").strip()
        if not email:
            return None
        return self.filter(email__iexact=email, is_active=True).first()


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
