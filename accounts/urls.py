from django.urls import path

# Importing imsite.converters registers the <dbid:...> converter (an int that fits a key).
import imsite.converters  # noqa: F401
from accounts import apis, control_apis

urlpatterns = [
    path("auth/register/", apis.RegisterApi.as_view(), name="auth-register"),
    path("auth/login/", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/logout/", apis.LogoutApi.as_view(), name="auth-logout"),
    path("auth/logout-all/", control_apis.LogoutAllApi.as_view(), name="auth-logout-all"),
    path("auth/password/", control_apis.PasswordApi.as_view(), name="auth-password"),
    path("auth/sessions/", control_apis.SessionsApi.as_view(), name="auth-sessions"),
    path(
        "auth/sessions/<dbid:session_id>/",
        control_apis.SessionDetailApi.as_view(),
        name="auth-session-detail",
    ),
    path("blocks/", control_apis.BlocksApi.as_view(), name="block-list"),
    path("blocks/<dbid:user_id>/", control_apis.BlockDetailApi.as_view(), name="block-detail"),
    path("users/", apis.UserSearchApi.as_view(), name="user-search"),
    path("users/me/", apis.MeApi.as_view(), name="user-me"),
    path("users/<dbid:user_id>/", apis.UserDetailApi.as_view(), name="user-detail"),
]
