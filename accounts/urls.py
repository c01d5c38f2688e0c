from django.urls import path

# Importing imsite.converters registers the <dbid:...> converter (an int that fits a key).
import imsite.converters  # noqa: F401
from accounts import apis

urlpatterns = [
    path("auth/register/", apis.RegisterApi.as_view(), name="auth-register"),
    path("auth/login/", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/logout/", apis.LogoutApi.as_view(), name="auth-logout"),
    path("users/", apis.UserSearchApi.as_view(), name="user-search"),
    path("users/me/", apis.MeApi.as_view(), name="user-me"),
    path("users/<dbid:user_id>/", apis.UserDetailApi.as_view(), name="user-detail"),
]
