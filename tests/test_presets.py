"""Each provider preset, with the provider's published sample payloads posted through the real endpoint with
the preset's own authentication on, and the resulting dialog checked field by field."""

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from channels_app import presets, signatures
from channels_app.models import RawEvent
from dialogs.models import Dialog

from .conftest import FIXTURES, fixture, post_event, process_all, webhook_path

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


def raw(name):
    return (FIXTURES / name).read_bytes()


def the_dialog(**lookup):
    dialogs = list(Dialog.objects.filter(**lookup))
    assert len(dialogs) == 1, f"{len(dialogs)} dialogs"
    return dialogs[0]


def test_every_preset_has_a_test_here():
    """Setera, Phonon and the generic example are tested field by field in test_one_dialog_per_call.py."""
    assert set(presets.all_presets()) == {"generic", "setera", "phonon", "wildix", "twilio", "aircall", "telnyx",
                                          "vonage", "zadarma", "binotel", "sipgate"}


def test_the_admins_preset_picker_offers_every_preset(admin_client, bot):
    page = admin_client.get("/admin/channels_app/telephonychannel/add/").content.decode()
    for slug, preset in presets.all_presets().items():
        assert f'<option value="{slug}">{preset["name"]}</option>' in page


# -- Twilio ----------------------------------------------------------------------------------------------

def twilio_signed(channel, body, auth_token="twilio-auth-token"):
    url = "http://testserver" + webhook_path(channel, False)
    return {"X-Twilio-Signature": signatures.twilio_signature(auth_token, url + signatures.twilio_fields(body))}


def test_twilio_status_callbacks_and_the_late_recording_callback_make_one_dialog(client, make_channel):
    channel = make_channel("twilio")
    channel.set_signature_secret("twilio-auth-token")
    channel.save()
    for name in ["twilio_status_initiated.txt", "twilio_status_completed.txt", "twilio_status_ringing.txt",
                 "twilio_status_answered.txt", "twilio_recording_completed.txt"]:
        body = raw(name)
        assert post_event(client, channel, body, FORM, token=False, **twilio_signed(channel, body)).status_code == 202
    unsigned = post_event(client, channel, raw("twilio_status_completed.txt"), FORM)
    assert unsigned.status_code == 401, "the URL token alone does not pass a Twilio channel"
    process_all()

    dialog = the_dialog()
    assert dialog.call_id == "CA5e5d1a9f0e5c4f2b8a1d3c7e9f1a2b3c"
    assert (dialog.direction, dialog.status, dialog.duration) == ("in", "answered", 91)
    assert (dialog.caller_number, dialog.callee_number) == ("+14155550142", "+16465550187")
    assert dialog.started_at == datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)
    assert dialog.answered_at == datetime(2026, 11, 24, 10, 0, 6, tzinfo=UTC)
    assert dialog.ended_at == datetime(2026, 11, 24, 10, 1, 37, tzinfo=UTC)
    assert dialog.recording_url.endswith("/Recordings/RE1f2e3d4c5b6a79880716253443526170")
    assert dialog.events.count() == 5


# -- Wildix ----------------------------------------------------------------------------------------------

