"""Request parsing and response shapes of the account endpoints.

The strict fields take exactly one JSON type each: DRF's own fields also accept
"yes" for a boolean, "5" or 5.0 for an integer and 5 for a string, which would let a
client's type bug pass silently.
"""

from __future__ import annotations

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from accounts.models import AVATAR_MAX, BIO_MAX, DISPLAY_NAME_MAX, Block, TokenSession, User
from accounts.shown_names import shown_display_name, shown_username
from improto.frames import DEVICE_NAME

USERNAME_MAX = 150
# Far above any real password; keeps a hostile body from costing a long hash.
PASSWORD_MAX = 4096
SEARCH_MAX = USERNAME_MAX
MAX_DB_ID = 2**63 - 1
# Request strings in the schema: ECMA regexes, as drf-spectacular writes them.
NO_NUL_PATTERN = r"^[^\u0000]*$"
NOT_BLANK_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


class StrictCharField(serializers.CharField):
    """A JSON string only, and only text that can be stored (no lone surrogates)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharFieldSchema(OpenApiSerializerFieldExtension):
    """What the schema says of a StrictCharField in a request: no NUL character (text
    columns cannot hold one, so it is refused), and, where blank is refused and
    surrounding whitespace is trimmed, at least one character that is not whitespace."""

    target_class = "accounts.serializers.StrictCharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        field = self.target
        # A field with a RegexValidator gets that pattern (which admits no NUL) instead.
        has_regex = any(isinstance(v, RegexValidator) for v in field.validators)
        if direction == "request" and "pattern" not in schema and not has_regex:
            if field.trim_whitespace and not field.allow_blank:
                schema["pattern"] = NOT_BLANK_PATTERN
            else:
                schema["pattern"] = NO_NUL_PATTERN
        return schema


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only (not a bool, a float or a numeric string)."""

    def to_internal_value(self, data):
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """`true` or `false` only."""

    def to_internal_value(self, data):
        if type(data) is not bool:
            self.fail("invalid")
        return data


# The schema of an id in a URL path (see the <dbid:...> converter in imsite.converters).
PATH_ID_SCHEMA = {"type": "integer", "minimum": 0, "maximum": MAX_DB_ID}


def id_field(**kwargs) -> StrictIntegerField:
    """An id as the database stores it: 1..2**63-1."""
    return StrictIntegerField(min_value=1, max_value=MAX_DB_ID, **kwargs)


# --- responses ------------------------------------------------------------------------


class ShownNamesMixin:
    """A closed account shows a placeholder name, never what its owner chose."""

    def to_representation(self, user: User) -> dict:
        data = super().to_representation(user)
        data["username"] = shown_username(user)
        data["display_name"] = shown_display_name(user)
        return data


class UserSummarySerializer(ShownNamesMixin, serializers.ModelSerializer):
    """How a user appears inside other objects (login answer, member lists)."""

    class Meta:
        model = User
        fields = ["id", "username", "display_name"]
        read_only_fields = fields


class UserProfileSerializer(ShownNamesMixin, serializers.ModelSerializer):
    """A public profile; also the caller's own profile."""

    avatar = serializers.SerializerMethodField(
        help_text="Path to GET the avatar image (any signed-in user may), or empty."
    )

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "bio", "avatar"]
        read_only_fields = fields

    def get_avatar(self, user: User) -> str:
        # The media app's file URL, by name: accounts does not import media.
        return reverse("media-file", kwargs={"media_id": user.avatar}) if user.avatar else ""


class LoginResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
    user = UserSummarySerializer()
    expiry = serializers.DateTimeField(allow_null=True, help_text="When the token stops working.")


class DetailErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class BlockSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="blocked_id", help_text="Whom I blocked.")
    user = UserSummarySerializer(source="blocked")

    class Meta:
        model = Block
        fields = ["user_id", "user", "created"]
        read_only_fields = fields


class SessionSerializer(serializers.ModelSerializer):
    """One of my tokens. `current`: the token of this request."""

    device = serializers.CharField(help_text="As given at login; empty if none was.")
    created = serializers.DateTimeField(source="token.created")
    expiry = serializers.DateTimeField(source="token.expiry", allow_null=True)
    last_used = serializers.DateTimeField(
        allow_null=True, help_text="Last REST request or connection (to within a minute)."
    )
    current = serializers.SerializerMethodField()

    class Meta:
        model = TokenSession
        fields = ["id", "device", "created", "last_used", "expiry", "current"]
        read_only_fields = fields

    def get_current(self, session: TokenSession) -> bool:
        return session.token_id == self.context["current_digest"]


# --- requests -------------------------------------------------------------------------


class RegisterSerializer(serializers.Serializer):
    username = StrictCharField(
        max_length=USERNAME_MAX,
        validators=[UnicodeUsernameValidator()],
        help_text=(
            "1..150 characters: letters, digits and @/./+/-/_ only, the letters of one "
            "script (Japanese, Chinese and Korean may mix with "
            "Han and Latin). Names are compared NFKC-normalised and case-folded: a "
            "variant of a taken name is taken."
        ),
    )
    password = StrictCharField(
        max_length=PASSWORD_MAX,
        trim_whitespace=False,
        write_only=True,
        style={"input_type": "password"},
    )
    display_name = StrictCharField(
        max_length=DISPLAY_NAME_MAX, allow_blank=True, required=False, default=""
    )


def password_field(**kwargs) -> StrictCharField:
    return StrictCharField(
        max_length=PASSWORD_MAX,
        trim_whitespace=False,
        write_only=True,
        style={"input_type": "password"},
        **kwargs,
    )


class LoginSerializer(serializers.Serializer):
    username = StrictCharField(max_length=USERNAME_MAX)
    password = password_field()
    device = StrictCharField(
        min_length=1,
        max_length=64,
        required=False,
        default="",
        validators=[RegexValidator(f"^{DEVICE_NAME.pattern}$")],
        help_text="The device name this client uses in `auth` (letters, digits, -_.:@); "
        "shown in GET /api/auth/sessions/.",
    )


class BlockCreateSerializer(serializers.Serializer):
    user_id = id_field()


class PasswordChangeSerializer(serializers.Serializer):
    old_password = password_field()
    new_password = password_field()


class AccountDeleteSerializer(serializers.Serializer):
    password = password_field()


class ProfileUpdateSerializer(serializers.Serializer):
    display_name = StrictCharField(max_length=DISPLAY_NAME_MAX, allow_blank=True, required=False)
    bio = StrictCharField(max_length=BIO_MAX, allow_blank=True, required=False)
    avatar = StrictCharField(
        max_length=AVATAR_MAX,
        allow_blank=True,
        required=False,
        help_text="The id of an image you uploaded (POST /api/media/), or empty to remove it.",
    )


class UserSearchSerializer(serializers.Serializer):
    search = StrictCharField(
        min_length=1,
        max_length=SEARCH_MAX,
        help_text="Username prefix, compared NFKC-normalised and case-folded.",
    )
