"""The SSRF guard: a user-supplied host is resolved, every address it resolves to is checked, and the connection
is made to a checked address (no second lookup a rebinding DNS server could answer differently).

Refused: loopback (unless `STORAGE_ALLOW_LOOPBACK`, the tests' setting), private, shared (100.64/10), link-local
(which holds the cloud metadata address 169.254.169.254), multicast, reserved and unspecified addresses, in IPv4
and IPv6 (an IPv4-mapped IPv6 address is judged as the IPv4 address it carries).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from django.conf import settings

from batchhub.core.storage.base import ErrorClass, TransportError, storage_timeout

_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


def address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return bool(settings.STORAGE_ALLOW_LOOPBACK)
    return ip.is_global and not ip.is_multicast


def _refused(host: str) -> TransportError:
    return TransportError(
        ErrorClass.FIX_ON_YOUR_SIDE,
        "address_refused",
        f"The host {host[:100]} points at a private or internal network address, which BatchHub does not connect "
        "to. Give the public host name or address of your server.",
    )


def host_resolve(host: str, port: int) -> list[tuple]:
    """The addresses (getaddrinfo tuples, TCP) of `host`, refused as a whole when any of them is not allowed."""
    host = (host or "").strip().rstrip(".")
    if not host or "\x00" in host or host.lower() in _METADATA_HOSTS:
        raise _refused(host or "(empty)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            raise TransportError(
                ErrorClass.TRANSIENT,
                "dns_temporary",
                f"The name {host[:100]} could not be resolved just now (temporary DNS failure); it will be retried.",
            ) from None
        raise TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "dns_unknown",
            f"The host name {host[:100]} does not exist. Check the spelling of the host.",
        ) from None
    except (UnicodeError, ValueError):
        raise _refused(host) from None
    if not infos or not all(address_allowed(info[4][0]) for info in infos):
        raise _refused(host)
    return infos


def connect_checked(host: str, port: int, timeout: float | None = None) -> socket.socket:
    """A TCP connection to `host`, made to an address checked by `host_resolve` (tried in order)."""
    infos = host_resolve(host, port)
    try:
        return connect_first(infos, storage_timeout() if timeout is None else timeout)
    except OSError as exc:
        raise connection_error(host, exc) from None


def connect_first(
    infos: list[tuple],
    timeout: float,
    *,
    socket_options: Iterable[tuple] | None = None,
    source_address: tuple[str, int] | None = None,
) -> socket.socket:
    """A TCP connection to the first of `infos` (addresses `host_resolve` checked) that accepts one, with
    `socket_options` set before connecting; when none does, the last failure (an OSError) is raised as it is."""
    last: OSError = OSError("no address to connect to")
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        return sock
    raise last


def connection_error(host: str, exc: BaseException | None) -> TransportError:
    """A failed connection, classified: refused or unreachable or timed out is transient (the server may be
    restarting); the message names the host, never a credential."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return TransportError(
            ErrorClass.TRANSIENT,
            "timeout",
            f"The server {host[:100]} did not answer in time; it will be retried. If this persists, check that it "
            "is up and that your firewall lets BatchHub in.",
        )
    return TransportError(
        ErrorClass.TRANSIENT,
        "connection_failed",
        f"Could not connect to {host[:100]} (connection refused or reset); it will be retried. If this persists, "
        "check the host, the port and your firewall.",
    )