def wildix_signed(body, secret="wildix-integration-secret"):
    return {"x-signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def test_wildix_call_events_and_the_late_transcript_make_one_dialog(client, make_channel, django_user_model):
    operator = django_user_model.objects.create_user("vg", "Vladimir.Gorobets@wildix.com", "pw-vg-12345")
    channel = make_channel("wildix")
    channel.set_signature_secret("wildix-integration-secret")
    channel.save()
    for name in ["wildix_call_start.json", "wildix_call_update.json", "wildix_call_end.json",
                 "wildix_call_transcription_completed.json"]:
        body = json.dumps(fixture(name)).encode()
        assert post_event(client, channel, body, token=False, **wildix_signed(body)).status_code == 202
    presence = json.dumps({"id": "p-1", "type": "presence:telephony", "data": {"status": "talking"}}).encode()
    assert post_event(client, channel, presence, token=False, **wildix_signed(presence)).status_code == 202
    process_all()

    dialog = the_dialog()
    assert (dialog.call_id, dialog.direction, dialog.status) == ("it_w118741_1693389850.110", "out", "missed")
    assert (dialog.caller_number, dialog.callee_number) == ("1001", "10020"), "extensions, kept as sent"
    assert dialog.operator == operator, "the local caller of an outgoing call"
    assert dialog.extra["end_cause"] == "Call Rejected" and dialog.extra["ended_by"] == "CALLER"
    assert dialog.started_at == datetime.fromtimestamp(1693389850.810, UTC)
    assert dialog.ended_at == datetime.fromtimestamp(1693389853.611, UTC)
    assert dialog.transcript.startswith("admin: Hi, it's Vladimir from the admin desk.")
    assert "user20: Sure, go ahead." in dialog.transcript
    assert RawEvent.objects.filter(state=RawEvent.State.IGNORED).count() == 1, "presence is stored and ignored"


def test_wildix_signatures_of_the_compact_object_are_accepted(client, make_channel):
    channel = make_channel("wildix")
    channel.set_signature_secret("wildix-integration-secret")
    channel.save()
    payload = fixture("wildix_call_end.json")
    sent = json.dumps(payload, indent=2).encode()  # what the wire carries
    signed = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()  # what JSON.stringify signs

    assert post_event(client, channel, sent, token=False, **wildix_signed(signed)).status_code == 202
    assert post_event(client, channel, sent.replace(b"CALLER", b"CALLEE"), token=False, **wildix_signed(signed)).status_code == 401


# -- Aircall ---------------------------------------------------------------------------------------------

AIRCALL_OPERATOR = "koen.verduijn+v5doewlrdy@aircall.io"


def test_aircall_call_events_make_one_dialog(client, make_channel, django_user_model):
    operator = django_user_model.objects.create_user("koen", AIRCALL_OPERATOR, "pw-koen-12345")
    channel = make_channel("aircall")
    channel.set_signature_secret("REDACTED-aircall-webhook-token")
    channel.save()
    for name in ["aircall_call_ended.json", "aircall_call_created.json", "aircall_call_answered.json"]:
        assert post_event(client, channel, raw(name), token=False).status_code == 202
    forged = json.dumps({**fixture("aircall_call_ended.json"), "token": "guessed"})
    assert post_event(client, channel, forged, token=False).status_code == 401
    a_user_event = {"resource": "user", "event": "user.opened", "timestamp": 1646389800,
                    "token": "REDACTED-aircall-webhook-token", "data": {"id": 736640, "email": AIRCALL_OPERATOR}}
    assert post_event(client, channel, a_user_event, token=False).status_code == 202
    process_all()

    dialog = the_dialog()
    assert (dialog.call_id, dialog.direction, dialog.status) == ("780836699", "out", "answered")
    assert (dialog.caller_number, dialog.callee_number) == ("+443308186690", "+43720880079")
    assert dialog.operator == operator
    assert dialog.started_at == datetime.fromtimestamp(1646389735, UTC)
    assert dialog.answered_at == datetime.fromtimestamp(1646389740, UTC)
    assert dialog.ended_at == datetime.fromtimestamp(1646389755, UTC)
    assert dialog.duration == 20
    assert dialog.extra["aircall_line"] == "Koens Test"
    assert RawEvent.objects.filter(state=RawEvent.State.IGNORED).count() == 1, "the user event is not a call"


# -- Telnyx ----------------------------------------------------------------------------------------------

# The fixed key pair of Telnyx's own PHP SDK tests (telnyx-php tests/Services/WebhooksTest.php).
TELNYX_PUBLIC_KEY = "+7E99DXiiQXvceNX4nHm3Lbm5mqPWad5RhDr2ufuCik="
TELNYX_SECRET_KEY = "p68GNpDl9oAQohBiK0MEOFIjxnoFnz0uGGeJqxQ5PSb7sT30NeKJBe9x41ficebctubmao9Zp3lGEOva5+4KKQ=="


def telnyx_signed(body):
    private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(TELNYX_SECRET_KEY)[:32])
    stamp = str(int(time.time()))
    signature = private.sign(f"{stamp}|".encode() + body)
    return {"telnyx-signature-ed25519": base64.b64encode(signature).decode(), "telnyx-timestamp": stamp}


