"""The outbound address policy every node that calls out shares (ARCHITECTURE.md §7).

Unless the run may reach private networks (``ctx.allow_private_networks``, set from
``PLAIT_ALLOW_PRIVATE_NETWORKS``), a node resolves each host itself and refuses any
that resolves to a private, loopback, link-local, multicast, reserved or unspecified
address, on every redirect hop. ``guarded_client`` gives an ``httpx.AsyncClient``
that applies the policy to every request it sends, redirects included; nodes that
follow redirects themselves call ``check_host`` per hop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import TYPE_CHECKING

from plait.node_runner.errors import KIND_CONNECTION, NodeError
from plait.node_runner.sdk import RunContext

if TYPE_CHECKING:
    import httpx

KIND_FORBIDDEN_ADDRESS = "forbidden_address"


async def _resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NodeError(KIND_CONNECTION, f"cannot resolve host {host!r}: {exc.strerror}") from None
    return [str(info[4][0]) for info in infos]


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels to, if any (mapped, 6to4, Teredo)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def _forbidden_reason(address: str) -> str | None:
    """Why a node may not connect to ``address``, or ``None`` when it may."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        # A loopback or private IPv4 address wrapped in IPv6 reaches the same host.
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = _forbidden_reason(str(inner))
            if reason is not None:
                return reason
    for label, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        # Not globally routable though in no range above, e.g. carrier-grade NAT.
        ("non-public", not ip.is_global),
    ):
        if flag:
            return f"a {label} address"
    return None


async def check_host(url: httpx.URL) -> None:
    """Refuse ``url`` when its host resolves to any address a node may not reach."""
    addresses = await _resolve(url.host)
    for address in addresses:
        reason = _forbidden_reason(address)
        if reason is not None:
            raise NodeError(
                KIND_FORBIDDEN_ADDRESS,
                f"refusing to connect to {url.host!r}: it resolves to {address}, {reason}."
                " Requests to private networks are allowed only when"
                " PLAIT_ALLOW_PRIVATE_NETWORKS=1",
                details={"host": url.host, "address": address},
            )


def guarded_client(ctx: RunContext, *, timeout: float, **kwargs: object) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that checks every request's host against the policy.

    The check runs as a request hook, so it covers each redirect hop httpx follows.
    """
    import httpx

    hooks: dict[str, list[object]] = {"request": []}
    if not ctx.allow_private_networks:

        async def check(request: httpx.Request) -> None:
            await check_host(request.url)

        hooks["request"].append(check)
    return httpx.AsyncClient(timeout=timeout, event_hooks=hooks, **kwargs)  # type: ignore[arg-type]
