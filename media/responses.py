"""Serving a stored file: streamed, and with headers that keep it inert."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import FileResponse, StreamingHttpResponse

from media.models import MediaFile
from media.sniffing import INLINE_MIMES

# default-src 'none' stops anything a file could load or run; sandbox gives it a
# unique origin with no scripts, forms or plugins even if a browser renders it.
CONTENT_SECURITY_POLICY = "default-src 'none'; sandbox"


class StreamedFileResponse(FileResponse):
    """FileResponse that Django's ASGI handler streams chunk by chunk.

    Given FileResponse's synchronous iterator, the ASGI handler first reads the whole
    file into a list (StreamingHttpResponse.__aiter__); an asynchronous iterator that
    reads each block in a worker thread is sent as it is read. Headers (length, type,
    disposition) are set from the file as FileResponse does.
    """

    block_size = 64 * 1024

    def _set_streaming_content(self, value):
        if not hasattr(value, "read"):
            return super()._set_streaming_content(value)
        self.file_to_stream = value
        self._resource_closers.append(value.close)
        self.set_headers(value)
        StreamingHttpResponse._set_streaming_content(self, _read_blocks(value, self.block_size))


async def _read_blocks(file, block_size: int):
    read = sync_to_async(file.read, thread_sensitive=False)
    while block := await read(block_size):
        yield block


def media_response(media: MediaFile, file) -> StreamedFileResponse:
    """The file's bytes under its sniffed type; in place only for the image, audio and
    video types browsers play, as an attachment for everything else."""
    response = StreamedFileResponse(
        file,
        content_type=media.mime,
        as_attachment=media.mime not in INLINE_MIMES,
        filename=media.name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    # Content under an id never changes, but access can end: only the user's own
    # cache may keep it, and not for long.
    response["Cache-Control"] = "private, max-age=3600"
    return response
