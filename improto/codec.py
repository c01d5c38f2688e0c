"""Payload encodings: JSON (WebSocket text) and MessagePack (WebSocket binary, TCP).

Both decoders accept exactly the same value domain, so a frame means the same in
either encoding: a map at the top, string keys, lists, valid Unicode strings
without lone surrogates, ints in -2**63..2**64-1, finite floats, booleans and
null, plus binary strings in MessagePack. Anything else is `bad_frame`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Literal

import msgpack
import orjson

from .errors import BAD_FRAME, ProtocolError
from .framing import encode_tcp_frame

Encoding = Literal["json", "msgpack"]
ENCODINGS: tuple[Encoding, ...] = ("json", "msgpack")

# A JSON text can only produce a lone surrogate through a \uD800-\uDFFF escape.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Rejected(Exception):
    pass


def _reject_constant(name: str) -> float:
    raise _Rejected(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # e.g. 1e999
        raise _Rejected("number out of range")
    return value


_MIN_INT = -(2**63)
_MAX_INT = 2**64 - 1


def _wire_int(text: str) -> int:
    value = int(text)
    if not _MIN_INT <= value <= _MAX_INT:  # keep JSON ints within what MessagePack carries
        raise _Rejected("integer out of range")
    return value


_json_decoder = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_wire_int
)
_SCALARS = (str, int, float, bool, type(None))


def _check_tree(root: dict, *, allow_bytes: bool, check_strings: bool) -> None:
    """Walk a decoded value iteratively (it may be deep) and enforce the value domain."""
    stack: list[object] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if type(key) is not str:
                    raise _Rejected("map keys must be strings")
                if check_strings and _SURROGATE.search(key):
                    raise _Rejected("lone surrogate")
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            if check_strings and _SURROGATE.search(node):
                raise _Rejected("lone surrogate")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise _Rejected("non-finite number")
        elif isinstance(node, _SCALARS) or (allow_bytes and isinstance(node, bytes)):
            pass
        else:  # msgpack Timestamp (decoded without reaching ext_hook) and anything else
            raise _Rejected("unsupported value type")


def _refuse_ext(code: int, data: bytes) -> object:
    raise _Rejected("extension types are not allowed")


def _decode_json(data: bytes | str) -> object:
    if isinstance(data, (bytes, bytearray, memoryview)):
        text = bytes(data).decode("utf-8")  # strict: invalid UTF-8 raises
    elif isinstance(data, str):
        text = data
        text.encode("utf-8")  # raises on lone surrogates in the text itself
    else:
        raise _Rejected("not text")
    obj = _json_decoder.decode(text)
    # The decoder hooks already exclude NaN and infinities and JSON keys are strings,
    # so the tree needs a walk only when an escape could have produced a lone surrogate.
    if isinstance(obj, dict) and _SURROGATE_ESCAPE.search(text):
        _check_tree(obj, allow_bytes=False, check_strings=True)
    return obj


def _decode_msgpack(data: bytes | str) -> object:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise _Rejected("not binary")
    obj = msgpack.unpackb(
        data,
        raw=False,
        strict_map_key=True,
        ext_hook=_refuse_ext,
        use_list=True,
    )
    if isinstance(obj, dict):
        # Strict UTF-8 decoding already excludes surrogates from msgpack strings.
        _check_tree(obj, allow_bytes=True, check_strings=False)
    return obj


def decode_payload(data: bytes | str, encoding: Encoding) -> dict:
    """Decode one frame payload into a dict; raise ProtocolError(bad_frame) on any failure."""
    if encoding == "json":
        decode = _decode_json
    elif encoding == "msgpack":
        decode = _decode_msgpack
    else:
        raise ValueError(f"unknown encoding {encoding!r}")
    try:
        obj = decode(data)
    # Any failure on client bytes is the client's fault, RecursionError included.
    except Exception:  # noqa: BLE001
        raise ProtocolError(BAD_FRAME, f"payload is not a valid {encoding} map") from None
    if not isinstance(obj, dict):
        raise ProtocolError(BAD_FRAME, "payload is not a map")
    return obj


def encode_json(obj: dict) -> bytes:
    """A frame as compact JSON in UTF-8 (what a WebSocket text frame carries).

    orjson is some fifteen times faster than the standard library here, and its value
    domain is the codec's (string keys, ints in -2**63..2**64-1, no lone surrogates),
    but it writes NaN and the infinities as null where a frame must refuse them: an
    output with a null in it is encoded again by the standard encoder, which does.
    The frames the server sends most (message, ack) hold no null.
    """
    if not isinstance(obj, dict):
        raise TypeError("a frame must be a dict")
    data = orjson.dumps(obj)
    if b"null" in data:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode()
    return data


def encode_payload(obj: dict, encoding: Encoding) -> bytes | str:
    """Encode a frame: JSON as compact text, MessagePack as bytes."""
    if not isinstance(obj, dict):
        raise TypeError("a frame must be a dict")
    if encoding == "json":
        return encode_json(obj).decode()
    if encoding == "msgpack":
        return msgpack.packb(obj, use_bin_type=True)
    raise ValueError(f"unknown encoding {encoding!r}")


def pack_tcp(obj: dict) -> bytes:
    """Encode a frame as MessagePack with the TCP length prefix."""
    return encode_tcp_frame(encode_payload(obj, "msgpack"))
