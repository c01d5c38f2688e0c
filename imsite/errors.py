"""Every REST error is a 4xx with a JSON body.

DRF already answers its own exceptions in JSON; this handler adds Django's
Http404/PermissionDenied (DRF does too) and turns anything a view lets escape from
validation in the model layer into a 400 rather than a 500.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler


def api_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    return exception_handler(exc, context)


@csrf_exempt
def json_not_found(request, exception=None):
    return JsonResponse({"detail": "Not found."}, status=404)


def json_server_error(request):
    return JsonResponse({"detail": "Internal server error."}, status=500)


def json_bad_request(request, exception=None):
    return JsonResponse({"detail": "Bad request."}, status=400)


def json_forbidden(request, exception=None):
    return JsonResponse({"detail": "Forbidden."}, status=403)


def json_csrf_failure(request, reason=""):
    return JsonResponse({"detail": f"CSRF check failed: {reason}"}, status=403)
