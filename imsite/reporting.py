"""Error reports that never show the password of a service URL.

Django's filter hides settings whose *name* looks secret (PASSWORD, SECRET_KEY, ...).
Service URLs carry their credentials in the *value* under innocent names
(IM_REDIS_URL, CELERY_BROKER_URL, CACHES' LOCATION, channel-layer hosts), and a
traceback's local variables can hold the same strings. This filter masks the
credentials part of every URL-looking string in settings, request metadata and local
variables, and hides local variables named like secrets (as Django hides such
settings), in the debug page and in error e-mails and log records alike.
"""

from __future__ import annotations

import re
from pprint import pformat

from django.views.debug import SafeExceptionReporterFilter

# scheme://userinfo@ where userinfo runs to the last "@" before the path: passwords
# with a raw "@" in them are masked whole.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/?#\s'\"]*)@")


def mask_url_credentials(text: str, substitute: str) -> str:
    """`scheme://user:password@host` -> `scheme://user:<substitute>@host`; a userinfo
    without a colon (a bare token) is masked whole."""

    def masked(match: re.Match) -> str:
        user, colon, _secret = match["userinfo"].partition(":")
        kept = f"{user}:" if colon else ""
        return f"{match['scheme']}{kept}{substitute}@"

    return _URL_CREDENTIALS.sub(masked, text)


class _MaskedRepr:
    """Shown by the report as the masked text of an object whose repr held a URL."""

    def __init__(self, text: str) -> None:
        self._text = text

    def __repr__(self) -> str:
        return self._text


class CredentialMaskingFilter(SafeExceptionReporterFilter):
    def cleanse_setting(self, key, value):
        # Django recurses into dicts, lists and tuples through this same method, so
        # every string inside a setting passes here on its own.
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str):
            return mask_url_credentials(cleansed, self.cleansed_substitute)
        return cleansed

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, self._mask_variable(name, value))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]

    def _mask_variable(self, name: str, value):
        # A local named like a secret setting (password, token, api_key) is hidden as
        # the setting would be, whatever it holds.
        if self.hidden_settings.search(name):
            return self.cleansed_substitute
        if isinstance(value, str):
            return mask_url_credentials(value, self.cleansed_substitute)
        # Any other object is shown by its pretty-printed repr: mask that text.
        try:
            text = pformat(value)
        except Exception:
            return value  # the report says it could not format it
        masked = mask_url_credentials(text, self.cleansed_substitute)
        return value if masked == text else _MaskedRepr(masked)
