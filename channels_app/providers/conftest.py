"""The test suite's fixtures for the providers' own test modules (each in its folder)."""

from tests.conftest import bot, fresh_limits, generic, make_channel, operator, phonon, setera  # noqa: F401 (fixtures)
