"""Secrets the server must read back (an SQS secret key) are kept encrypted at rest with Fernet
(cryptography), under FIELD_ENCRYPTION_KEY, or a key derived from SECRET_KEY when that is not set."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet():
    key = (
        settings.FIELD_ENCRYPTION_KEY
        or base64.urlsafe_b64encode(
            hashlib.sha256(f"connective-fields:{settings.SECRET_KEY}".encode()).digest()
        ).decode()
    )
    return Fernet(key)


def encrypt(text):
    return _fernet().encrypt(text.encode()).decode() if text else ""


def decrypt(token):
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("cannot decrypt a stored secret: FIELD_ENCRYPTION_KEY (or SECRET_KEY) changed") from None


def masked(secret):
    """A secret told by its last characters only, as every page tells a secret (a short one not at all)."""
    if secret.startswith("…"):
        return secret  # masked already
    return f"…{secret[-4:]}" if len(secret) >= 16 else "…(hidden)"
