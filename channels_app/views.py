from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from . import authentication, guard
from .models import RawEvent, TelephonyChannel
from .parsing import Body

SECRET_HEADERS = {"authorization", "cookie", "x-webhook-token", "proxy-authorization"}
MAX_KEPT_HEADERS = 50


MAX_ECHO_LENGTH = 200


@csrf_exempt
@require_http_methods(["GET", "POST"])
def telephony_webhook(request, webhook_id):
    """Authenticate, store, answer. Everything else happens in the worker."""
    if request.method == "GET":
        return url_check(request, webhook_id)
    try:
        return accept_delivery(request, webhook_id)
    except DatabaseError:
        # Our own trouble: a 5xx makes the provider retry later instead of dropping the call.
        response = error(503, "temporarily unable to store the event; retry later")
        response["Retry-After"] = "30"
        return response


def accept_delivery(request, webhook_id):
    address = authentication.client_address(request)
    # A channel this process knows works for every address (a provider's traffic asks no limiter); for
    # another id, an address that keeps failing is refused without a query.
    channel, blocked = guard.channels.cached(webhook_id), None
    if channel is None:
        blocked = guard.failed_auth_blocked(address)
        channel = None if blocked else guard.channels.get(webhook_id, load_channel)
    if channel is None:
        return refuse(blocked, address, error(404, "unknown webhook"))
    body = read_body(request)
    if isinstance(body, HttpResponse):
        return body
    parsed_body = Body(body, request.META.get("CONTENT_TYPE", ""), channel.data_format)  # parsed once, if at all
    if reason := authentication.refusal(channel, request, body, parsed_body):
        return refuse(blocked, address, error(401, reason))
    if guard.channel_over_rate(channel):
        return throttled("this channel is sending faster than its configured ceiling", retry_after=1)
    is_test = authentication.is_our_test_delivery(channel, request, body)  # signed by this server: no one else can
    event = RawEvent.receive(
        channel,
        body,
        content_type=request.META.get("CONTENT_TYPE", ""),
        headers=kept_headers(request),
        remote_addr=address,
        is_test=is_test,
        parsed_body=parsed_body,
    )
    if event.is_rejected:
        status = 400 if channel.is_active else 403
        return JsonResponse({"error": event.error, "event_id": event.pk}, status=status)
    acknowledgement = channel.mapping.acknowledgement
    if acknowledgement and not is_test:  # the Test button needs the event id
        return provider_acknowledgement(acknowledgement, request)
    return JsonResponse({"status": "accepted", "event_id": event.pk}, status=202)


def read_body(request):
    """The body, or the answer when it cannot be read: over the size limit, or of unknown length."""
    declared_length = request.META.get("CONTENT_LENGTH") or ""
    if not declared_length and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        return chunked_body(request)
    if not (declared_length or "0").isdigit() or int(declared_length or "0") > settings.WEBHOOK_MAX_BODY_BYTES:
        return too_large()
    try:
        return request.body
    except RequestDataTooBig:
        return too_large()


def chunked_body(request):
    """A chunked body: read to its end where the server has decoded it (gunicorn and others say so with
    wsgi.input_terminated); elsewhere its length is unknowable, and 411 tells the sender to give one
    rather than losing the event as an empty body."""
    if not request.META.get("wsgi.input_terminated"):
        return error(411, "send the body with a Content-Length header (chunked bodies are not read here)")
    body = request.META["wsgi.input"].read(settings.WEBHOOK_MAX_BODY_BYTES + 1)
    return too_large() if len(body) > settings.WEBHOOK_MAX_BODY_BYTES else body


def provider_acknowledgement(acknowledgement, request):
    """The answer a provider expects (Binotel's {"status":"success"}; sipgate's XML that subscribes to the
    rest of the call's events at the URL it just called)."""
    content_type = acknowledgement.get("content_type", "application/json")
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    if "xml" in content_type or "html" in content_type:
        url = escape(url)
    body = acknowledgement["body"].replace("{webhook_url}", url)
    return HttpResponse(body, status=acknowledgement.get("status", 200), content_type=content_type)


def url_check(request, webhook_id):
    """Some providers check a URL before they send to it (Zadarma: GET ?zd_echo=X must answer X). Only a
    channel whose config names the parameter answers; nothing is stored."""
    channel = guard.channels.get(webhook_id, load_channel)
    parameter = channel and channel.mapping.authentication.get("echo_parameter")
    value = request.GET.get(parameter, "") if parameter else ""
    if not value:
        response = error(405, "send events with POST")
        response["Allow"] = "POST"
        return response
    return HttpResponse(value[:MAX_ECHO_LENGTH], content_type="text/plain; charset=utf-8")


def load_channel(webhook_id):
    return TelephonyChannel.objects.filter(webhook_id=webhook_id).select_related(None).order_by().first()


def refuse(blocked, address, response):
    """A failed authentication: counted against the address, or throttled once it has failed too often
    (`blocked`: whether it has, None when not asked yet)."""
    if blocked is None:
        blocked = guard.failed_auth_blocked(address)
    if blocked:
        return throttled("too many failed attempts from this address; try again in a minute", retry_after=60)
    guard.record_failed_auth(address)
    return response


def kept_headers(request):
    """The request's headers for the event log, without credentials."""
    kept = {}
    for name, value in request.headers.items():
        if name.lower() not in SECRET_HEADERS and len(kept) < MAX_KEPT_HEADERS:
            kept[name[:200].replace("\x00", "")] = value[:1000].replace("\x00", "")  # jsonb refuses NUL
    return kept


def throttled(message, retry_after):
    response = error(429, message)
    response["Retry-After"] = str(retry_after)
    return response


def too_large():
    return error(413, f"body larger than {settings.WEBHOOK_MAX_BODY_BYTES} bytes")


def error(status, message):
    return JsonResponse({"error": message}, status=status)
