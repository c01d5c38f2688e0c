from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from imsite import errors, scrape

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", scrape.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include("accounts.urls")),
    path("api/", include("messaging.urls")),
    path("api/", include("realtime.urls")),
    path("api/", include("media.urls")),
    path("api/", include("notifications.urls")),
    # Unknown API paths answer JSON even with DEBUG on (whose 404 page is HTML).
    re_path(r"^api/", errors.json_not_found),
    path("", include("webclient.urls")),
]

handler400 = errors.json_bad_request
handler403 = errors.json_forbidden
handler404 = errors.json_not_found
handler500 = errors.json_server_error
