"""What a push target may be, and the refusal of private addresses (section 10)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from notifications.models import DeviceKind

MAX_TOKEN = 4096


class TargetRefused(ValueError):
    pass


def target_check(kind: str, target: object) -> None:
    """Raise TargetRefused unless `target` is a valid target of `kind`."""
    if kind == DeviceKind.WEBHOOK:
        if not isinstance(target, str):
            raise TargetRefused("a webhook target is an http(s) URL")
        url_check(target)
    elif kind == DeviceKind.WEBPUSH:
        keys = target.get("keys") if isinstance(target, dict) else None
        if not (isinstance(target, dict) and isinstance(target.get("endpoint"), str)
                and isinstance(keys, dict) and all(
                    isinstance(keys.get(k), str) and 0 < len(keys[k]) <= 256
                    for k in ("p256dh", "auth"))):
            raise TargetRefused("a webpush target is {endpoint, keys: {p256dh, auth}}")
        url_check(target["endpoint"])
    elif not (isinstance(target, str) and 0 < len(target) <= MAX_TOKEN and target.isprintable()):
        raise TargetRefused(f"a {kind} target is a device token (a string)")


def url_check(url: str) -> None:
    """An http(s) URL whose host is not private (unless IM_PUSH_ALLOW_PRIVATE)."""
    if len(url) > 2000:
        raise TargetRefused("URL too long")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused("not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("not an http(s) URL")
    address_check(parts.hostname, port or (443 if parts.scheme == "https" else 80))


def address_check(host: str, port: int) -> None:
    """Resolve the host; refuse it if any address is private, loopback or reserved."""
    if settings.IM_PUSH_ALLOW_PRIVATE:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise TargetRefused(f"cannot resolve {host!r}") from None
    public_addresses(host, infos)


def public_addresses(host: str, infos: list) -> list:
    """The getaddrinfo answers `infos` for `host`, unless one of them is a private,
    loopback, reserved or multicast address (then TargetRefused)."""
    for info in infos:
        if not is_public(ipaddress.ip_address(info[4][0].split("%")[0])):
            raise TargetRefused(f"{host!r} is a private or reserved address")
    return infos


NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Global and not multicast; an IPv6 address that embeds an IPv4 one (mapped,
    compatible, 6to4, Teredo, NAT64) only if that one is public too."""
    if not address.is_global or address.is_multicast:
        return False
    if address.version == 6:
        low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        embedded = (address.ipv4_mapped or address.sixtofour
                    or (address.teredo[1] if address.teredo else None)
                    or (low if int(address) >> 32 == 0 or address in NAT64 else None))
        if embedded is not None:
            return is_public(embedded)
    return True
