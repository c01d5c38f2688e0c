from django.urls import path

from messaging.apis import channels

urlpatterns = [
    path("health/", channels.HealthApi.as_view(), name="health"),
    path("channels/", channels.ChannelListApi.as_view(), name="channel-list"),
    path(
        "channels/<str:channel>/messages/",
        channels.ChannelMessagesApi.as_view(),
        name="channel-messages",
    ),
]
