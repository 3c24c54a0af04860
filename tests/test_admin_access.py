"""Who may see what in the channel admin: view-only staff, the mapping preview, tokens and secrets in the event log."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from channels_app.models import RawEvent

from .conftest import fixture, post_event

AIRCALL_TOKEN = "aircall-body-token-0123456789abcdef"


def staff_with(django_user_model, username, *codenames):
    user = django_user_model.objects.create_user(username, f"{username}@example.com", "pw-staff-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer(db, django_user_model):
    """Staff who may look at channels and the event log, and change nothing."""
    return staff_with(django_user_model, "viewer", "view_telephonychannel", "view_rawevent")


@pytest.fixture
def editor(db, django_user_model):
    return staff_with(django_user_model, "editor", "view_telephonychannel", "change_telephonychannel", "view_rawevent")


def change_page(client, channel):
    response = client.get(f"/admin/channels_app/telephonychannel/{channel.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("codenames", [(), ("view_telephonychannel",), ("view_rawevent",)])
def test_the_mapping_preview_needs_the_view_permission_on_events_and_channels(
    client, django_user_model, generic, codenames
):
    post_event(client, generic, fixture("generic_call.json"))
    event = RawEvent.objects.get()
    staff = staff_with(django_user_model, "nosy", *codenames)

    response = staff.get(f"/admin/channels_app/rawevent/{event.pk}/preview/")

    assert response.status_code == 403
    assert "c-1001" not in response.content.decode()


@pytest.mark.django_db
def test_staff_who_may_view_events_and_channels_get_the_preview(client, viewer, generic):
    post_event(client, generic, fixture("generic_call.json"))
    event = RawEvent.objects.get()

    response = viewer.get(f"/admin/channels_app/rawevent/{event.pk}/preview/")

    assert response.status_code == 200 and "c-1001" in response.content.decode()


@pytest.mark.django_db
def test_view_only_staff_see_the_webhook_token_masked(viewer, generic, settings):
    settings.PUBLIC_BASE_URL = "https://calls.example.com"

    html = change_page(viewer, generic)

    assert generic.token not in html
    assert f"…{generic.token[-4:]}" in html
    assert f"https://calls.example.com/webhooks/telephony/{generic.webhook_id}/" in html
    assert "Regenerate token" not in html and 'id="test-channel"' not in html


@pytest.mark.django_db
def test_staff_who_may_change_the_channel_see_its_token(editor, generic):
    html = change_page(editor, generic)

    assert f"X-Webhook-Token: {generic.token}" in html
    assert "Regenerate token" in html


@pytest.mark.django_db
def test_the_channel_page_recommends_the_token_header_over_the_url(admin_client, generic):
    html = change_page(admin_client, generic)

    assert 'id="webhook-header"' in html and f"X-Webhook-Token: {generic.token}" in html
    assert "access logs" in html, "the ?token= form says why it is the second choice"


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_regenerating_the_token_without_the_change_permission_is_403(viewer, generic, method):
    old = generic.token

    response = getattr(viewer, method)(f"/admin/channels_app/telephonychannel/{generic.pk}/regenerate-token/")

    assert response.status_code == 403
    generic.refresh_from_db()
    assert generic.token == old


@pytest.mark.django_db
def test_the_test_button_does_nothing_for_view_only_staff(viewer, generic):
    response = viewer.post(f"/admin/channels_app/telephonychannel/{generic.pk}/test/")

    assert response.status_code in (302, 403)
    assert not RawEvent.objects.exists()


@pytest.fixture
def aircall(client, make_channel):
    channel = make_channel("aircall")
    channel.set_signature_secret(AIRCALL_TOKEN)
    channel.save()
    return channel


def aircall_delivery(client, channel, body):
    response = client.post(f"/webhooks/telephony/{channel.webhook_id}/", body, content_type="application/json")
    assert response.status_code in (202, 400, 401), response.content
    return RawEvent.objects.order_by("-id").first()


@pytest.mark.django_db
def test_the_event_log_and_the_preview_never_show_a_body_token(client, admin_client, aircall):
    body = json.dumps({**fixture("aircall_call_ended.json"), "token": AIRCALL_TOKEN})
    event = aircall_delivery(client, aircall, body)

    page = admin_client.get(f"/admin/channels_app/rawevent/{event.pk}/change/").content.decode()
    preview = admin_client.get(f"/admin/channels_app/rawevent/{event.pk}/preview/").content.decode()

    for html in (page, preview):
        assert AIRCALL_TOKEN not in html
        assert "cdef" in html and "…" in html, "the last characters tell which token it was"
    assert "event-body" in page and "data" in page, "the rest of the body is shown"


@pytest.mark.django_db
def test_a_body_that_does_not_parse_is_shown_with_the_token_masked(admin_client, aircall):
    # As the SQS consumer stores a message it cannot parse: rejected, the body kept as it came.
    body = ('{"token": "' + AIRCALL_TOKEN + '", "data": {broken').encode()
    event = RawEvent.receive(aircall, body, "application/json", refusal="the body is not valid JSON")

    page = admin_client.get(f"/admin/channels_app/rawevent/{event.pk}/change/").content.decode()

    assert event.state == RawEvent.State.REJECTED
    assert AIRCALL_TOKEN not in page and "broken" in page


@pytest.mark.django_db
def test_the_channel_list_costs_the_same_queries_for_one_channel_or_many(
    admin_client, client, make_channel, django_assert_max_num_queries
):
    first = make_channel("generic", name="Line 0")
    post_event(client, first, fixture("generic_call.json"))
    with django_assert_max_num_queries(100) as one:
        assert admin_client.get("/admin/channels_app/telephonychannel/").status_code == 200
    queries_for_one = len(one)  # read now: the next request clears the connection's query log
    for number in range(1, 8):
        channel = make_channel("generic", name=f"Line {number}")
        post_event(client, channel, fixture("generic_call.json"))

    with django_assert_max_num_queries(queries_for_one):
        html = admin_client.get("/admin/channels_app/telephonychannel/").content.decode()

    assert html.count("field-last_event") == 8
    assert "—" not in html.split("field-last_event", 1)[1][:200], "each row shows its last event's time"


@pytest.mark.parametrize(
    "path, query",
    [
        ("/admin/dialogs/dialog/", "status__exact=%00"),
        ("/admin/dialogs/dialog/", "direction__exact=a%00"),
        ("/admin/dialogs/dialog/", "enrichment_state__exact=%00"),
        ("/admin/channels_app/rawevent/", "state__exact=%00"),
        ("/admin/channels_app/rawevent/", "q=%00"),
    ],
)
@pytest.mark.django_db
def test_an_admin_list_answers_a_filter_value_with_a_nul(admin_client, generic, path, query):
    response = admin_client.get(f"{path}?{query}", follow=True)

    assert response.status_code == 200
    assert response.redirect_chain == [(f"{path}?e=1", 302)]
