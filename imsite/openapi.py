"""What the OpenAPI document says of DRF fields, where drf-spectacular says too little.

Registered by import (accounts.apps.AccountsConfig.ready): drf-spectacular finds
extensions among the subclasses of its extension classes.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema


class NonEmptyFileFieldSchema(OpenApiSerializerFieldExtension):
    """A FileField that refuses an empty file (allow_empty_file=False, DRF's default)
    says so: `minLength: 1` on its binary string."""

    target_class = "rest_framework.fields.FileField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "request" and not self.target.allow_empty_file:
            schema["minLength"] = 1
        return schema


class DeleteWithBodySchema(AutoSchema):
    """For a view whose DELETE takes a JSON body (DELETE /api/users/me/ {password}):
    drf-spectacular documents request bodies of PUT, PATCH and POST only."""

    def _get_request_body(self, direction="request"):
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"


_DETAIL_ERROR = {"$ref": "#/components/schemas/DetailError"}
_BODY_ERRORS = {
    "400": "Malformed JSON (also nested deeper than 32 levels), or field errors "
           "{field: [messages]}.",
    "413": "Request body over the server's limit (IM_MAX_UPLOAD_BYTES); refused before it "
           "is read.",
    "415": "A body in another format than the one documented.",
}


def document_common_errors(result, generator, request, public):
    """drf-spectacular postprocessing hook: the errors every operation of a kind can
    answer, wherever a view's own annotations leave them out, so that the document
    lists every status the server really sends."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            security = operation.get("security", [])
            if security and {} not in security:
                responses.setdefault("401", _error("Missing, expired or revoked token."))
            if "requestBody" in operation:
                for status, description in _BODY_ERRORS.items():
                    responses.setdefault(status, _error(description))
    return result


def _error(description: str) -> dict:
    return {"content": {"application/json": {"schema": _DETAIL_ERROR}},
            "description": description}
