"""Presence and gateway over REST: what the live connections know, thin views."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging.apis.channels import (
    BIGINT,
    FIELD_ERRORS,
    UNAUTHENTICATED,
    check_database,
    check_redis,
)
from messaging.selectors.presence import presence_visible_to
from realtime import runtime
from realtime.cluster.status import cluster_status

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
        answer = runtime.locator().presence(sorted(visible))
        return Response({
            str(uid): {"online": online, "last_seen": seen}
            for uid, (online, seen) in answer.items()
        })


NO_NODE = OpenApiResponse(description="No node is active; retry after `Retry-After` seconds.")


class GatewayApi(APIView):
    @extend_schema(
        responses={
            200: inline_serializer("Gateway", {
                "node": serializers.CharField(),
                "ws": serializers.CharField(allow_null=True),
                "tcp": serializers.CharField(allow_null=True),
                "ring": serializers.IntegerField(),
            }),
            401: UNAUTHENTICATED,
            503: NO_NODE,
        },
        summary="Where this user should connect",
        description="`ring(user id)`: the same answer from every node of the cluster.",
    )
    def get(self, request):
        node = runtime.running_node()
        answer = node.member.placement(request.user.pk) if node is not None else None
        if answer is None:
            retry = node.config.node_heartbeat_s if node is not None else 1
            return Response({"detail": "no node is active; retry later"},
                            status=status.HTTP_503_SERVICE_UNAVAILABLE,
                            headers={"Retry-After": str(retry)})
        return Response(answer)


class ClusterApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        responses={
            200: inline_serializer("Cluster", {
                "ring": serializers.IntegerField(),
                "vnodes": serializers.IntegerField(),
                "nodes": inline_serializer("ClusterNode", {
                    "node": serializers.CharField(),
                    "ws": serializers.CharField(allow_null=True),
                    "tcp": serializers.CharField(allow_null=True),
                    "state": serializers.ChoiceField(["active", "draining"]),
                    "connections": serializers.IntegerField(),
                    "since": serializers.IntegerField(),
                }, many=True),
            }),
            401: UNAUTHENTICATED,
            403: OpenApiResponse(description="Staff only."),
        },
        summary="The cluster's nodes and ring (staff only)",
    )
    def get(self, request):
        return Response(cluster_status(runtime.registry()))


class ReadyApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT},
        summary="200 when this node should take traffic",
        description="The database and Redis reachable, this node in the ring and not "
                    "draining. `ring` is the ring version this node serves, `nodes` its size.",
    )
    def get(self, request):
        node = runtime.running_node()
        ring = node.member.ring if node is not None else None
        checks = {
            "node": node is not None and not node.draining and node.node_id in ring.members,
            "database": check_database(),
        }
        if settings.IM_REDIS_URL:
            checks["redis"] = check_redis()
        ready = all(checks.values())
        return Response(
            {"ready": ready, "checks": checks, "node": node.node_id if node else None,
             "ring": ring.version if ring else None, "nodes": len(ring.members) if ring else 0},
            status=status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE,
        )
