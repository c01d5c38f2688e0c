"""The upload limit, enforced while the multipart body is parsed.

`LimitedUploadHandler` (settings.FILE_UPLOAD_HANDLERS) refuses a request whose
Content-Length already says too much before parsing, and counts the file bytes as
they stream to a temporary file, deleting it and stopping once past the limit. The
limit is IM_MAX_UPLOAD_BYTES for the file; the request may carry
MULTIPART_OVERHEAD more for the multipart framing.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from rest_framework import status
from rest_framework.exceptions import APIException

# Boundaries and part headers around the file; Django refuses part headers over 10 KiB.
MULTIPART_OVERHEAD = 64 * 1024


class UploadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self) -> None:
        super().__init__(f"The file is larger than {settings.IM_MAX_UPLOAD_BYTES} bytes.")


def max_request_bytes() -> int:
    return settings.IM_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD


class LimitedUploadHandler(TemporaryFileUploadHandler):
    """Every file of a request to disk, never more than IM_MAX_UPLOAD_BYTES in total."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > max_request_bytes():
            raise UploadTooLarge()
        self.received = 0
        return None  # go on: Django parses, this handler receives the file chunks

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.IM_MAX_UPLOAD_BYTES:
            self.upload_interrupted()  # closes and removes the partial temporary file
            raise UploadTooLarge()
        return super().receive_data_chunk(raw_data, start)
