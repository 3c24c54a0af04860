"""The operator panel: call history, a dialog's card, feed, recording and transcript."""

import re
from contextlib import ExitStack

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from connective.lib import outbound
from recordings.audio import SIGNATURES, declared_as_audio, sniff
from recordings.models import Recording, Transcript

from .caller import caller_card
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
from .history import history, our_copy, playable, recording_source
from .live import Viewer, board
from .models import Dialog, Topic

RANGE = re.compile(r"^bytes=\d*-\d*$")
PASSED_ON_HEADERS = ("Content-Length", "Content-Range", "Accept-Ranges", "Last-Modified", "ETag")
# A recording is data, never a page: no type guessing, and nothing in it may run or load anything.
AUDIO_ONLY_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}
AUDIO_MEDIA_TYPE = re.compile(r"^audio/[a-z0-9.+-]+$")


@login_required
@require_GET
def dialog_list(request):
    """The call history; a filter whose value cannot be used is ignored, and the page says which."""
    filters = usable(request.GET)
    dialogs = apply_filters(history(request.user), filters, request.user)
    rows, next_cursor = page(dialogs, after=filters.get("after"))
    filters.pop("after", None)
    return render(
        request,
        "panel/list.html",
        {
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
            "board": live_board(request.user),
        },
    )


def live_board(user):
    """The live board as the page starts it: its calls, and the change its stream resumes after."""
    return board(user, Viewer.of(user))


@login_required
@require_GET
def live_board_json(request):
    """The live board for a panel that cannot stream (the fallback poll)."""
    return JsonResponse(live_board(request.user))


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
    """A dialog the user may see, finished or not: the live board links to calls in progress."""
    return get_object_or_404(
        Dialog.objects.visible_to(request.user).select_related("channel__bot", "operator", "topic"), pk=pk
    )


@login_required
@require_GET
def dialog_detail(request, pk):
    dialog = visible_dialog(request, pk)

    transcript = Transcript.objects.filter(dialog=dialog).first()
    return render(
        request,
        "panel/detail.html",
        {
            "dialog": dialog,
            "feed": dialog.feed(),
            "recording_src": recording_source(dialog),
            "turns": [turn for turn in (transcript.segments if transcript else []) if turn.get("speaker")],
            "transcript_meta": transcript,
            "transcription_obstacle": Recording.transcription_obstacle(dialog),
            "caller_card": caller_card(dialog, request.user),
        },
    )


@login_required
@require_GET
def dialog_caller(request, pk):
    """The caller card alone, for the pop-up and the live board: calls in progress too."""
    dialog = get_object_or_404(Dialog.objects.visible_to(request.user), pk=pk)
    return render(request, "panel/caller_card.html", {"card": caller_card(dialog, request.user)})


@login_required
@require_GET
def dialog_recording(request, pk):
    """The recording through our own authenticated URL: proxied from the provider (never from a private
    address unless allowed), with Range passed on so the player can seek; only audio is passed on."""
    dialog = visible_dialog(request, pk)
    if not playable(dialog.recording_url):
        raise Http404("This call has no recording.")
    if recording := our_copy(dialog):
        return audio_only(stored_file_response(request, recording))
    options = dialog.channel.recording_request_options(dialog.recording_url)
    headers = dict(options.pop("headers", {}))
    if RANGE.match(request.headers.get("Range", "")):
        headers["Range"] = request.headers["Range"]
    resources = ExitStack()
    try:
        upstream = resources.enter_context(
            outbound.stream(
                "GET",
                dialog.recording_url,
                allowed_hosts=settings.RECORDINGS_ALLOWED_HOSTS,
                timeout=15,
                headers=headers,
                **options,
            )
        )
    except outbound.OutboundError as exc:
        return not_loaded(f"{exc}")
    if upstream.status_code not in (200, 206):
        resources.close()
        return not_loaded(f"its host answered HTTP {upstream.status_code}.")
    chunks = upstream.iter_content(64 * 1024)
    try:
        head = first_bytes(chunks)
        content_type = audio_type(upstream, b"".join(head))
    except Exception:
        resources.close()
        raise
    if content_type is None:
        resources.close()
        declared = upstream.headers.get("Content-Type", "").split(";")[0].strip()[:60] or "a file"
        return not_loaded(f"its host sent {declared} that is not audio.")

    def body():
        with resources:
            yield from head
            yield from chunks

    response = StreamingHttpResponse(body(), status=upstream.status_code, content_type=content_type)
    for name in PASSED_ON_HEADERS:
        if name in upstream.headers:
            response[name] = upstream.headers[name]
    response.setdefault("Accept-Ranges", "bytes")
    response["Cache-Control"] = "private, max-age=300"
    return audio_only(response)


def first_bytes(chunks, wanted=16):
    """The first chunks of a stream, enough of them to hold `wanted` bytes (or all there are)."""
    head, size = [], 0
    for chunk in chunks:
        head.append(chunk)
        size += len(chunk)
        if size >= wanted:
            break
    return head


def audio_type(upstream, head):
    """The type to serve the host's answer as, or None when it is not audio: told by its first bytes when
    the answer starts the file; a later part of the file must at least be declared as audio."""
    declared = upstream.headers.get("Content-Type", "")
    if not declared_as_audio(declared):
        return None
    if upstream.status_code == 200 or upstream.headers.get("Content-Range", "").startswith("bytes 0-"):
        return sniff(head)
    media_type = declared.split(";")[0].strip().lower()
    return media_type if AUDIO_MEDIA_TYPE.match(media_type) else "application/octet-stream"


def not_loaded(reason):
    return audio_only(
        HttpResponse(f"The recording could not be loaded: {reason}", status=502, content_type="text/plain")
    )


def audio_only(response):
    for name, value in AUDIO_ONLY_HEADERS.items():
        response[name] = value
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

    content_type = recording.content_type if recording.content_type in SIGNATURES else "application/octet-stream"
    response = StreamingHttpResponse(
        body(), status=206 if match and (match.group(1) or match.group(2)) else 200, content_type=content_type
    )
    response["Content-Length"] = str(last - first + 1)
    response["Accept-Ranges"] = "bytes"
    if response.status_code == 206:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Cache-Control"] = "private, max-age=300"
    return response
