"""The operator panel: call history, a dialog's card, feed, recording and transcript."""

import re
from contextlib import ExitStack

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from connective import outbound

from .calls import CANONICAL_STATUSES
from .filters import (
    apply_filters,
    cursor_of,
    filter_problems,
    newer_than,
    page,
    usable,
    visible_channels,
)
from .models import Dialog, Topic

RANGE = re.compile(r"^bytes=\d*-\d*$")
PASSED_ON_HEADERS = ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "Last-Modified", "ETag")


# What a history row shows (the panel's and the API's): loading no more keeps a page of 50 cheap.
HISTORY_COLUMNS = (
    "call_id", "direction", "status", "caller_number", "callee_number", "duration", "started_at", "answered_at",
    "ended_at", "recording_url", "is_test", "channel__name", "channel__bot__name", "operator__email", "topic__alias",
    "topic__name",
)


def history(user):
    return (
        Dialog.objects.visible_to(user).in_panel()
        .select_related("channel__bot", "operator", "topic")
        .only(*HISTORY_COLUMNS)
        .annotate(transcribed=ExpressionWrapper(~Q(transcript=""), output_field=BooleanField()))
    )


@login_required
@require_GET
def dialog_list(request):
    """The call history; a filter whose value cannot be used is ignored, and the page says which."""
    filters = usable(request.GET)
    dialogs = apply_filters(history(request.user), filters, request.user)
    rows, next_cursor = page(dialogs, after=filters.get("after"))
    filters.pop("after", None)
    return render(request, "panel/list.html", {
        "rows": rows,
        "first_cursor": cursor_of(rows[0]) if rows else "",
        "next_cursor": next_cursor,
        "filter_problems": filter_problems(request.GET).values(),
        "filters": filters,
        "filter_query": filters.urlencode(),
        "channels": visible_channels(request.user),
        "topics": Topic.objects.all(),
        "statuses": CANONICAL_STATUSES,
        "paged": bool(request.GET.get("after")),
        "poll_ms": int(settings.PANEL_POLL_SECONDS * 1000),
    })


@login_required
@require_GET
def new_rows(request):
    """Rows newer than the history's first row, for the list to prepend without a reload."""
    filters = usable(request.GET)
    rows = newer_than(apply_filters(history(request.user), filters, request.user), filters.get("newer_than"))
    response = render(request, "panel/rows.html", {"rows": rows})
    response["X-First-Cursor"] = cursor_of(rows[0]) if rows else ""
    return response


def visible_dialog(request, pk):
    return get_object_or_404(Dialog.objects.visible_to(request.user).in_panel().select_related("channel__bot", "operator", "topic"), pk=pk)


@login_required
@require_GET
def dialog_detail(request, pk):
    dialog = visible_dialog(request, pk)
    from recordings.models import Transcript

    transcript = Transcript.objects.filter(dialog=dialog).first()
    return render(request, "panel/detail.html", {
        "dialog": dialog,
        "feed": dialog.feed(),
        "recording_src": recording_source(dialog),
        "turns": [turn for turn in (transcript.segments if transcript else []) if turn.get("speaker")],
        "transcript_meta": transcript,
    })


def recording_source(dialog):
    if not dialog.recording_url:
        return ""
    if dialog.channel.mapping.recordings.get("playback") == "direct" and not our_copy(dialog):
        return dialog.recording_url
    return f"/panel/dialogs/{dialog.pk}/recording/"


def our_copy(dialog):
    """The downloaded file of the dialog's recording, or None."""
    from recordings.models import Recording

    recording = Recording.objects.filter(dialog=dialog, state=Recording.State.READY).first()
    return recording if recording and recording.file else None


@login_required
@require_GET
def dialog_recording(request, pk):
    """The recording through our own authenticated URL: proxied from the provider (never from a private
    address unless allowed), with Range passed on so the player can seek."""
    dialog = visible_dialog(request, pk)
    if not dialog.recording_url:
        raise Http404("This call has no recording.")
    if recording := our_copy(dialog):
        return stored_file_response(request, recording)
    options = dialog.channel.recording_request_options()
    headers = dict(options.pop("headers", {}))
    if RANGE.match(request.headers.get("Range", "")):
        headers["Range"] = request.headers["Range"]
    resources = ExitStack()
    try:
        upstream = resources.enter_context(outbound.stream(
            "GET", dialog.recording_url, allowed_hosts=settings.RECORDINGS_ALLOWED_HOSTS, timeout=15, headers=headers,
            **options))
    except outbound.OutboundError as exc:
        return HttpResponse(f"The recording could not be loaded: {exc}", status=502, content_type="text/plain")
    if upstream.status_code not in (200, 206):
        resources.close()
        return HttpResponse(f"The recording could not be loaded: its host answered HTTP {upstream.status_code}.",
                            status=502, content_type="text/plain")

    def body():
        with resources:
            yield from upstream.iter_content(64 * 1024)

    response = StreamingHttpResponse(body(), status=upstream.status_code)
    for name in PASSED_ON_HEADERS:
        if name in upstream.headers:
            response[name] = upstream.headers[name]
    response.setdefault("Accept-Ranges", "bytes")
    response["Cache-Control"] = "private, max-age=300"
    return response


def stored_file_response(request, recording):
    """Our copy from storage, with Range support so the player can seek."""
    size = recording.file.size
    first, last = 0, size - 1
    match = re.match(r"^bytes=(\d*)-(\d*)$", request.headers.get("Range", ""))
    if match and (match.group(1) or match.group(2)):
        if match.group(1):
            first, last = int(match.group(1)), int(match.group(2) or size - 1)
        else:
            first = max(size - int(match.group(2)), 0)
        last = min(last, size - 1)
        if first > last:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
    stored = recording.file.open("rb")
    stored.seek(first)

    def body(remaining=last - first + 1):
        with stored:
            while remaining > 0:
                chunk = stored.read(min(64 * 1024, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

    response = StreamingHttpResponse(body(), status=206 if match and (match.group(1) or match.group(2)) else 200,
                                     content_type=recording.content_type or "application/octet-stream")
    response["Content-Length"] = str(last - first + 1)
    response["Accept-Ranges"] = "bytes"
    if response.status_code == 206:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Cache-Control"] = "private, max-age=300"
    return response
