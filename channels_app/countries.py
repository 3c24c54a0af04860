"""The default country of a channel's numbers, from phonenumbers' own data."""

from functools import cache

import phonenumbers
from phonenumbers import geocoder


@cache
def country_code_choices():
    """("+380", "+380 Ukraine — e.g. 031 123 4567"), sorted by country name; one entry per calling code."""
    by_code = {}
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number(region)
        if example is None:
            continue
        code = f"+{example.country_code}"
        name = geocoder.country_name_for_number(example, "en") or region
        national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
        if phonenumbers.region_code_for_country_code(example.country_code) == region or code not in by_code:
            by_code[code] = f"{code} {name} — e.g. {national}"
    return [("", "— none: numbers must carry their country code —")] + sorted(
        by_code.items(), key=lambda item: item[1].split(" ", 1)[1]
    )


def example_number(country_code, kind=phonenumbers.PhoneNumberType.MOBILE):
    """An E.164 example of the country, for synthetic test calls."""
    region = phonenumbers.region_code_for_country_code(int(country_code.lstrip("+") or 0)) if country_code else "US"
    example = phonenumbers.example_number_for_type(region, kind) or phonenumbers.example_number(region)
    if example is None:
        example = phonenumbers.example_number("US")
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
