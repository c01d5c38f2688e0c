from django.contrib.auth.models import AbstractUser
from django.db import models

DISPLAY_NAME_MAX = 64
BIO_MAX = 500


class User(AbstractUser):
    display_name = models.CharField(max_length=DISPLAY_NAME_MAX, blank=True)
    bio = models.CharField(max_length=BIO_MAX, blank=True)
    # A media id (from POST /api/media/) or empty; resolved to a URL when shown.
    avatar = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.username
