from django.urls import path

from realtime import apis

urlpatterns = [
    path("presence/", apis.PresenceApi.as_view(), name="presence"),
    path("gateway/", apis.GatewayApi.as_view(), name="gateway"),
    path("cluster/", apis.ClusterApi.as_view(), name="cluster"),
    path("ready/", apis.ReadyApi.as_view(), name="ready"),
]
