from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Upper

DISPLAY_NAME_MAX = 64
BIO_MAX = 500
AVATAR_MAX = 200


class User(AbstractUser):
    display_name = models.CharField(max_length=DISPLAY_NAME_MAX, blank=True)
    bio = models.CharField(max_length=BIO_MAX, blank=True)
    # A media id (from POST /api/media/) or empty; resolved to a URL when shown.
    avatar = models.CharField(max_length=AVATAR_MAX, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # "Alice" and "alice" would be two people to the database and one to a
            # reader: refuse the second so nobody can pass for someone else.
            models.UniqueConstraint(
                Upper("username"),
                name="user_username_ci_unique",
                violation_error_message="A user with that username already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.username
