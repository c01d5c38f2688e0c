"""REST endpoints of groups: parse, call a service or selector, serialize."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.apis import AUTHENTICATION
from accounts.serializers import (
    PATH_ID_SCHEMA,
    DetailErrorSerializer,
    StrictBooleanField,
    StrictCharField,
    UserSummarySerializer,
    id_field,
)
from messaging.models import Group, Membership
from messaging.selectors import groups as selectors
from messaging.services import groups as services

# --- serializers ------------------------------------------------------------------------


class GroupSerializer(serializers.ModelSerializer):
    owner = serializers.IntegerField(
        source="owner_id", allow_null=True, help_text="The owner's user id; null once empty."
    )
    channel = serializers.CharField(help_text='The group\'s channel, "g:<id>".')

    class Meta:
        model = Group
        fields = ["id", "name", "owner", "public", "channel", "member_count", "created_at"]
        read_only_fields = fields


class GroupCreateSerializer(serializers.Serializer):
    name = StrictCharField(min_length=1, max_length=services.NAME_MAX)
    public = StrictBooleanField(required=False, default=False)
    members = serializers.ListField(
        child=id_field(),
        required=False,
        default=list,
        help_text="User ids to add besides the creator, at most IM_GROUP_MAX_MEMBERS - 1.",
    )

    def validate_members(self, value: list[int]) -> list[int]:
        limit = settings.IM_GROUP_MAX_MEMBERS - 1
        if len(value) > limit:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {limit} elements."
            )
        return value


class MembersAddSerializer(serializers.Serializer):
    user_ids = serializers.ListField(child=id_field())

    def validate_user_ids(self, value: list[int]) -> list[int]:
        limit = settings.IM_GROUP_MAX_MEMBERS
        if len(value) > limit:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {limit} elements."
            )
        return value


class MembersAddedSerializer(serializers.Serializer):
    group = GroupSerializer()
    added = serializers.ListField(
        child=serializers.IntegerField(), help_text="Ids that were not members before, ascending."
    )


class MembershipSerializer(serializers.ModelSerializer):
    user = UserSummarySerializer()

    class Meta:
        model = Membership
        fields = ["user", "role", "joined_at"]
        read_only_fields = fields


# --- error mapping ----------------------------------------------------------------------


class GroupFullError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The group is full."
    default_code = "group_full"


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The group's state does not allow this."
    default_code = "conflict"


class BadRequest(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Bad request."
    default_code = "invalid"


class GroupApi(APIView):
    """Base of the group endpoints: turns the services' errors into HTTP answers."""

    authentication_classes = AUTHENTICATION
    # The request field whose ids an UnknownUsers error is about.
    user_ids_field = "user_ids"

    def handle_exception(self, exc):
        if isinstance(exc, services.GroupError):
            exc = self._http_error(exc)
        return super().handle_exception(exc)

    def _http_error(self, exc: services.GroupError) -> exceptions.APIException:
        if isinstance(exc, services.NotFound):
            return exceptions.NotFound(exc.message)
        if isinstance(exc, services.NotAllowed):
            return exceptions.PermissionDenied(exc.message)
        if isinstance(exc, services.GroupFull):
            return GroupFullError(exc.message)
        if isinstance(exc, services.OwnerMustLeave):
            return ConflictError(exc.message)
        if isinstance(exc, services.UnknownUsers):
            return exceptions.ValidationError({self.user_ids_field: [exc.message]})
        return BadRequest(exc.message)

    def visible_group(self, group_id: int) -> Group:
        group = selectors.group_get_visible(user=self.request.user, group_id=group_id)
        if group is None:
            raise exceptions.NotFound("No such group.")
        return group


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(DetailErrorSerializer, description=description)


GROUP_ID = OpenApiParameter(
    "group_id", PATH_ID_SCHEMA, OpenApiParameter.PATH, description="The group's id."
)
USER_ID = OpenApiParameter(
    "user_id", PATH_ID_SCHEMA, OpenApiParameter.PATH, description="The member's id."
)
UNAUTHENTICATED = _error("Missing, expired or revoked token.")
NOT_VISIBLE = _error("No such group, or a private group you are not in.")
FIELD_ERRORS = OpenApiResponse(description="Field errors: {field: [messages]}.")


# --- endpoints --------------------------------------------------------------------------