def test_telnyx_events_with_the_recording_first_make_one_dialog(client, make_channel):
    channel = make_channel("telnyx")
    channel.set_signature_secret(TELNYX_PUBLIC_KEY)
    channel.save()

    recording = raw("telnyx_call_recording_saved.json")
    assert post_event(client, channel, recording, token=False, **telnyx_signed(recording)).status_code == 202
    process_all()
    waiting = the_dialog()
    assert not waiting.is_complete and waiting.recording_url == "http://example.com/recording.mp3", \
        "a recording that comes first opens the dialog, which waits for the call"

    for name in ["telnyx_call_hangup.json", "telnyx_call_initiated.json", "telnyx_call_answered.json"]:
        body = raw(name)
        assert post_event(client, channel, body, token=False, **telnyx_signed(body)).status_code == 202
    tampered = raw("telnyx_call_hangup.json").replace(b"+35319605860", b"+35319605861")
    assert post_event(client, channel, tampered, token=False, **telnyx_signed(raw("telnyx_call_hangup.json"))).status_code == 401
    process_all()

    dialog = the_dialog()
    assert dialog.call_id == "428c31b6-7af4-4bcb-b7f5-5013ef9657c1"
    assert (dialog.direction, dialog.status) == ("in", "answered")
    assert (dialog.caller_number, dialog.callee_number) == ("+35319605860", "+13129457420")
    assert dialog.started_at == datetime(2018, 2, 2, 22, 20, 27, 521992, tzinfo=UTC)
    assert dialog.ended_at == datetime(2018, 2, 2, 22, 25, 27, 521992, tzinfo=UTC)
    assert dialog.recording_url == "http://example.com/recording.mp3"
    assert dialog.extra["end_cause"] == "call_rejected" and dialog.extra["hangup_source"] == "caller"
    assert dialog.events.count() == 4


# -- Vonage ----------------------------------------------------------------------------------------------

VONAGE_SECRET = "ZYtdTtGV3BCFN7tWmOWr1md66XsquMggr4W2cTtXtcPgfnI0Xw"


def vonage_signed(body):
    claims = {"iat": int(time.time()), "jti": "c5ba8f24-1a14-4c10-bfdf-3fbe8ce511b5", "iss": "Vonage",
              "payload_hash": hashlib.sha256(body).hexdigest(), "api_key": "a1b2c3d",
              "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"}
    return {"Authorization": "Bearer " + jwt.encode(claims, VONAGE_SECRET, algorithm="HS256")}


def test_the_vonage_sdks_published_token_verifies_with_its_secret_only():
    token = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1ODc0OTQ5NjIsImp0aSI6ImM1YmE4ZjI0LTFhMTQtNGMxMC1iZmRmLTNmYmU4Y2U1"
             "MTFiNSIsImlzcyI6IlZvbmFnZSIsInBheWxvYWRfaGFzaCI6ImQ2YzBlNzRiNTg1N2RmMjBlM2I3ZTUxYjMwYzBjMmE0MGVjNzNhNzc4NzliNmYw"
             "NzRkZGM3YTIzMTdkZDAzMWIiLCJhcGlfa2V5IjoiYTFiMmMzZCIsImFwcGxpY2F0aW9uX2lkIjoiYWFhYWFhYWEtYmJiYi1jY2NjLWRkZGQtMDEy"
             "MzQ1Njc4OWFiIn0.JQRKi1d0SQitmjPINfTWMpt3XZkGsLbD7EjCdXoNSbk")
    options = {"verify_iat": False}
    assert jwt.decode(token, VONAGE_SECRET, algorithms=["HS256"], options=options)["iss"] == "Vonage"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "ZYtdTtGV3BCFN7tWmOWr1md66XsquMggr4W2cTtXtcPgf55555", algorithms=["HS256"], options=options)


def test_vonage_events_and_the_record_event_make_one_dialog(client, make_channel):
    channel = make_channel("vonage")
    channel.set_signature_secret(VONAGE_SECRET)
    channel.save()
    for name in ["vonage_ringing.json", "vonage_started.json", "vonage_completed.json", "vonage_answered.json",
                 "vonage_recording.json"]:
        body = raw(name)
        assert post_event(client, channel, body, token=False, **vonage_signed(body)).status_code == 202
    tampered = raw("vonage_completed.json").replace(b'"12"', b'"1200"')
    assert post_event(client, channel, tampered, token=False, **vonage_signed(raw("vonage_completed.json"))).status_code == 401
    process_all()

    dialog = the_dialog()
    assert dialog.call_id == "CON-8f5a100c-fbce-4218-8d4b-16341335bcd6"
    assert (dialog.direction, dialog.status, dialog.duration) == ("in", "answered", 12)
    assert dialog.caller_number == "447700900000", "a drama number is no real number: kept as sent, trimmed"
    assert dialog.callee_number == "+442038297050", "an international number sent without its +"
    assert dialog.started_at == datetime(2021, 3, 29, 21, 20, 6, tzinfo=UTC)
    assert dialog.ended_at == datetime(2021, 3, 29, 21, 20, 18, tzinfo=UTC)
    assert dialog.recording_url == "https://api.nexmo.com/v1/files/aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
    assert dialog.extra["leg_uuid"] == "0779a56d002f1c7f47f82ef5fe84ab79"


