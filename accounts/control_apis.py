"""REST endpoints of account control: blocks, sessions, password change, closing the
account. Parse, call a service or selector, serialize."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, Throttled
from rest_framework.exceptions import ValidationError as DrfValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import blocking, password, session_records, sessions
from accounts.apis import AUTHENTICATION, FIELD_ERRORS, THROTTLED, UNAUTHENTICATED
from accounts.login_limits import LoginThrottled
from accounts.serializers import (
    PATH_ID_SCHEMA,
    BlockCreateSerializer,
    BlockSerializer,
    DetailErrorSerializer,
    PasswordChangeSerializer,
    SessionSerializer,
)
from accounts.throttles import client_address

NO_SUCH_USER = OpenApiResponse(DetailErrorSerializer, description="No such user.")
NO_SUCH_SESSION = OpenApiResponse(DetailErrorSerializer, description="No such session of mine.")
USER_ID = OpenApiParameter("user_id", PATH_ID_SCHEMA, OpenApiParameter.PATH)
SESSION_ID = OpenApiParameter("session_id", PATH_ID_SCHEMA, OpenApiParameter.PATH)


class BlocksApi(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="blocks_list",
        summary="The users I blocked, newest first",
        responses={200: BlockSerializer(many=True), 401: UNAUTHENTICATED},
    )
    def get(self, request):
        blocks = blocking.blocks_of(blocker_id=request.user.pk)
        return Response(BlockSerializer(blocks, many=True).data)

    @extend_schema(
        operation_id="blocks_create",
        summary="Block a user",
        description=(
            "From this request's commit on, on every node: their private messages to me "
            "get `forbidden`, they cannot add me to a group, and I am left out of their "
            "presence answers. 201 when new, 200 when they were already blocked."
        ),
        request=BlockCreateSerializer,
        responses={
            200: BlockSerializer, 201: BlockSerializer, 400: FIELD_ERRORS,
            401: UNAUTHENTICATED, 404: NO_SUCH_USER,
        },
    )
    def post(self, request):
        serializer = BlockCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            block, created = blocking.block_create(
                blocker=request.user, blocked_id=serializer.validated_data["user_id"]
            )
        except blocking.BlockTargetNotFound as exc:
            raise NotFound(exc.message) from None
        except blocking.BlockError as exc:
            raise DrfValidationError({"user_id": [exc.message]}) from None
        return Response(
            BlockSerializer(block).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class BlockDetailApi(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="blocks_delete",
        summary="Unblock a user",
        parameters=[USER_ID],
        responses={204: None, 401: UNAUTHENTICATED, 404: OpenApiResponse(
            DetailErrorSerializer, description="I have not blocked this user.")},
    )
    def delete(self, request, user_id: int):
        if not blocking.block_delete(blocker=request.user, blocked_id=user_id):
            raise NotFound("You have not blocked this user.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionsApi(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="auth_sessions_list",
        summary="My sessions (tokens), newest first",
        responses={200: SessionSerializer(many=True), 401: UNAUTHENTICATED},
    )
    def get(self, request):
        rows = session_records.sessions_of(user=request.user)
        context = {"current_digest": request.auth.digest}
        return Response(SessionSerializer(rows, many=True, context=context).data)


class SessionDetailApi(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="auth_sessions_delete",
        summary="Sign one of my sessions out",
        description="Its live connections get `offline` with reason `logout`, on every node.",
        parameters=[SESSION_ID],
        responses={204: None, 401: UNAUTHENTICATED, 404: NO_SUCH_SESSION},
    )
    def delete(self, request, session_id: int):
        if not sessions.session_revoke(user=request.user, session_id=session_id):
            raise NotFound("No such session.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllApi(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="auth_logout_all",
        summary="Sign every session of mine out, this one included",
        description="Every live connection of mine gets `offline` with reason `logout`.",
        request=None,
        responses={204: None, 401: UNAUTHENTICATED},
    )
    def post(self, request):
        sessions.tokens_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordApi(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="auth_password_change",
        summary="Change my password",
        description=(
            "The new password passes the same validators as at registration. Every "
            "other session of mine is signed out (`offline`/`logout`); this one is kept. "
            "A wrong old password counts as a failed login."
        ),
        request=PasswordChangeSerializer,
        responses={204: None, 400: FIELD_ERRORS, 401: UNAUTHENTICATED, 429: THROTTLED},
    )
    def post(self, request):
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            password.password_change(
                user=request.user, current_digest=request.auth.digest,
                address=client_address(request), **serializer.validated_data,
            )
        except LoginThrottled as exc:
            raise Throttled(wait=exc.wait) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
