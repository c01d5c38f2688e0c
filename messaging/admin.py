"""Moderation of groups and memberships.

Membership edits here bypass the group services, so after every save or delete the
group's derived state (member_count, owner and roles) is recomputed with
group_repair. The size limit is not applied to staff edits. Groups themselves are
created by users through the API (with their channel), not here.
"""

from django.contrib import admin

from messaging import (  # noqa: F401  (registered there)
    admin_messages,  # the message browser
    admin_moderation,  # reports, audit log
)
from messaging.models import Group, Membership
from messaging.services.groups import group_repair


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
    readonly_fields = ["owner", "member_count", "created_at"]
    inlines = [MembershipInline]

    def has_add_permission(self, request):
        return False

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        group_repair(group_id=form.instance.pk)


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
        super().save_model(request, obj, form, change)
        for group_id in {obj.group_id, previous_group} - {None}:
            group_repair(group_id=group_id)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        group_repair(group_id=obj.group_id)

    def delete_queryset(self, request, queryset):
        group_ids = set(queryset.values_list("group_id", flat=True))
        super().delete_queryset(request, queryset)
        for group_id in group_ids:
            group_repair(group_id=group_id)
