"""The history costs the same few queries however many rows it shows: no row loads anything on its own."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from .panel_helpers import make_dialog


def queries_for(client, url):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("url", ["/panel/", "/panel/?q=050", "/api/dialogs/", "/panel/new-rows/"])
def test_a_full_page_costs_no_more_queries_than_a_single_row(client, office, url):
    client.force_login(office["olena"])
    make_dialog(
        office["kyiv"],
        "first",
        operator=office["olena"],
        topic=office["topic"],
        transcript="Hello",
        recording_url="https://rec.example/1.wav",
    )
    one_row = queries_for(client, url)

    for number in range(30):
        make_dialog(
            office["kyiv"],
            f"call-{number}",
            minutes_ago=number + 1,
            operator=office["root"],
            topic=office["topic"],
            transcript="Hello",
            recording_url="https://rec.example/2.wav",
        )

    assert queries_for(client, url) == one_row