# -- Zadarma ---------------------------------------------------------------------------------------------

ZADARMA_SECRET = "zadarma-api-secret-key"
ZADARMA_SIGNED_FIELDS = presets.load("zadarma")["advanced_config"]["authentication"]["signed_content"]["templates"]


def zadarma_signed(body, secret=ZADARMA_SECRET):
    fields = dict(parse_qsl(body.decode()))
    content = ZADARMA_SIGNED_FIELDS[fields["event"]].format(**{**dict.fromkeys(["internal", "destination"], ""), **fields})
    digest = hmac.new(secret.encode(), content.encode(), hashlib.sha1).hexdigest()  # PHP: hash_hmac('sha1', …)
    return {"Signature": base64.b64encode(digest.encode()).decode()}


@pytest.fixture
def zadarma(make_channel):
    channel = make_channel("zadarma")
    channel.advanced_config["timezone"] = "Europe/Kyiv"
    channel.set_signature_secret(ZADARMA_SECRET)
    channel.save()
    return channel


def test_zadarma_notifications_make_an_incoming_and_an_outgoing_dialog(client, zadarma):
    for name in ["zadarma_notify_record.txt", "zadarma_notify_end.txt", "zadarma_notify_start.txt",
                 "zadarma_notify_internal.txt", "zadarma_notify_answer.txt", "zadarma_notify_out_start.txt",
                 "zadarma_notify_out_end.txt"]:
        body = raw(name)
        assert post_event(client, zadarma, body, FORM, token=False, **zadarma_signed(body)).status_code == 202
    wrong_key = raw("zadarma_notify_end.txt")
    assert post_event(client, zadarma, wrong_key, FORM, token=False, **zadarma_signed(wrong_key, "other")).status_code == 401
    process_all()

    incoming = the_dialog(call_id="in_7c1f0a5e3b9d4c2a8e6f1b0d9a7c5e3f")
    assert (incoming.direction, incoming.status, incoming.duration) == ("in", "answered", 95)
    assert incoming.caller_number == "441632960123", "a drama number is no real number: kept as sent"
    assert incoming.callee_number == "+442079460000"
    assert incoming.started_at == datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Kyiv")), "local time in the channel's zone"
    assert incoming.extra["extension"] == "100" and incoming.extra["recording_id"] == "1795514400.4271035"
    assert incoming.events.count() == 5, "the late NOTIFY_RECORD joins the call"

    outgoing = the_dialog(call_id="out_2d4b6f8a0c1e3a5b7d9f1c3e5a7b9d0f")
    assert (outgoing.direction, outgoing.status, outgoing.duration) == ("out", "answered", 42)
    assert (outgoing.caller_number, outgoing.callee_number) == ("+442079460000", "441632960456")
    assert outgoing.started_at == datetime(2026, 11, 24, 11, 30, tzinfo=ZoneInfo("Europe/Kyiv"))


def test_zadarma_url_check_is_answered(client, zadarma):
    answer = client.get(webhook_path(zadarma, False) + "?zd_echo=4f2a9c")
    assert answer.status_code == 200 and answer.content == b"4f2a9c"


# -- Binotel ---------------------------------------------------------------------------------------------

def test_binotel_call_completed_makes_a_dialog_and_gets_the_answer_binotel_expects(client, make_channel, django_user_model):
    operator = django_user_model.objects.create_user("op1", "operator1@example.com", "pw-op1-12345")
    channel = make_channel("binotel")
    body = raw("binotel_call_completed.txt")

    def deliver(payload, address):
        return client.generic("POST", webhook_path(channel), payload, content_type=FORM, REMOTE_ADDR=address)

    answer = deliver(body, "194.88.218.116")
    assert answer.status_code == 200 and answer.json() == {"status": "success"}
    assert deliver(body, "203.0.113.9").status_code == 401, "only from Binotel's addresses"
    assert deliver(b"requestType=apiCallSettings&srcNumber=0441234567", "45.91.130.60").status_code == 200
    process_all()

    dialog = the_dialog()
    assert (dialog.call_id, dialog.direction, dialog.status, dialog.duration) == ("4900000001", "in", "answered", 95)
    assert (dialog.caller_number, dialog.callee_number) == ("+380441234567", "+380447654321")
    assert dialog.operator == operator
    assert dialog.started_at == datetime.fromtimestamp(1795514400, UTC)
    assert dialog.extra["operator_name"] == "Operator One" and dialog.extra["wait_seconds"] == "7"
    assert dialog.extra["record_link"].startswith("https://my.binotel.ua/?module=cdrs")
    assert RawEvent.objects.filter(state=RawEvent.State.IGNORED).count() == 1, "call settings requests are not calls"


