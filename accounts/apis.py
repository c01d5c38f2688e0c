"""REST endpoints of accounts: parse, call a service or selector, serialize."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, Throttled, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from accounts import closing, selectors, services
from accounts.login_limits import LoginThrottled
from accounts.serializers import (
    PATH_ID_SCHEMA,
    AccountDeleteSerializer,
    DetailErrorSerializer,
    LoginResponseSerializer,
    LoginSerializer,
    ProfileUpdateSerializer,
    RegisterSerializer,
    UserProfileSerializer,
    UserSearchSerializer,
    UserSummarySerializer,
)
from accounts.throttles import RegisterAddressThrottle, client_address
from accounts.tokens import TokenAuthentication
from imsite.openapi import DeleteWithBodySchema

AUTHENTICATION = [TokenAuthentication]

BAD_CREDENTIALS = "Unable to log in with the provided credentials."

THROTTLED = OpenApiResponse(
    DetailErrorSerializer, description="Too many attempts; see Retry-After."
)
FIELD_ERRORS = OpenApiResponse(description="Field errors: {field: [messages]}.")
UNAUTHENTICATED = OpenApiResponse(
    DetailErrorSerializer, description="Missing, expired or revoked token."
)
NOT_FOUND = OpenApiResponse(DetailErrorSerializer, description="No such user.")


class RegisterApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [RegisterAddressThrottle]

    @extend_schema(
        operation_id="auth_register",
        summary="Create an account",
        request=RegisterSerializer,
        responses={201: UserSummarySerializer, 400: FIELD_ERRORS, 429: THROTTLED},
        auth=[],
    )
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_register(**serializer.validated_data)
        return Response(UserSummarySerializer(user).data, status=status.HTTP_201_CREATED)


class LoginApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    # Failed logins are limited in the service (accounts.login_limits), not by a
    # throttle that would count every request.
    throttle_classes: list = []

    @extend_schema(
        operation_id="auth_login",
        summary="Log in: get a new token for this device",
        request=LoginSerializer,
        responses={
            200: LoginResponseSerializer,
            400: OpenApiResponse(
                description='Bad credentials: {"non_field_errors": [...]}, or field errors.'
            ),
            429: THROTTLED,
        },
        auth=[],
    )
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            result = services.user_login(
                **serializer.validated_data, address=client_address(request)
            )
        except services.InvalidCredentials:
            raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [BAD_CREDENTIALS]})
        except LoginThrottled as exc:
            raise Throttled(wait=exc.wait) from None
        data = {"token": result.token, "user": result.user, "expiry": result.expiry}
        return Response(LoginResponseSerializer(data).data)


class LogoutApi(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="auth_logout",
        summary="Revoke the token of this request",
        description="Its live connections get `offline` with reason `logout`.",
        request=None,
        responses={204: None, 401: UNAUTHENTICATED},
    )
    def post(self, request):
        services.user_logout(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    authentication_classes = AUTHENTICATION
    schema = DeleteWithBodySchema()

    @extend_schema(
        operation_id="users_me_retrieve",
        summary="My profile",
        responses={200: UserProfileSerializer, 401: UNAUTHENTICATED},
    )
    def get(self, request):
        return Response(UserProfileSerializer(request.user).data)

    @extend_schema(
        operation_id="users_me_update",
        summary="Edit my profile",
        request=ProfileUpdateSerializer,
        responses={200: UserProfileSerializer, 400: FIELD_ERRORS, 401: UNAUTHENTICATED},
    )
    def patch(self, request):
        serializer = ProfileUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_update_profile(user=request.user, **serializer.validated_data)
        return Response(UserProfileSerializer(user).data)

    @extend_schema(
        operation_id="users_me_delete",
        summary="Close my account",
        description=(
            "At once, on every node: the account can no longer log in or send, every "
            "session is signed out (`offline`/`logout`), the profile is emptied (shown as "
            "\"Deleted user\"), its files are no longer served, and it leaves its groups. "
            "Messages already sent stay. The username is held for IM_USERNAME_HOLD_DAYS, "
            "then free. A wrong password counts as a failed login."
        ),
        request=AccountDeleteSerializer,
        responses={204: None, 400: FIELD_ERRORS, 401: UNAUTHENTICATED, 429: THROTTLED},
    )
    def delete(self, request):
        serializer = AccountDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            closing.account_close(
                user=request.user, address=client_address(request), **serializer.validated_data
            )
        except LoginThrottled as exc:
            raise Throttled(wait=exc.wait) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserDetailApi(APIView):
    authentication_classes = AUTHENTICATION

    @extend_schema(
        operation_id="users_retrieve",
        summary="A public profile",
        parameters=[OpenApiParameter("user_id", PATH_ID_SCHEMA, OpenApiParameter.PATH)],
        responses={200: UserProfileSerializer, 401: UNAUTHENTICATED, 404: NOT_FOUND},
    )
    def get(self, request, user_id: int):
        user = selectors.user_get(user_id=user_id)
        if user is None:
            raise NotFound("No such user.")
        return Response(UserProfileSerializer(user).data)


class UserSearchApi(APIView):
    authentication_classes = AUTHENTICATION

    @extend_schema(
        operation_id="users_search",
        summary="Find users by username prefix",
        description=(
            f"Active users whose username starts with `search` (ignoring case), by "
            f"username, at most {selectors.SEARCH_LIMIT}."
        ),
        parameters=[UserSearchSerializer],
        responses={200: UserProfileSerializer(many=True), 400: FIELD_ERRORS, 401: UNAUTHENTICATED},
    )
    def get(self, request):
        serializer = UserSearchSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        users = selectors.user_search(prefix=serializer.validated_data["search"])
        return Response(UserProfileSerializer(users, many=True).data)
