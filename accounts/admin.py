from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from knox.admin import AuthTokenAdmin as KnoxAuthTokenAdmin
from knox.models import AuthToken

from accounts.models import User
from accounts.services import user_deactivate
from accounts.signals import users_deleting


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["id", "username", "display_name", "is_active", "is_staff", "date_joined"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
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
    list_display = ["token_key", "user", "created", "expiry"]
    list_select_related = ["user"]
    list_filter = ["created", "expiry"]
    search_fields = ["token_key", "user__username", "user__display_name"]
