"""Log output without callers' phone numbers.

A database error carries the failing row's values in its DETAIL and CONTEXT lines (PostgreSQL quotes the
parameters of a statement it could not run), and a traceback repeats them: every digit run long enough to
be a phone number is masked in the formatted record, its last two digits kept for telling lines apart.
"""

import logging
import re

# A date and time is left alone (first alternative); any other run of digits and separators is a candidate.
PHONE_LIKE = re.compile(r"(\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?)|\+?\d[\d \-().]{5,}\d")


def mask_numbers(text):
    return PHONE_LIKE.sub(_masked, text)


def _masked(match):
    run = match.group()
    if match.group(1):
        return run
    digits = [character for character in run if character.isdigit()]
    if len(digits) < 7:
        return run  # a time, a port, an id: not a phone number
    return "[number …" + "".join(digits[-2:]) + "]"


class NumberMaskingFormatter(logging.Formatter):
    def formatMessage(self, record):
        return self._style.format(_with_message(record, mask_numbers(record.message)))

    def formatException(self, ei):
        return mask_numbers(super().formatException(ei))

    def formatStack(self, stack_info):
        return mask_numbers(super().formatStack(stack_info))


def _with_message(record, message):
    masked = logging.makeLogRecord(record.__dict__)
    masked.message = message
    return masked
