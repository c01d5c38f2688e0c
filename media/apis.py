"""REST endpoints of media: upload, download, signed link. Thin: parse, call, answer."""

from __future__ import annotations

import logging

from django.core.exceptions import SuspiciousOperation
from django.core.files.storage import default_storage
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import (
    APIException,
    NotAuthenticated,
    NotFound,
    ParseError,
    PermissionDenied,
    ValidationError,
)
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import DetailErrorSerializer
from accounts.tokens import TokenAuthentication
from media import links, selectors, services
from media.responses import media_response
from media.serializers import MediaLinkSerializer, MediaSerializer, MediaUploadSerializer
from media.throttles import UploadRateThrottle

log = logging.getLogger(__name__)

AUTHENTICATION = [TokenAuthentication]
MEDIA_ID_PARAMETER = OpenApiParameter(
    "media_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="Id from POST /api/media/."
)
UNAUTHENTICATED = OpenApiResponse(
    DetailErrorSerializer, description="Missing, expired or revoked token."
)
NOT_FOUND = OpenApiResponse(
    DetailErrorSerializer,
    description="No such file, or not one you may fetch (the two are not told apart).",
)


# How long a client told "busy" waits before it tries again.
DECODE_BUSY_RETRY_S = 5


class DecodersBusy(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The server is busy reading other uploads; try again shortly."
    default_code = "busy"
    wait = DECODE_BUSY_RETRY_S  # DRF's handler turns it into Retry-After


class UploadQuotaFull(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "quota_exceeded"


class IgnoreAcceptHeader(BaseContentNegotiation):
    """A download answers the file whatever Accept says (an <img> asks for image/*);
    errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class MediaUploadApi(APIView):
    authentication_classes = AUTHENTICATION
    parser_classes = [MultiPartParser]
    throttle_classes = [UploadRateThrottle]

    @extend_schema(
        operation_id="media_upload",
        summary="Upload a file (image, video, audio or any file)",
        description=(
            "Multipart field `file`. The MIME type and `kind` are read from the bytes; "
            "images must decode (width/height are returned), audio and video carry "
            "`duration` in seconds where it can be read. Send the `id` in an "
            "image/video/audio/file message body, or as `avatar` in PATCH /api/users/me/."
        ),
        request={"multipart/form-data": MediaUploadSerializer},
        responses={
            201: MediaSerializer,
            400: OpenApiResponse(description="Field errors: no file, empty, bad image."),
            401: UNAUTHENTICATED,
            413: OpenApiResponse(
                DetailErrorSerializer,
                description="Over IM_MAX_UPLOAD_BYTES, or storing it would pass the user's "
                            "IM_UPLOAD_QUOTA_BYTES (the detail says which).",
            ),
            415: OpenApiResponse(DetailErrorSerializer, description="Not multipart/form-data."),
            429: OpenApiResponse(
                DetailErrorSerializer,
                description="Over IM_UPLOAD_RATE uploads for this user; Retry-After says when.",
            ),
            503: OpenApiResponse(
                DetailErrorSerializer,
                description="Every decode worker is busy and the queue is full; Retry-After.",
            ),
        },
    )
    def post(self, request):
        try:
            data = request.data
        except SuspiciousOperation as exc:  # too many files or fields: Django's limits
            raise ParseError(str(exc)) from None
        serializer = MediaUploadSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        try:
            media = services.media_upload(
                owner=request.user, upload=serializer.validated_data["file"]
            )
        except services.MediaInvalid as exc:
            raise ValidationError({"file": [str(exc)]}) from None
        except services.QuotaExceeded as exc:
            raise UploadQuotaFull(str(exc)) from None
        except services.DecodeBusy:
            raise DecodersBusy() from None
        return Response(MediaSerializer(media).data, status=status.HTTP_201_CREATED)


class MediaFileApi(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [AllowAny]  # checked below: a token, or a signed link instead
    content_negotiation_class = IgnoreAcceptHeader

    @extend_schema(
        operation_id="media_download",
        summary="Fetch a file",
        description=(
            "With `Authorization: Token ...`, or with the `sig` of a link from "
            "GET /api/media/{media_id}/link/. Served under its sniffed type with "
            "`X-Content-Type-Options: nosniff` and a sandboxing Content-Security-Policy; "
            "images, audio and video that browsers play are `inline`, everything else "
            "an `attachment`."
        ),
        parameters=[
            MEDIA_ID_PARAMETER,
            OpenApiParameter(links.QUERY_PARAM, OpenApiTypes.STR, OpenApiParameter.QUERY,
                             description="Signature of a link, in place of a token."),
        ],
        responses={
            # Served under its sniffed type (image/png, audio/mpeg, ...).
            (200, "*/*"): OpenApiTypes.BINARY,
            401: UNAUTHENTICATED,
            403: OpenApiResponse(DetailErrorSerializer, description="Invalid or expired link."),
            404: NOT_FOUND,
        },
        auth=[{"tokenAuth": []}, {}],
    )
    def get(self, request, media_id: str):
        if request.user.is_authenticated:
            user_id = request.user.pk
        else:
            signature = request.query_params.get(links.QUERY_PARAM)
            if signature is None:
                raise NotAuthenticated()
            try:
                user_id = links.media_link_user(media_id=media_id, signature=signature)
            except links.LinkInvalid as exc:
                raise PermissionDenied(str(exc)) from None
        media = selectors.media_readable(user_id=user_id, media_id=media_id)
        if media is None:
            raise NotFound()
        try:
            file = default_storage.open(media.storage_name, "rb")
        except OSError:
            log.error("media %s: stored file %r is missing", media.id, media.storage_name)
            raise NotFound() from None
        return media_response(media, file)


class MediaLinkApi(APIView):
    authentication_classes = AUTHENTICATION

    @extend_schema(
        operation_id="media_link",
        summary="A short-lived link to a file that needs no token",
        description="For <img src> and downloads in browsers; valid IM_MEDIA_LINK_TTL_S.",
        parameters=[MEDIA_ID_PARAMETER],
        responses={200: MediaLinkSerializer, 401: UNAUTHENTICATED, 404: NOT_FOUND},
    )
    def get(self, request, media_id: str):
        media = selectors.media_readable(user_id=request.user.pk, media_id=media_id)
        if media is None:
            raise NotFound()
        url, expiry = links.media_link(media_id=media.id, user_id=request.user.pk)
        return Response(MediaLinkSerializer({"url": url, "expiry": expiry}).data)
