"""The Django admin site, with the API's limits on failed logins.

The admin login page is a second door to every account; it takes the same policy and
the very same counters as POST /api/auth/login/ (accounts.login_limits), so a guesser
gains nothing by switching doors. Over the limit the page answers 429 with
Retry-After: JSON to a client that asks for it, plain text otherwise.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers

from accounts.login_limits import LoginThrottled, login_attempt_begin
from accounts.throttles import client_address

LOCKED_OUT = "Too many failed logins. Try again in {wait} seconds."


class LimitedAdminSite(admin.AdminSite):
    def login(self, request, extra_context=None):
        if request.method != "POST":
            return super().login(request, extra_context)
        username = request.POST.get("username", "")
        try:
            attempt = login_attempt_begin(address=client_address(request), username=username)
        except LoginThrottled as exc:
            return locked_out_response(request, exc.wait)
        before = request.user
        response = super().login(request, extra_context)
        # auth.login() replaces request.user: that is a login that succeeded.
        if request.user is not before and request.user.is_authenticated:
            attempt.succeeded()
        return response


def locked_out_response(request, wait: int) -> HttpResponse:
    message = LOCKED_OUT.format(wait=wait)
    if request.accepts("application/json") and not request.accepts("text/html"):
        response = JsonResponse({"detail": message}, status=429)
    else:
        response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(wait)
    add_never_cache_headers(response)
    return response
