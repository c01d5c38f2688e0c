"""REST of section 10: thin views over notifications.services."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import DetailErrorSerializer
from messaging.selectors.channels import ChannelForbidden
from notifications.selectors import devices_of_user
from notifications.serializers import (
    ChannelSettingsIn,
    ChannelSettingsOut,
    DeviceCreatedOut,
    DeviceIn,
    DeviceOut,
)
from notifications.services.devices import (
    TooManyDevices,
    channel_mute_set,
    device_register,
    device_remove,
)
from notifications.targets import TargetRefused

FIELD_ERRORS = OpenApiResponse(description="Field errors: {field: [messages]}.")
FORBIDDEN = OpenApiResponse(DetailErrorSerializer,
                            description="No such channel, or not a member of it.")
NOT_FOUND = OpenApiResponse(DetailErrorSerializer, description="No such device of mine.")


def _out(device) -> dict:
    return DeviceOut(device).data


class DeviceListApi(APIView):
    @extend_schema(responses={200: DeviceOut(many=True)}, summary="My push registrations")
    def get(self, request):
        return Response([_out(d) for d in devices_of_user(user_id=request.user.pk)])

    @extend_schema(
        request=DeviceIn, responses={201: DeviceCreatedOut, 400: FIELD_ERRORS},
        summary="Register (or replace) the push target of one of my devices",
    )
    def post(self, request):
        data = DeviceIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            device, generated = device_register(user_id=request.user.pk, **{
                "secret": None, **data.validated_data})
        except TargetRefused as exc:
            raise ValidationError({"target": [str(exc)]}) from None
        except TooManyDevices as exc:
            raise ValidationError({"device": [str(exc)]}) from None
        body = _out(device)
        if generated is not None:
            body["secret"] = generated
        return Response(body, status=status.HTTP_201_CREATED)


class DeviceDetailApi(APIView):
    @extend_schema(
        responses={204: None, 404: NOT_FOUND},
        summary="Remove one of my push registrations",
    )
    def delete(self, request, device_id: int):
        if not device_remove(user_id=request.user.pk, device_id=device_id):
            raise NotFound("no such device")
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelSettingsApi(APIView):
    @extend_schema(
        request=ChannelSettingsIn,
        responses={200: ChannelSettingsOut, 400: FIELD_ERRORS, 403: FORBIDDEN},
        summary="Mute or unmute a channel's notifications",
        description="Without `muted`, nothing changes; the answer is the current setting.",
    )
    def patch(self, request, channel: str):
        data = ChannelSettingsIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            muted = channel_mute_set(user_id=request.user.pk, channel=channel,
                                     muted=data.validated_data.get("muted"))
        except ChannelForbidden as exc:
            raise PermissionDenied(str(exc)) from None
        return Response({"channel": channel, "muted": muted})
