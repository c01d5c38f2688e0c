"""Listening ports shared by the worker processes of `imserver --workers N`.

Each worker opens its own listening socket on the same address with SO_REUSEPORT, and
the kernel spreads new connections over the workers' sockets. The supervisor holds a
socket bound (never listening) to each port for its whole life: that reserves the
port between a worker's death and its restart, turns `--http-port 0` into one port
all workers share, and a bound socket that does not listen is given no connections.
"""

from __future__ import annotations

import socket

AVAILABLE = hasattr(socket, "SO_REUSEPORT")


def _socket(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def reserve(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) that does not listen; port 0 picks a free one."""
    return _socket(host, port)


def reserve_run(host: str, port: int, count: int) -> list[socket.socket]:
    """Sockets bound to port, port + 1, ..., port + count - 1 (worker i's own port is
    the given one plus i). Port 0: the first run of `count` free ports found."""
    if port:
        return [reserve(host, port + i) for i in range(count)]
    for _ in range(100):
        first = reserve(host, 0)
        base = first.getsockname()[1]
        if base + count - 1 > 65535:
            first.close()
            continue
        run = [first]
        try:
            run.extend(reserve(host, base + i) for i in range(1, count))
        except OSError:
            for sock in run:
                sock.close()
            continue
        return run
    raise OSError(f"no run of {count} free ports on {host}")


def listen(host: str, port: int, backlog: int) -> socket.socket:
    """This worker's listening socket on the shared (host, port)."""
    sock = _socket(host, port)
    sock.listen(backlog)
    return sock
