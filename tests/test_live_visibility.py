"""Who a live change goes to, and how a hub keeps its place when changes commit out of order."""

import json
import time

from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels_app.models import Bot, TelephonyChannel
from dialogs.live import Viewer, message_for, states
from dialogs.models import Dialog
from dialogs.stream import GAP_PATIENCE, Hub

memberships = st.lists(st.sets(st.integers(0, 2), max_size=3), min_size=1, max_size=4)
calls = st.lists(st.tuples(st.integers(0, 2), st.integers(-1, 3)), min_size=1, max_size=8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(memberships=memberships, staff=st.lists(st.booleans(), min_size=4, max_size=4), calls=calls)
def test_a_change_goes_exactly_to_the_users_who_may_see_its_dialog(db, memberships, staff, calls):
    """Whatever the bots, members and staff: a stream's messages are the dialogs visible_to its user, and a
    ringing call flags the operator it names (else every member of its bot), never a user who may not see it."""
    Dialog.objects.all().delete()
    get_user_model().objects.all().delete()
    Bot.objects.all().delete()
    bots = [Bot.objects.create(name=f"bot {n}") for n in range(3)]
    lines = [TelephonyChannel.from_preset(bot, "line", "generic") for bot in bots]
    users = []
    for n, bot_numbers in enumerate(memberships):
        user = get_user_model().objects.create(username=f"u{n}", email=f"u{n}@example.com", is_staff=staff[n])
        user.bots.set([bots[b] for b in bot_numbers])
        users.append(user)
    dialogs = [
        Dialog.objects.create(
            channel=lines[bot],
            call_id=f"c{n}",
            status="ringing",
            operator=users[who] if 0 <= who < len(users) else None,
        )
        for n, (bot, who) in enumerate(calls)
    ]
    changed = states({dialog.pk: n + 1 for n, dialog in enumerate(dialogs)})

    for user in users:
        viewer = Viewer.of(user)
        sent = {state["id"]: json.loads(text) for state in changed if (text := message_for(state, viewer))}
        assert set(sent) == set(Dialog.objects.visible_to(user).values_list("pk", flat=True))
        for dialog in dialogs:
            if dialog.pk not in sent:
                continue
            named = dialog.operator_id is not None
            concerned = dialog.operator_id == user.pk if named else user.bots.filter(pk=dialog.channel.bot_id).exists()
            assert sent[dialog.pk]["notify"] is concerned


def test_a_hub_waits_for_a_change_that_commits_after_a_later_one_and_resumes_streams_before_it():
    hub = Hub()
    hub.high = 10
    hub.take([11, 13])  # 12 is still being committed
    assert hub.cursor == 11, "a stream resuming after the cursor is replayed change 12"
    hub.take([12])
    assert hub.cursor == 13 and not hub.gaps


def test_a_hub_gives_up_on_a_change_that_never_commits(monkeypatch):
    hub = Hub()
    hub.high = 10
    hub.take([12])
    clock = time.monotonic() + GAP_PATIENCE + 1
    monkeypatch.setattr("dialogs.stream.time.monotonic", lambda: clock)
    hub.take([13])
    assert hub.cursor == 13, "a rolled-back change no longer holds the cursor back"


def test_a_starting_hub_does_not_wait_for_changes_pruned_or_never_made():
    hub = Hub()  # started on an empty table: high is None
    hub.take([500, 501])
    assert hub.cursor == 501 and not hub.gaps
