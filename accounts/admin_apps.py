from django.contrib.admin.apps import AdminConfig


class LimitedAdminConfig(AdminConfig):
    """django.contrib.admin, with its default site limiting failed logins."""

    default_site = "accounts.admin_site.LimitedAdminSite"
