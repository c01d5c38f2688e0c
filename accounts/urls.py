from django.urls import path, register_converter
from django.urls.converters import get_converters

from accounts import apis

DB_ID_MAX = 2**63 - 1


class DatabaseIdConverter:
    """Like <int:...>, but a number no database key can hold does not match (a 404).

    With plain <int:...>, /api/users/99999999999999999999/ reaches the ORM, where
    SQLite raises OverflowError and related lookups on PostgreSQL fail: a 500.
    """

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > DB_ID_MAX:
            raise ValueError("out of range")  # Django treats this as no match
        return number

    def to_url(self, value: int) -> str:
        return str(value)


if "dbid" not in get_converters():
    register_converter(DatabaseIdConverter, "dbid")

urlpatterns = [
    path("auth/register/", apis.RegisterApi.as_view(), name="auth-register"),
    path("auth/login/", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/logout/", apis.LogoutApi.as_view(), name="auth-logout"),
    path("users/", apis.UserSearchApi.as_view(), name="user-search"),
    path("users/me/", apis.MeApi.as_view(), name="user-me"),
    path("users/<dbid:user_id>/", apis.UserDetailApi.as_view(), name="user-detail"),
]
