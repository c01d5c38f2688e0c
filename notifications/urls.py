from django.urls import path

from notifications import apis

urlpatterns = [
    path("devices/", apis.DeviceListApi.as_view(), name="device-list"),
    path("devices/<int:device_id>/", apis.DeviceDetailApi.as_view(), name="device-detail"),
    path("channels/<str:channel>/settings/", apis.ChannelSettingsApi.as_view(),
         name="channel-settings"),
]
