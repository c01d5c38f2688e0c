"""Presence and gateway over REST: what the live connections know, thin views."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging.apis.channels import BIGINT, FIELD_ERRORS, UNAUTHENTICATED
from messaging.selectors.presence import presence_visible_to
from realtime.gateway import gateway_for
from realtime.locator import get_locator

MAX_PRESENCE_USERS = 200
# Up to 200 decimal ids, comma-separated: what the schema promises and the server takes.
PRESENCE_USERS_PATTERN = rf"^[1-9][0-9]{{0,18}}(,[1-9][0-9]{{0,18}}){{0,{MAX_PRESENCE_USERS - 1}}}$"


class PresenceQuery(serializers.Serializer):
    # No max_length: the pattern bounds the length (200 ids of at most 19 digits).
    users = serializers.RegexField(
        PRESENCE_USERS_PATTERN,
        trim_whitespace=False,
        error_messages={"invalid": f"1 to {MAX_PRESENCE_USERS} comma-separated user ids"},
        help_text=f"1 to {MAX_PRESENCE_USERS} comma-separated user ids.",
    )

    def validate_users(self, value: str) -> list[int]:
        # An id no database key can hold is no one's: left out, like any unknown id.
        return [uid for uid in map(int, value.split(",")) if uid <= BIGINT]


PRESENCE_ANSWER = OpenApiResponse(
    {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "properties": {
                "online": {"type": "boolean"},
                "last_seen": {"type": "integer", "nullable": True, "description": "ms"},
            },
            "required": ["online", "last_seen"],
        },
    },
    description='`{"<user id>": {"online": bool, "last_seen": ms or null}}`.',
)


class PresenceApi(APIView):
    @extend_schema(
        parameters=[PresenceQuery],
        responses={
            200: PRESENCE_ANSWER,
            400: FIELD_ERRORS,
            401: UNAUTHENTICATED,
        },
        summary="Who is online, among the people I share a channel with",
        description=(
            '`{"<id>": {"online": bool, "last_seen": ms or null}}`. Users who share no '
            "channel with the caller (themself, a private channel that has a message, "
            "or a group both are in) are left out of the answer, as are unknown ids and "
            "users who blocked the caller."
        ),
    )
    def get(self, request):
        query = PresenceQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        visible = presence_visible_to(
            user_id=request.user.pk, candidate_ids=query.validated_data["users"]
        )
        answer = get_locator().presence(sorted(visible))
        return Response({
            str(uid): {"online": online, "last_seen": seen}
            for uid, (online, seen) in answer.items()
        })


class GatewayApi(APIView):
    @extend_schema(
        responses={
            200: inline_serializer("Gateway", {
                "node": serializers.CharField(),
                "ws": serializers.CharField(allow_null=True),
                "tcp": serializers.CharField(allow_null=True),
            }),
            401: UNAUTHENTICATED,
        },
        summary="Where this user should connect",
    )
    def get(self, request):
        return Response(gateway_for())
