"""Moderation of groups and memberships.

Membership edits here bypass the group services, so every save or delete runs inside
group_members_edited: in the edit's transaction, the sends of whoever it removed are
held as a removal holds them, and the group's derived state (member_count, owner and
roles, members_version) is recomputed with group_repair. The size limit is not
applied to staff edits. Groups themselves are created by users through the API (with
their channel), not here; a group deleted here takes its memberships and its row (so
its members_version) with it, which the write path reads as "no such group".
"""

from django.contrib import admin

from messaging import (  # noqa: F401  (registered there)
    admin_messages,  # the message browser
    admin_moderation,  # reports, audit log
)
from messaging.models import Group, Membership
from messaging.services.groups import group_members_edited


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "joined_at"]
    readonly_fields = ["role", "joined_at"]
    raw_id_fields = ["user"]
    ordering = ["joined_at", "id"]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "owner", "public", "member_count", "created_at"]
    list_filter = ["public"]
    list_select_related = ["owner"]
    search_fields = ["name"]
    readonly_fields = ["owner", "member_count", "members_version", "created_at"]
    inlines = [MembershipInline]

    def has_add_permission(self, request):
        return False

    def save_related(self, request, form, formsets, change):
        with group_members_edited(group_ids=[form.instance.pk]):
            super().save_related(request, form, formsets, change)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["id", "group", "user", "role", "joined_at"]
    list_filter = ["role"]
    list_select_related = ["group", "user"]
    search_fields = ["group__name", "user__username"]
    raw_id_fields = ["group", "user"]
    readonly_fields = ["role", "joined_at"]

    def save_model(self, request, obj, form, change):
        previous_group = (
            Membership.objects.filter(pk=obj.pk).values_list("group_id", flat=True).first()
        )
        with group_members_edited(group_ids=[obj.group_id, previous_group]):
            super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        with group_members_edited(group_ids=[obj.group_id]):
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        # The changelist's bulk delete runs outside the admin's transactions: this one
        # keeps the rows' deletion and the groups' repair one commit.
        with group_members_edited(group_ids=set(queryset.values_list("group_id", flat=True))):
            super().delete_queryset(request, queryset)
