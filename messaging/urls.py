from django.urls import include, path

urlpatterns = [
    path("", include("messaging.apis.group_urls")),
    path("", include("messaging.apis.channel_urls")),
]
