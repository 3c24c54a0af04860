"""What every authentication scheme is: a name, whether it needs the channel's secret, what makes its
config or secret unusable, and why it refuses a delivery. The schemes themselves are in authentication.py
(tokens, Basic, source address) and signatures.py (signatures), registered in authentication.SCHEMES."""

import hmac
from dataclasses import dataclass
from functools import cached_property

from .mapping import MISSING, resolve_path
from .parsing import Body


@dataclass
class Delivery:
    """One request as an authentication scheme sees it."""

    channel: object
    config: dict
    request: object
    body: bytes
    shared_body: Body | None = None  # the webhook's parse of the body, shared with its other steps

    def header(self, name):
        return self.request.headers.get(name, "").strip()

    @cached_property
    def payload(self):
        """The body's first event, for schemes that read fields of it; {} when it cannot be read."""
        events, _ = self.parsed_body.parsed
        return events[0] if events else {}

    @cached_property
    def parsed_body(self):
        return self.shared_body or Body(self.body, self.request.META.get("CONTENT_TYPE", ""), self.channel.data_format)

    def field(self, path):
        value = resolve_path(self.payload, path)
        return "" if value is MISSING or value is None or isinstance(value, (dict, list)) else value

    def matches_a_secret(self, presented):
        """Compared in constant time with the current secret and, during a rotation, the previous one."""
        return any(
            hmac.compare_digest(secret.encode(), presented.encode()) for secret in self.channel.signature_secrets()
        )

    @property
    def secrets(self):
        """The secrets in force: the current one and, during a rotation, the previous one."""
        return self.channel.signature_secrets()


class Scheme:
    name = ""  # as Advanced Config's authentication.scheme names it

    def needs_secret(self, config):
        return True

    def secret_problem(self, secret):
        return None

    def config_problem(self, config):
        return None

    def misconfiguration(self, channel, config):
        """Why every delivery is refused whatever it carries (a malformed secret or config), or None."""
        problems = filter(None, (self.secret_problem(secret) for secret in channel.signature_secrets()))
        return next(problems, None) or self.config_problem(config)

    def refusal(self, delivery):
        """Why this delivery is refused, or None."""
        raise NotImplementedError