# -- sipgate.io --------------------------------------------------------------------------------------------

def test_sipgates_published_signed_body_passes_with_the_presets_key(client, make_channel):
    channel = make_channel("sipgate")
    signature = ("hlY7r9Vad0NP/7xJxf+vcDqjWaGWHOcIrj+rcP5aqQQcHtbSLsElp2kRNRPBL5unWbq6bExVPZB49HHM+Y/fWSVL19q7KSJhYPHfikcME0r0m"
                 "CYB4S/VnJwnIvpiqz6s7Dpnk3wDCy65B3WQLwBVWA9oh6ojNM/g+87YnoMTKRx1KoFqosKNfBp1c1I8XjXusGOW/VlGnMb6wHhUVdwi9K7FfUg"
                 "xj2pnV+M1Xv9rYs6RAi4V1OcUPqdT5geHsxWa09sk+AEHSUm1EFnAvx7PhIkugpNwST7yPKHf0+iyei4qUQCBZtfQVOI4mLZTRfQuyVo3YuJfvHa"
                 "NPYY34/1ZCZGCKeu+HS6WHs1vGUyKxSi8v4JJqog2VOlWruf8pMGg+syuAFwuxiCnWsSXgaaUfe9JrBAFjBxUmNP9DzR1bbkwxkJnthacu7jALXj"
                 "GsubjSSSl955QgenV/ZpODHgWDPg0fe6qGILtk+kXLjyfSsoR/qgzE5W5OAyZq8W64h01KAt9Q283N7/2nogy6keiIWL3qjPolWnrchSP7iJUatM2"
                 "YiTcpkNKnJ70UE05cdw3swuNe7zqD51MdOX3rAioEOFgOIFMSrxMVX+V4XK7sa5o43smN8lHoa+0AogQMuIrC7k2axdRbulSSNfyqVAZIT4qS0cItiv"
                 "3aPXsdDKkkA0=")
    body = raw("sipgate_new_call_signed.txt")

    answer = post_event(client, channel, body, FORM, token=False, **{"X-Sipgate-Signature": signature})
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/xml"
    assert f'onAnswer="http://127.0.0.1:8000{webhook_path(channel, False)}"' in answer.content.decode()
    tampered = body.replace(b"4912354678", b"4912354679")
    assert post_event(client, channel, tampered, FORM, token=False, **{"X-Sipgate-Signature": signature}).status_code == 401


@pytest.fixture
def sipgate_with_our_key(make_channel):
    """sipgate's private key is sipgate's: our own key pair, pasted as the channel's key, signs the samples."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    channel = make_channel("sipgate")
    channel.set_signature_secret(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    channel.save()

    def sign(body):
        signature = private.sign(body, padding.PKCS1v15(), hashes.SHA256())
        return {"X-Sipgate-Signature": base64.b64encode(signature).decode()}

    return channel, sign


def test_sipgate_new_call_answer_and_hangup_make_one_dialog(client, sipgate_with_our_key):
    channel, sign = sipgate_with_our_key
    for name in ["sipgate_new_call.txt", "sipgate_answer.txt", "sipgate_hangup.txt"]:  # no times: sent in order
        body = raw(name)
        assert post_event(client, channel, body, FORM, token=False, **sign(body)).status_code == 200
    assert post_event(client, channel, raw("sipgate_hangup.txt"), FORM).status_code == 401, "unsigned"
    process_all()

    dialog = the_dialog()
    assert (dialog.call_id, dialog.direction, dialog.status) == ("123456", "in", "answered")
    assert (dialog.caller_number, dialog.callee_number) == ("+492111234567", "+4915791234567")
    assert dialog.extra["answering_number"] == "4921199999999"


def test_a_sipgate_transfer_joins_the_original_call(client, sipgate_with_our_key):
    channel, sign = sipgate_with_our_key
    original = raw("sipgate_new_call.txt").replace(b"callId=123456", b"callId=12111955")
    transferred = raw("sipgate_transferred_new_call.txt")
    for body in (original, transferred):
        assert post_event(client, channel, body, FORM, token=False, **sign(body)).status_code == 200
    process_all()

    dialog = the_dialog()
    assert dialog.call_id == "12111955"
    assert dialog.extra["leg_call_id"] == "21102015" and dialog.extra["diversion"] == "492111111111"