class GroupListCreateApi(GroupApi):
    user_ids_field = "members"

    @extend_schema(
        operation_id="groups_list",
        summary="My groups",
        responses={200: GroupSerializer(many=True), 401: UNAUTHENTICATED},
    )
    def get(self, request):
        groups = selectors.groups_of_user(user=request.user)
        return Response(GroupSerializer(groups, many=True).data)

    @extend_schema(
        operation_id="groups_create",
        summary="Create a group",
        description="The creator becomes its owner and first member.",
        request=GroupCreateSerializer,
        responses={
            201: GroupSerializer,
            400: FIELD_ERRORS,
            401: UNAUTHENTICATED,
            409: _error("More members than the size limit."),
        },
    )
    def post(self, request):
        serializer = GroupCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        group = services.group_create(
            owner=request.user, name=data["name"], public=data["public"], member_ids=data["members"]
        )
        return Response(GroupSerializer(group).data, status=status.HTTP_201_CREATED)


class GroupDetailApi(GroupApi):
    @extend_schema(
        operation_id="groups_retrieve",
        summary="One group",
        parameters=[GROUP_ID],
        responses={200: GroupSerializer, 401: UNAUTHENTICATED, 404: NOT_VISIBLE},
    )
    def get(self, request, group_id: int):
        return Response(GroupSerializer(self.visible_group(group_id)).data)


class GroupJoinApi(GroupApi):
    @extend_schema(
        operation_id="groups_join",
        summary="Join a public group",
        description="Joining a group you are already in changes nothing and answers 200.",
        parameters=[GROUP_ID],
        request=None,
        responses={
            200: GroupSerializer,
            401: UNAUTHENTICATED,
            403: _error("The group is private."),
            404: _error("No such group."),
            409: _error("The group is full."),
        },
    )
    def post(self, request, group_id: int):
        group = services.group_join(user=request.user, group_id=group_id)
        return Response(GroupSerializer(group).data)


class GroupLeaveApi(GroupApi):
    @extend_schema(
        operation_id="groups_leave",
        summary="Leave a group",
        description=(
            "An owner who leaves hands the group to the longest-standing member; the "
            "last member leaves it empty, with no owner."
        ),
        parameters=[GROUP_ID],
        request=None,
        responses={
            204: None,
            401: UNAUTHENTICATED,
            403: _error("Not a member of this public group."),
            404: NOT_VISIBLE,
        },
    )
    def post(self, request, group_id: int):
        services.group_leave(user=request.user, group_id=group_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupMembersApi(GroupApi):
    @extend_schema(
        operation_id="groups_members_list",
        summary="Members of a group",
        description="Longest-standing first. Members see it; for a public group, everyone.",
        parameters=[GROUP_ID],
        responses={200: MembershipSerializer(many=True), 401: UNAUTHENTICATED, 404: NOT_VISIBLE},
    )
    def get(self, request, group_id: int):
        members = selectors.group_members(group=self.visible_group(group_id))
        return Response(MembershipSerializer(members, many=True).data)

    @extend_schema(
        operation_id="groups_members_add",
        summary="Add members (owner only)",
        description=(
            "Ids already in the group are ignored. All or nothing: if the new members "
            "would pass the size limit, nobody is added (409)."
        ),
        parameters=[GROUP_ID],
        request=MembersAddSerializer,
        responses={
            200: MembersAddedSerializer,
            400: FIELD_ERRORS,
            401: UNAUTHENTICATED,
            403: _error("Not the owner."),
            404: NOT_VISIBLE,
            409: _error("The new members would pass the size limit."),
        },
    )
    def post(self, request, group_id: int):
        serializer = MembersAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        group, added = services.group_members_add(
            actor=request.user, group_id=group_id, user_ids=serializer.validated_data["user_ids"]
        )
        return Response(MembersAddedSerializer({"group": group, "added": added}).data)


class GroupMemberDetailApi(GroupApi):
    @extend_schema(
        operation_id="groups_members_remove",
        summary="Remove a member (owner only)",
        description="The owner cannot remove themselves this way: they leave instead.",
        parameters=[GROUP_ID, USER_ID],
        responses={
            204: None,
            401: UNAUTHENTICATED,
            403: _error("Not the owner."),
            404: _error("No such group visible to you, or the user is not a member."),
            409: _error("The owner tried to remove themselves: an owner leaves instead."),
        },
    )
    def delete(self, request, group_id: int, user_id: int):
        services.group_member_remove(actor=request.user, group_id=group_id, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
