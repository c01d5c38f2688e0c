from django.urls import path

# Importing imsite.converters registers the <dbid:...> converter (an int that fits a key).
import imsite.converters  # noqa: F401
from messaging.apis import groups as apis

urlpatterns = [
    path("groups/", apis.GroupListCreateApi.as_view(), name="group-list"),
    path("groups/<dbid:group_id>/", apis.GroupDetailApi.as_view(), name="group-detail"),
    path("groups/<dbid:group_id>/join/", apis.GroupJoinApi.as_view(), name="group-join"),
    path("groups/<dbid:group_id>/leave/", apis.GroupLeaveApi.as_view(), name="group-leave"),
    path("groups/<dbid:group_id>/members/", apis.GroupMembersApi.as_view(), name="group-members"),
    path(
        "groups/<dbid:group_id>/members/<dbid:user_id>/",
        apis.GroupMemberDetailApi.as_view(),
        name="group-member-detail",
    ),
]
