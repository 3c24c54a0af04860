"""The dialogs API: the operator panel's data, with the same filters and permissions."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .filters import apply_filters, filter_problems, page, visible_channels
from .history import history, recording_source
from .models import Dialog, FeedMessage, Topic


class TopicSerializer(serializers.ModelSerializer):
    class Meta:
        model = Topic
        fields = ["id", "alias", "name"]


class ChannelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    bot = serializers.CharField(source="bot.name")
    is_active = serializers.BooleanField()
    default_country_code = serializers.CharField()


class DialogSerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.name")
    bot = serializers.CharField(source="channel.bot.name")
    operator = serializers.SerializerMethodField()
    topic = serializers.SlugRelatedField(slug_field="alias", read_only=True)
    customer_number = serializers.CharField(read_only=True)
    has_recording = serializers.BooleanField(read_only=True)
    has_transcript = serializers.SerializerMethodField()

    class Meta:
        model = Dialog
        fields = [
            "id",
            "call_id",
            "channel",
            "bot",
            "direction",
            "status",
            "caller_number",
            "callee_number",
            "customer_number",
            "duration",
            "started_at",
            "answered_at",
            "ended_at",
            "operator",
            "topic",
            "is_test",
            "has_recording",
            "has_transcript",
        ]

    def get_operator(self, dialog) -> str | None:
        return dialog.operator.email if dialog.operator else None

    def get_has_transcript(self, dialog) -> bool:
        transcribed = getattr(dialog, "transcribed", None)  # annotated on the history's rows
        return bool(dialog.transcript) if transcribed is None else transcribed


class FeedEntrySerializer(serializers.Serializer):
    time = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=["event", "service"])
    text = serializers.CharField()


class DialogDetailSerializer(DialogSerializer):
    recording = serializers.SerializerMethodField()
    transcript = serializers.CharField()
    extra = serializers.JSONField()
    feed = serializers.SerializerMethodField()

    class Meta(DialogSerializer.Meta):
        fields = DialogSerializer.Meta.fields + ["recording", "transcript", "extra", "feed"]

    def get_recording(self, dialog) -> str | None:
        return recording_source(dialog) or None

    def get_feed(self, dialog) -> list[dict]:
        entries = [
            {"time": moment, "kind": kind, "text": entry.text if isinstance(entry, FeedMessage) else entry.summary()}
            for moment, kind, entry in dialog.feed()
        ]
        return FeedEntrySerializer(entries, many=True).data


FILTER_PARAMETERS = [
    OpenApiParameter(name, description=description, required=False, type=str)
    for name, description in [
        ("bot", "bot id"),
        ("channel", "channel id"),
        ("direction", "in or out"),
        ("status", "a canonical status"),
        ("operator", "a user id, 'me' or 'none'"),
        ("topic", "topic alias"),
        ("from", "first day, YYYY-MM-DD"),
        ("to", "last day, YYYY-MM-DD"),
        ("recording", "1: with a recording, 0: without"),
        ("test", "1: include test dialogs"),
        ("q", "a phone number, whole or partial digits"),
        ("after", "the cursor of the previous page's `next`"),
    ]
]


class DialogList(APIView):
    @extend_schema(
        parameters=FILTER_PARAMETERS,
        responses={
            200: DialogSerializer(many=True),
            400: OpenApiResponse(
                description="{parameter: [why its value cannot be used]}, e.g. a date that does not exist"
            ),
        },
    )
    def get(self, request):
        """The call history, newest first, in pages of 50: follow `next` (a cursor) for the next page."""
        if problems := filter_problems(request.query_params):
            raise serializers.ValidationError(problems)
        dialogs = apply_filters(history(request.user), request.query_params, request.user)
        rows, next_cursor = page(dialogs, after=request.query_params.get("after"))
        return Response({"results": DialogSerializer(rows, many=True).data, "next": next_cursor})


class DialogDetail(generics.RetrieveAPIView):
    serializer_class = DialogDetailSerializer

    def get_queryset(self):
        return (
            Dialog.objects.visible_to(self.request.user).in_panel().select_related("channel__bot", "operator", "topic")
        )


class TopicList(generics.ListAPIView):
    serializer_class = TopicSerializer
    queryset = Topic.objects.all()


class ChannelList(generics.ListAPIView):
    """The telephony channels of the bots the user works with (read-only)."""

    serializer_class = ChannelSerializer

    def get_queryset(self):
        return visible_channels(self.request.user)
