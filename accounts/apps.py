from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'accounts'

    def ready(self) -> None:
        # OpenAPI descriptions of DRF fields, registered with drf-spectacular by import.
        import imsite.openapi  # noqa: F401
