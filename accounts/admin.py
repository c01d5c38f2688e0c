from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from knox.admin import AuthTokenAdmin as KnoxAuthTokenAdmin
from knox.models import AuthToken

from accounts.models import Block, User
from accounts.services import user_deactivate
from accounts.signals import users_deleting


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["id", "username", "display_name", "is_active", "is_staff", "date_joined",
                    "deleted_at"]
    list_filter = ["is_active", "is_staff", "is_superuser", "deleted_at"]
    search_fields = ["username", "display_name", "email"]
    ordering = ["id"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Profile", {"fields": ["display_name", "bio", "avatar"]}),
    ]
    add_fieldsets = [
        (
            None,
            {"classes": ["wide"], "fields": ["username", "display_name", "password1", "password2"]},
        ),
    ]

    actions = ["ban"]

    @admin.action(description="Ban: deactivate, revoke tokens, disconnect (offline/kicked)")
    def ban(self, request, queryset):
        for user in queryset.filter(is_active=True):
            user_deactivate(user=user)

    def save_model(self, request, obj, form, change):
        # Unticking "active" is a ban: the live connections go too, not only new logins.
        if change and "is_active" in form.changed_data and not obj.is_active:
            super().save_model(request, obj, form, change)
            user_deactivate(user=obj)
            return
        super().save_model(request, obj, form, change)

    # Deleting an account drops what other apps keep about it (memberships, whose
    # groups' counts and owners they then recompute). (Deactivating is usually better.)
    def delete_model(self, request, obj):
        after = _users_deleting(type(obj).objects.filter(pk=obj.pk))
        super().delete_model(request, obj)
        for call in after:
            call()

    def delete_queryset(self, request, queryset):
        after = _users_deleting(queryset)
        super().delete_queryset(request, queryset)
        for call in after:
            call()


def _users_deleting(users) -> list:
    """What the apps listening to `users_deleting` ask to run once the users are gone."""
    return [
        answer for _, answer in users_deleting.send(sender=User, users=users)
        if callable(answer)
    ]


# knox registers its own admin; replace it with one that finds tokens by user and
# does not query each row's user separately.
if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class AuthTokenAdmin(KnoxAuthTokenAdmin):
    list_display = ["token_key", "user", "device", "created", "last_used", "expiry"]
    list_select_related = ["user", "session"]
    list_filter = ["created", "expiry"]
    search_fields = ["token_key", "user__username", "user__display_name"]

    @admin.display(description="device")
    def device(self, token) -> str:
        return getattr(getattr(token, "session", None), "device", "")

    @admin.display(description="last used")
    def last_used(self, token):
        return getattr(getattr(token, "session", None), "last_used", None)


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    """Who blocked whom (for moderators looking into harassment); made by users only."""

    list_display = ["blocker", "blocked", "created"]
    list_select_related = ["blocker", "blocked"]
    search_fields = ["blocker__username", "blocked__username"]
    raw_id_fields = ["blocker", "blocked"]
    readonly_fields = ["blocker", "blocked", "created"]

    def has_add_permission(self, request) -> bool:
        return False
