"""Phone numbers in E.164, from whatever a provider sends and the channel's default country code."""

import re

import phonenumbers

DIALLABLE = re.compile(r"^\+?[0-9]+$")
SEPARATORS = re.compile(r"[\s().\-/]")


def region_for(country_code):
    """'+380' -> 'UA'; None when the code is empty or unknown."""
    digits = (country_code or "").strip().lstrip("+")
    if not digits.isdigit():
        return None
    region = phonenumbers.region_code_for_country_code(int(digits))
    return None if region == phonenumbers.UNKNOWN_REGION else region


def to_e164(number, default_country_code):
    """The number in E.164, or None when it is not a valid phone number.

    Masked numbers (`+35894272XXXX`), `anonymous` and short extensions are not numbers: phonenumbers would
    read letters as a keypad's digits, so only digits (and an optional leading +) are accepted at all.
    """
    candidate = SEPARATORS.sub("", str(number or ""))
    if not DIALLABLE.match(candidate):
        return None
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    try:
        parsed = phonenumbers.parse(candidate, None if candidate.startswith("+") else region_for(default_country_code))
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
