"""The caller card: the customer's number, what the caller lookup found, and the number's earlier calls on
the bots the user may see; on the dialog's page, and alone for the pop-up and the live board."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialogs.caller import caller_card
from dialogs.models import Dialog, customer_key_of

from .conftest import fixture, post_event, process_all
from .panel_helpers import make_dialog
from .test_benchmarks import postgres_url, run_bench

NUMBER = "+380501234567"


def call(channel, call_id, minutes_ago=0, number=NUMBER, **fields):
    """A dialog of an incoming call from `number` (the customer key as a merge sets it)."""
    dialog = make_dialog(channel, call_id, minutes_ago=minutes_ago, caller_number=number, **fields)
    dialog.customer_key = customer_key_of(dialog)
    dialog.save(update_fields=["customer_key"])
    return dialog


def card_of(client, dialog):
    response = client.get(f"/panel/dialogs/{dialog.pk}/caller/")
    assert response.status_code == 200
    return response.context["card"], response.content.decode()


@pytest.fixture
def olena_client(client, office):
    client.force_login(office["olena"])
    return client


def test_the_card_shows_the_number_the_count_and_the_last_five_earlier_calls(olena_client, office):
    earlier = [
        call(office["kyiv"], f"old-{n}", minutes_ago=100 - n, operator=office["olena"], topic=office["topic"])
        for n in range(7)
    ]
    call(office["kyiv"], "other-number", minutes_ago=50, number="+380671112233")
    now = call(office["kyiv"], "now", minutes_ago=10)
    call(office["kyiv"], "later", minutes_ago=1)

    card, html = card_of(olena_client, now)

    assert card.earlier_calls == 7, "the dialog itself, later calls and other numbers do not count"
    assert [dialog.call_id for dialog in card.last_calls] == ["old-6", "old-5", "old-4", "old-3", "old-2"]
    assert "050 123 4567" in html and NUMBER in html, "national and E.164"
    assert "7 earlier calls" in html and "first-time caller" not in html
    for dialog in earlier[2:]:
        assert f'href="/panel/dialogs/{dialog.pk}/"' in html
    assert f'href="/panel/dialogs/{earlier[1].pk}/"' not in html, "five at most"
    assert "olena@example.com" in html and "Online orders" in html and "answered" in html
    assert timezone.localtime(earlier[6].started_at).strftime("%Y-%m-%d %H:%M") in html
    assert olena_client.get(f"/panel/dialogs/{earlier[3].pk}/").status_code == 200, "each row's link opens"


def test_a_first_time_caller_has_a_badge(olena_client, office):
    call(office["kyiv"], "someone-else", minutes_ago=5, number="+380671112233")
    card, html = card_of(olena_client, call(office["kyiv"], "first"))
    assert card.first_time and card.earlier_calls == 0
    assert "first-time caller" in html and "No earlier calls" in html


def test_an_operator_never_sees_the_calls_of_another_bot_and_staff_see_all(client, olena_client, office):
    call(office["kyiv"], "sales-old", minutes_ago=30)
    secret = call(office["helsinki"], "support-old", minutes_ago=20, operator=office["root"])
    now = call(office["kyiv"], "now")

    card, html = card_of(olena_client, now)
    assert card.earlier_calls == 1 and [d.call_id for d in card.last_calls] == ["sales-old"]
    assert f"/panel/dialogs/{secret.pk}/" not in html and "root@example.com" not in html
    assert olena_client.get(f"/panel/dialogs/{secret.pk}/caller/").status_code == 404

    client.force_login(office["root"])
    card, html = card_of(client, now)
    assert card.earlier_calls == 2 and [d.call_id for d in card.last_calls] == ["support-old", "sales-old"]
    assert f"/panel/dialogs/{secret.pk}/" in html


def test_the_partial_serves_calls_in_progress_and_counts_earlier_ones_still_in_progress(olena_client, office):
    waiting = call(office["kyiv"], "not-enriched-yet", minutes_ago=3, ready_at=None, completed_at=None, status="")
    ringing = call(office["kyiv"], "ringing", ready_at=None, completed_at=None, status="")

    assert olena_client.get(f"/panel/dialogs/{ringing.pk}/").status_code == 200, "the board opens calls in progress"
    card, html = card_of(olena_client, ringing)
    assert card.earlier_calls == 1 and card.last_calls == [waiting]
    assert f"/panel/dialogs/{waiting.pk}/" in html, "a call in progress has its page too"
    assert "in progress" in html


def test_anonymous_users_get_the_login_page_not_a_card(client, office):
    dialog = call(office["kyiv"], "c")
    response = client.get(f"/panel/dialogs/{dialog.pk}/caller/")
    assert response.status_code == 302 and response["Location"].startswith("/panel/login/")


def test_the_dialog_page_shows_the_card(olena_client, office):
    call(office["kyiv"], "before", minutes_ago=9)
    response = olena_client.get(f"/panel/dialogs/{call(office['kyiv'], 'now').pk}/")
    html = response.content.decode()
    assert 'class="card caller-card"' in html and "1 earlier call<" in html and "050 123 4567" in html


def test_numbers_through_the_pipeline_invalid_ones_as_sent_and_matched_on_their_digits(client, office, settings):
    channel = office["kyiv"]

    def ring(call_id, **fields):
        assert post_event(client, channel, {**fixture("generic_call.json"), "call_id": call_id, **fields}).status_code
        process_all()
        return Dialog.objects.get(call_id=call_id)

    ring("in-local", caller="050 123 45 67")  # the channel's country: +380501234567
    ring("out", direction="out", caller="+380441234567", callee="+380501234567")
    ring("masked-1", caller="+38050123XXXX")
    masked = ring("masked-2", caller="38050123XXXX")
    now = ring("in-again", caller="+380 50 123 45 67")

    root = office["root"]
    card = caller_card(now, root)
    assert now.customer_key == NUMBER
    assert card.earlier_calls == 2 and card.national == "050 123 4567", "the outgoing call to the number counts"
    card = caller_card(masked, root)
    assert masked.customer_key == "38050123" and not card.valid and card.number == "38050123XXXX"
    assert card.earlier_calls == 1, "kept as sent, matched on the digits"
    client.force_login(root)
    _, html = card_of(client, masked)
    assert "38050123XXXX" in html and "as sent" in html


def test_a_hidden_number_has_no_history(olena_client, office):
    call(office["kyiv"], "hidden-1", minutes_ago=5, number="anonymous", caller_number_valid=False)
    hidden = call(office["kyiv"], "hidden-2", number="", caller_number_valid=True)
    card, html = card_of(olena_client, hidden)
    assert card.earlier_calls == 0 and not card.first_time
    assert "Hidden number" in html and "first-time caller" not in html


def lookup(dialog, **state):
    Dialog.keep_caller_lookup([dialog.pk], state)
    dialog.refresh_from_db()
    return dialog


def moment(seconds_ago=0):
    return (timezone.now() - timedelta(seconds=seconds_ago)).isoformat()


def test_the_lookup_found_a_name_a_company_a_link_and_more(olena_client, office):
    dialog = lookup(
        call(office["kyiv"], "c"),
        state="done",
        at=moment(),
        outputs={
            "caller_name": "Mariia <b>Koval</b>",
            "caller_company": "Koval & Sons",
            "caller_url": "https://crm.example/contacts/42?x=1&y=2",
            "tier": "gold",
            "orders": [1, 2],
        },
    )
    _, html = card_of(olena_client, dialog)
    assert "Mariia &lt;b&gt;Koval&lt;/b&gt;" in html and "Koval &amp; Sons" in html
    assert (
        '<a class="caller-link" href="https://crm.example/contacts/42?x=1&amp;y=2" target="_blank" '
        'rel="noopener noreferrer">' in html
    )
    assert "<dt>tier</dt><dd>gold</dd>" in html and "<dt>orders</dt><dd>[1, 2]</dd>" in html


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,<script>x</script>", "java\tscript:alert(1)", "//evil.example", 42]
)
def test_a_link_that_is_not_http_is_shown_as_text_never_as_a_link(olena_client, office, url):
    dialog = lookup(call(office["kyiv"], "c"), state="done", at=moment(), outputs={"caller_url": url})
    _, html = card_of(olena_client, dialog)
    assert "caller-link" not in html and "<dt>caller_url</dt>" in html and "<script>x" not in html


def test_the_card_tells_a_lookup_in_progress_and_a_failed_one(olena_client, office):
    pending = lookup(call(office["kyiv"], "pending"), state="pending", at=moment(), deadline=2.0)
    failing = lookup(call(office["kyiv"], "failed"), state="failed", at=moment(), error="the <CRM> answered HTTP 500")
    none = call(office["kyiv"], "no-lookup")

    assert "Looking up the caller…" in card_of(olena_client, pending)[1]
    assert "Caller lookup failed: the &lt;CRM&gt; answered HTTP 500" in card_of(olena_client, failing)[1]
    html = card_of(olena_client, none)[1]
    assert "lookup-state" not in html and "Caller lookup" not in html


def test_a_lookup_pending_long_past_its_deadline_is_shown_failed(olena_client, office):
    """Its worker stopped mid-run: the card does not say "looking up" for ever."""
    stuck = lookup(call(office["kyiv"], "stuck"), state="pending", at=moment(seconds_ago=60), deadline=2.0)
    card, html = card_of(olena_client, stuck)
    assert card.lookup.state == "failed" and "Caller lookup failed: no answer within 2 s" in html


def test_the_card_costs_two_queries_however_long_the_history(olena_client, office):
    def queries(dialog):
        with CaptureQueriesContext(connection) as captured:
            caller_card(dialog, office["olena"])
        return len(captured.captured_queries)

    first = call(office["kyiv"], "first", minutes_ago=100)
    assert queries(first) == 1, "no earlier calls: the count alone"
    for n in range(12):
        call(office["kyiv"], f"c{n}", minutes_ago=90 - n, operator=office["olena"], topic=office["topic"])
    now = call(office["kyiv"], "now")
    card = caller_card(now, office["olena"])
    with CaptureQueriesContext(connection) as captured:
        [(row.operator.email, row.topic.name, row.started_at) for row in card.last_calls]
    assert queries(now) == 2 and not captured.captured_queries


histories = st.lists(
    st.tuples(st.sampled_from(["kyiv", "helsinki"]), st.sampled_from([NUMBER, "+380671112233"]), st.integers(0, 5)),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories, pick=st.integers(0, 11), who=st.sampled_from(["olena", "root"]))
def test_the_count_and_the_rows_are_the_visible_earlier_calls_of_the_number(office, history, pick, who):
    """Calls on two bots from two numbers, several at the same moment: the card is what a user may see of
    the number's calls that began before this one, newest first."""
    Dialog.objects.all().delete()
    base = timezone.now()
    made = [
        call(office[line], f"c{n}", number=number, started_at=base - timedelta(minutes=minutes))
        for n, (line, number, minutes) in enumerate(history)
    ]
    dialog = made[pick % len(made)]
    user = office[who]
    visible = [d for d in made if who == "root" or d.channel == office["kyiv"]]
    expected = sorted(
        (
            d
            for d in visible
            if d.customer_key == dialog.customer_key and (d.started_at, d.pk) < (dialog.started_at, dialog.pk)
        ),
        key=lambda d: (d.started_at, d.pk),
        reverse=True,
    )

    card = caller_card(dialog, user)

    assert card.earlier_calls == len(expected)
    assert [d.pk for d in card.last_calls] == [d.pk for d in expected[:5]]


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_customer_key_of_existing_dialogs(office):
    executor = MigrationExecutor(connection)
    executor.migrate([("dialogs", "0006_enrichment_lease")])
    old = executor.loader.project_state([("dialogs", "0006_enrichment_lease")]).apps.get_model("dialogs", "Dialog")
    rows = {
        "in": {"direction": "in", "caller_number": NUMBER, "callee_number": "+380441234567"},
        "out": {"direction": "out", "caller_number": "+380441234567", "callee_number": "+380671112233"},
        "masked": {"direction": "in", "caller_number": "+35840940XXXX", "caller_number_valid": False},
        "masked-out": {"direction": "out", "callee_number": "(050) 12x", "callee_number_valid": False},
        "hidden": {"direction": "", "caller_number": ""},
    }
    for call_id, fields in rows.items():
        old.objects.create(channel_id=office["kyiv"].pk, call_id=call_id, **fields)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    keys = dict(Dialog.objects.values_list("call_id", "customer_key"))
    assert keys == {"in": NUMBER, "out": "+380671112233", "masked": "35840940", "masked-out": "05012", "hidden": ""}


@pytest.mark.django_db
def test_the_caller_card_benchmark_loads_its_dialogs_and_times_the_card():
    output = run_bench(
        "caller_card.py",
        "--dialogs",
        "3000",
        "--history",
        "300",
        "--runs",
        "5",
        env={"BENCH_DATABASE_URL": postgres_url("connective_caller_smoke")},
    )
    assert "caller card, staff" in output and "caller card, operator" in output and "p95" in output
