"""History, channel list and health over REST: thin views."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import DetailErrorSerializer
from messaging.selectors.channels import ChannelForbidden, channel_list, channel_messages

MAX_PAGE = 500
BIGINT = 2**63 - 1

UNAUTHENTICATED = OpenApiResponse(
    DetailErrorSerializer, description="Missing, expired or revoked token."
)
FIELD_ERRORS = OpenApiResponse(description="Field errors: {field: [messages]}.")


class HistoryQuery(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, max_value=BIGINT, required=False)
    before = serializers.IntegerField(min_value=1, max_value=BIGINT, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=100)


class MessageOut(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.CharField()
    channel = serializers.CharField()
    seq = serializers.IntegerField()
    ts = serializers.IntegerField()
    body = serializers.DictField()
    to = serializers.IntegerField(required=False, help_text="private messages")
    group = serializers.IntegerField(required=False, help_text="group messages")
    target = serializers.IntegerField(required=False, help_text="edit and recall: the seq")
    edited = serializers.IntegerField(required=False, help_text="ts of the last edit")
    recalled = serializers.IntegerField(required=False, help_text="ts of the recall")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.IntegerField()
        return fields


FIRST_SEQ_HELP = ("the lowest seq still stored: seqs below it were removed by the retention "
                  "policy (IM_RETENTION_DAYS), gone rather than missing; present only when "
                  "above 1")


class HistoryOut(serializers.Serializer):
    channel = serializers.CharField()
    messages = MessageOut(many=True)
    last_seq = serializers.IntegerField()
    first_seq = serializers.IntegerField(required=False, help_text=FIRST_SEQ_HELP)


class ChannelOut(serializers.Serializer):
    channel = serializers.CharField()
    kind = serializers.ChoiceField(choices=["private", "group"])
    peer = serializers.IntegerField(required=False)
    group = serializers.IntegerField(required=False)
    last_seq = serializers.IntegerField()
    first_seq = serializers.IntegerField(required=False, help_text=FIRST_SEQ_HELP)
    read_seq = serializers.IntegerField(help_text="my read position, 0 if never read")
    unread = serializers.IntegerField(
        help_text="messages after read_seq sent by others (edits and recalls left out, and "
                  "messages removed by retention)"
    )


class ChannelListApi(APIView):
    @extend_schema(
        responses={200: ChannelOut(many=True), 401: UNAUTHENTICATED}, summary="My channels"
    )
    def get(self, request):
        return Response(channel_list(user_id=request.user.pk))


class ChannelMessagesApi(APIView):
    @extend_schema(
        parameters=[HistoryQuery],
        responses={
            200: HistoryOut,
            400: FIELD_ERRORS,
            401: UNAUTHENTICATED,
            403: OpenApiResponse(
                DetailErrorSerializer, description="No such channel, or not a member of it."
            ),
        },
        summary="History of one channel, ascending by seq",
        description="`after` is exclusive; with only `before`, the newest `limit` below it.",
    )
    def get(self, request, channel: str):
        query = HistoryQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            page = channel_messages(
                user_id=request.user.pk, channel=channel, **query.validated_data
            )
        except ChannelForbidden as exc:
            raise PermissionDenied(str(exc)) from None
        answer = {
            "channel": page.channel,
            "messages": [m.to_frame() for m in page.messages],
            "last_seq": page.last_seq,
        }
        if page.first_seq > 1:
            answer["first_seq"] = page.first_seq
        return Response(answer)


class HealthApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT},
        summary="200 when the server can serve",
    )
    def get(self, request):
        checks = {"database": check_database()}
        if settings.IM_REDIS_URL:
            checks["redis"] = check_redis()
        healthy = all(checks.values())
        return Response(
            {"status": "ok" if healthy else "unavailable", "checks": checks},
            status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE,
        )


def check_database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def check_redis() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(settings.IM_REDIS_URL, socket_timeout=2).ping())
    except Exception:
        return False

