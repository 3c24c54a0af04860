"""sipgate.io: every sample through the real endpoint, with the preset's own
authentication on, and the dialog checked field by field."""

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.conftest import FORM, post_event, process_all, raw, the_dialog, webhook_path

pytestmark = pytest.mark.django_db


def test_sipgates_published_signed_body_passes_with_the_presets_key(client, make_channel):
    channel = make_channel("sipgate")
    signature = (
        "hlY7r9Vad0NP/7xJxf+vcDqjWaGWHOcIrj+rcP5aqQQcHtbSLsElp2kRNRPBL5unWbq6bExVPZB49HHM+Y/fWSVL19q7KSJhYPHfikcME0r0m"
        "CYB4S/VnJwnIvpiqz6s7Dpnk3wDCy65B3WQLwBVWA9oh6ojNM/g+87YnoMTKRx1KoFqosKNfBp1c1I8XjXusGOW/VlGnMb6wHhUVdwi9K7FfUg"
        "xj2pnV+M1Xv9rYs6RAi4V1OcUPqdT5geHsxWa09sk+AEHSUm1EFnAvx7PhIkugpNwST7yPKHf0+iyei4qUQCBZtfQVOI4mLZTRfQuyVo3YuJfvHa"
        "NPYY34/1ZCZGCKeu+HS6WHs1vGUyKxSi8v4JJqog2VOlWruf8pMGg+syuAFwuxiCnWsSXgaaUfe9JrBAFjBxUmNP9DzR1bbkwxkJnthacu7jALXj"
        "GsubjSSSl955QgenV/ZpODHgWDPg0fe6qGILtk+kXLjyfSsoR/qgzE5W5OAyZq8W64h01KAt9Q283N7/2nogy6keiIWL3qjPolWnrchSP7iJUatM2"
        "YiTcpkNKnJ70UE05cdw3swuNe7zqD51MdOX3rAioEOFgOIFMSrxMVX+V4XK7sa5o43smN8lHoa+0AogQMuIrC7k2axdRbulSSNfyqVAZIT4qS0cItiv"
        "3aPXsdDKkkA0="
    )
    body = raw("sipgate_new_call_signed.txt")

    answer = post_event(client, channel, body, FORM, token=False, **{"X-Sipgate-Signature": signature})
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/xml"
    assert f'onAnswer="http://127.0.0.1:8000{webhook_path(channel, False)}"' in answer.content.decode()
    tampered = body.replace(b"4912354678", b"4912354679")
    assert (
        post_event(client, channel, tampered, FORM, token=False, **{"X-Sipgate-Signature": signature}).status_code
        == 401
    )


@pytest.fixture
def sipgate_with_our_key(make_channel):
    """sipgate's private key is sipgate's: our own key pair, pasted as the channel's key, signs the samples."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    channel = make_channel("sipgate")
    channel.set_signature_secret(
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
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
