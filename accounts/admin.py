from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.db import transaction
from knox.admin import AuthTokenAdmin as KnoxAuthTokenAdmin
from knox.models import AuthToken

from accounts.models import Block, User
from accounts.services import user_deactivate, user_reactivate
from accounts.signals import users_deleting

REASON_HELP = "Why (kept in the moderation audit log)"


class ReasonActionForm(ActionForm):
    reason = forms.CharField(required=False, max_length=1000, help_text=REASON_HELP)


class UserModerationForm(UserChangeForm):
    """The change form, with the reason for unticking (or ticking) "active"."""

    moderation_reason = forms.CharField(
        required=False, max_length=1000, label="Reason for a ban or its lifting",
        help_text=REASON_HELP)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Banning here (the action, or unticking "active") is the same ban as the report
    queue's, written to the audit log in its transaction (docs/moderation.md)."""

    form = UserModerationForm
    action_form = ReasonActionForm
    list_display = ["id", "username", "display_name", "is_active", "is_staff", "date_joined",
                    "deleted_at"]
    list_filter = ["is_active", "is_staff", "is_superuser", "deleted_at"]
    search_fields = ["username", "display_name", "email"]
    ordering = ["id"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Profile", {"fields": ["display_name", "bio", "avatar"]}),
        ("Moderation", {"fields": ["moderation_reason"]}),
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
        reason = (request.POST.get("reason") or "").strip()
        for user in queryset.filter(is_active=True):
            user_deactivate(user=user, moderator_id=request.user.pk, reason=reason)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not (change and "is_active" in form.changed_data):
            return
        reason = form.cleaned_data.get("moderation_reason", "").strip()
        # Unticking "active" is a ban: the live connections go too, not only new
        # logins. Both ways are audited (the change view's transaction holds it all).
        if obj.is_active:
            user_reactivate(user=obj, moderator_id=request.user.pk, reason=reason)
        else:
            user_deactivate(user=obj, moderator_id=request.user.pk, reason=reason)

    # Deleting an account drops what other apps keep about it (memberships, whose
    # groups' counts, owners and members_version they then recompute). The deletion
    # and what the apps run after it are one transaction: a group's cached members
    # (messaging.selectors.members) must stop being used at the very commit that
    # removes a member. (The bulk action runs outside the admin's own transactions.)
    # Deactivating is usually better.
    def delete_model(self, request, obj):
        with transaction.atomic():
            after = _users_deleting(type(obj).objects.filter(pk=obj.pk))
            super().delete_model(request, obj)
            for call in after:
                call()

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
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
