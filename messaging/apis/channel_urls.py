from django.urls import path

from messaging.apis import channels, reports

urlpatterns = [
    path("health/", channels.HealthApi.as_view(), name="health"),
    path("channels/", channels.ChannelListApi.as_view(), name="channel-list"),
    path("reports/", reports.ReportApi.as_view(), name="reports"),
    path(
        "channels/<str:channel>/messages/",
        channels.ChannelMessagesApi.as_view(),
        name="channel-messages",
    ),
]
