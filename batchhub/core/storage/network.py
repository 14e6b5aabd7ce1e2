"""The SSRF guard: a user-supplied host is resolved, every address it resolves to is checked, and the connection
is made to a checked address (no second lookup a rebinding DNS server could answer differently).

Refused: loopback (unless `STORAGE_ALLOW_LOOPBACK`, the tests' setting), private, shared (100.64/10), link-local
(which holds the cloud metadata address 169.254.169.254), multicast, reserved and unspecified addresses, in IPv4
and IPv6 (an IPv4-mapped IPv6 address is judged as the IPv4 address it carries), and every IPv6 form that embeds
an IPv4 address a gateway may route to (NAT64, 6to4, IPv4-compatible, SIIT, Teredo): Python 3.11.7's `is_global`
predates CVE-2024-4032's fix and takes most of them for global. What is judged is always the address `getaddrinfo`
answered, so an IPv4 address written in decimal, octal or hex (`2130706433`, `0x7f.1`, `0177.0.0.1`) is judged
as the dotted address it stands for.

The lookup runs in a thread of its own, waited for at most `storage_timeout()`: `getaddrinfo` takes no timeout,
and a DNS server that never answers would otherwise hold the job for as long as the system resolver's retries
last. A lookup that overruns is a transient `dns_timeout` (its thread ends on its own when the resolver gives up).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable

from django.conf import settings

from batchhub.core.storage.base import ErrorClass, TransportError, storage_timeout

_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


# IPv6 ranges that carry an IPv4 address for a translator or a tunnel to reach: refused whatever the IPv4 address
# (`::` and `::1`, inside `::/96`, are judged before as unspecified and loopback).
_IPV6_EMBEDDING_IPV4 = tuple(
    ipaddress.IPv6Network(network)
    for network in (
        "64:ff9b::/96",  # NAT64, well-known prefix (RFC 6052)
        "64:ff9b:1::/48",  # NAT64, local-use prefix (RFC 8215)
        "2002::/16",  # 6to4 (RFC 3056)
        "::/96",  # IPv4-compatible (RFC 4291, deprecated)
        "::ffff:0:0:0/96",  # SIIT, IPv4-translated (RFC 2765)
        "2001::/32",  # Teredo (RFC 4380)
    )
)
# IPv4 ranges that Python 3.11.7 takes for global although IANA says they are not (fixed with CVE-2024-4032).
_IPV4_NOT_GLOBAL = (ipaddress.IPv4Network("192.0.0.0/24"),)


def address_allowed(address: str) -> bool:
    """Whether BatchHub may connect to `address` (an IP address as `getaddrinfo` answers it)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return bool(settings.STORAGE_ALLOW_LOOPBACK)
    if ip.is_unspecified or ip.is_multicast or not ip.is_global:
        return False
    networks = _IPV6_EMBEDDING_IPV4 if isinstance(ip, ipaddress.IPv6Address) else _IPV4_NOT_GLOBAL
    return not any(ip in network for network in networks)


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
        infos = _getaddrinfo_within(host, port, storage_timeout())
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


def _getaddrinfo_within(host: str, port: int, timeout: float) -> list[tuple]:
    """`getaddrinfo` (TCP) for `host`, in a thread of its own waited for at most `timeout` seconds; an overrun is
    raised as a transient `dns_timeout`, the thread left to end when the resolver gives up (it holds nothing)."""
    outcome: dict[str, object] = {}

    def lookup() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except BaseException as exc:  # handed to the caller's thread as it is
            outcome["error"] = exc

    worker = threading.Thread(target=lookup, name="batchhub-dns-lookup", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TransportError(
            ErrorClass.TRANSIENT,
            "dns_timeout",
            f"The name {host[:100]} could not be resolved in time (the DNS server did not answer); it will be retried.",
        )
    if "error" in outcome:
        error = outcome.pop("error")
        raise error  # type: ignore[misc]
    return outcome["infos"]  # type: ignore[return-value]


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
