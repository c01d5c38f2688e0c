"""The one JSON parser of every REST endpoint (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES).

DRF's parser turns a ValueError into a 400 but lets a RecursionError through, so a
body of 100,000 nested brackets was a 500. Here it is a 400, and so is any body that
parses but nests deeper than MAX_JSON_DEPTH: no request of this API comes near that,
and nothing downstream (validation, error rendering) must ever walk such a structure.
"""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Levels of arrays and objects; the deepest request body of the API has 2.
MAX_JSON_DEPTH = 32
TOO_DEEP = f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels."


def json_depth_exceeds(data, limit: int) -> bool:
    """Whether `data` (parsed JSON) nests arrays and objects deeper than `limit`.
    Iterative, so the check itself cannot overflow the stack."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if json_depth_exceeds(data, MAX_JSON_DEPTH):
            raise ParseError(TOO_DEEP)
        return data
