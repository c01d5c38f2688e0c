"""POST /api/reports/: a member reports a message to the moderators. Thin view."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import DetailErrorSerializer
from messaging.apis.channels import BIGINT, FIELD_ERRORS, UNAUTHENTICATED
from messaging.selectors.channels import ChannelForbidden, channel_check_access
from messaging.services.moderation import ModerationRefused, report_create


class ReportIn(serializers.Serializer):
    channel = serializers.CharField(max_length=64)
    seq = serializers.IntegerField(min_value=1, max_value=BIGINT)
    reason = serializers.CharField(max_length=1000)


class ReportOut(serializers.Serializer):
    id = serializers.IntegerField()
    channel = serializers.CharField()
    seq = serializers.IntegerField()
    reason = serializers.CharField()
    state = serializers.CharField()
    created = serializers.DateTimeField(source="created_at")


class ReportApi(APIView):
    @extend_schema(
        request=ReportIn,
        responses={
            201: ReportOut,
            400: FIELD_ERRORS,
            401: UNAUTHENTICATED,
            403: OpenApiResponse(DetailErrorSerializer, description="Not a member of it."),
            404: OpenApiResponse(DetailErrorSerializer, description="No such message."),
        },
        summary="Report a message to the moderators (once per message; again: the same)",
    )
    def post(self, request):
        data = ReportIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        try:
            channel_check_access(user_id=request.user.pk, channel=fields["channel"])
            report = report_create(reporter_id=request.user.pk, **fields)
        except ChannelForbidden as exc:
            raise PermissionDenied(str(exc)) from None
        except ModerationRefused as exc:
            raise NotFound(str(exc)) from None
        return Response(ReportOut(report).data, status=status.HTTP_201_CREATED)
