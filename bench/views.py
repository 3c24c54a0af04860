"""Reference views the benchmark compares the webhook with, served by the same server and database."""

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def bare(request):
    """The framework's floor: read the body, answer."""
    request.body  # noqa: B018 (reading the body is the work measured)
    return JsonResponse({"status": "accepted"}, status=202)


@csrf_exempt
def one_insert(request):
    """The floor of any durable ingest: one INSERT of the raw body."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_raw (body, received_at) VALUES (%s, now()) RETURNING id", [request.body])
        event_id = cursor.fetchone()[0]
    return JsonResponse({"status": "accepted", "event_id": event_id}, status=202)
