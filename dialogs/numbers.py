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
    if candidate.startswith("+"):
        return valid_e164(candidate, None)
    # Without a +: sipgate, Vonage and Zadarma write international numbers so (492111234567). One that
    # begins with the channel's own country code is read that way first, since a national number begins
    # with its trunk prefix instead; then as a national number; then as any international one.
    country_digits = (default_country_code or "").strip().lstrip("+")
    if country_digits and candidate.startswith(country_digits) and (e164 := valid_e164("+" + candidate, None)):
        return e164
    return valid_e164(candidate, region_for(default_country_code)) or valid_e164("+" + candidate, None)


def valid_e164(candidate, region):
    try:
        parsed = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
