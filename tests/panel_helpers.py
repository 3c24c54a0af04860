"""Dialogs for the operator panel's tests: two bots, an operator who works with one of them."""

import io
import math
import struct
import wave
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.models import Bot, TelephonyChannel
from dialogs.models import Dialog, Topic


def wav_tone(seconds=3.0, rate=8000):
    """A real WAV file: a 440 Hz tone, 8 kHz mono, as a telephone recording would be."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        frames = (int(8000 * math.sin(2 * math.pi * 440 * n / rate)) for n in range(int(seconds * rate)))
        audio.writeframes(b"".join(struct.pack("<h", frame) for frame in frames))
    return buffer.getvalue()


def make_dialog(channel, call_id, minutes_ago=0, **fields):
    moment = timezone.now() - timedelta(minutes=minutes_ago)
    values = {
        "direction": "in",
        "status": "answered",
        "caller_number": "+380501234567",
        "callee_number": "+380441234567",
        "duration": 62,
        "started_at": moment,
        "completed_at": moment,
        "ready_at": moment,
        **fields,
    }
    values["number_digits"] = " ".join(
        "".join(c for c in values[k] if c.isdigit()) for k in ("caller_number", "callee_number")
    )
    return Dialog.objects.create(channel=channel, call_id=call_id, **values)


@pytest.fixture
def office(db, django_user_model):
    """Two bots; the operator Olena is a member of the first only; Root is staff."""
    sales, support = Bot.objects.create(name="Sales"), Bot.objects.create(name="Support")
    olena = django_user_model.objects.create_user("olena", "olena@example.com", "pw-olena-123")
    root = django_user_model.objects.create_user("root", "root@example.com", "pw-root-123", is_staff=True)
    sales.members.add(olena)
    kyiv = TelephonyChannel.from_preset(sales, "Kyiv line", "generic")
    helsinki = TelephonyChannel.from_preset(support, "Helsinki line", "setera")
    topic = Topic.objects.create(alias="online", name="Online orders")
    return {
        "olena": olena,
        "root": root,
        "sales": sales,
        "support": support,
        "kyiv": kyiv,
        "helsinki": helsinki,
        "topic": topic,
    }
