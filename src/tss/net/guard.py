"""Which addresses an outbound connection may reach: the SSRF guard's policy.

A job's URL is written by a user, so without a guard a webhook could reach what only the
worker can reach: ``127.0.0.1:5432``, the cloud's metadata service (``169.254.169.254``,
which hands out credentials), the office network. The policy is applied to the *address a
host name resolves to*, when connecting (:mod:`tss.net.transport`): the name is resolved
once, each address is checked, and the connection goes to a checked address, so neither a
DNS answer that changes between check and use (rebinding) nor a spelling of an address
(``2130706433``, ``0x7f.1``, ``[::ffff:127.0.0.1]``) gets past it; the resolver turns
every spelling into an address and only the address is judged, never the text.

Refused unless the config allows them: every address that is not globally routable
(private, loopback, link-local, unspecified, reserved, shared/CGNAT ``100.64/10``,
benchmarking, documentation...), multicast, IPv6 site-local, and IPv6 addresses that carry
an IPv4 one (IPv4-mapped, 6to4, Teredo, NAT64) when that IPv4 address is refused.
``allow_private`` allows all of these except cloud metadata addresses
(:data:`METADATA`), which only an ``allow`` entry naming them (a network or the host name)
allows.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tss.errors import TSSError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``resolve(host, port)``: the addresses a connection to ``host`` may use, in order
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

#: cloud metadata services: AWS/GCP/Azure/OpenStack, AWS ECS task metadata, AWS IPv6,
#: Alibaba, Oracle; and Azure's platform address, which is globally routable
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "fd00:ec2::254",
        "100.100.100.200",
        "192.0.0.192",
        "168.63.129.16",
    )
)
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HOST_NAME = re.compile(r"(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_-]{1,63}")


class AddressRefused(TSSError):
    """A connection was refused by the address policy: the message names the host, the
    address and the config key that would allow it."""

    code = "address_refused"


def category(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address (``"loopback"``, ``"private"``...),
    or None when it is one. Addresses that carry an IPv4 address are judged by it too."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded(address)
        if inner is not None:
            why = category(inner)
            if why is not None:
                return f"{why} (IPv4 {inner} inside an IPv6)"
        if address.is_site_local:
            return "site-local"
    for name in ("unspecified", "loopback", "link_local", "multicast", "reserved"):
        if getattr(address, f"is_{name}"):
            return name.replace("_", "-")
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "shared (carrier-grade NAT)"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "non-global"
    return None


def _embedded(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: mapped, 6to4, Teredo's client, NAT64."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def normal_host(host: str) -> str:
    """A host name as compared: lower case, no trailing dot, no IPv6 brackets."""
    return host.strip().strip("[]").rstrip(".").lower()


def parse_allow(entry: str) -> IPNetwork | str:
    """One ``allow`` entry: a network (``10.0.0.0/8``, ``::1``: an address is its /32 or
    /128) or a host name, exact or ``*.``-prefixed (any name below it).

    :raises ValueError: neither, with a sentence saying so.
    """
    text = entry.strip()
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    name = normal_host(text)
    if not name or len(name) > 253 or not _HOST_NAME.fullmatch(name):
        raise ValueError(
            f"{entry!r} is neither a network (10.0.0.0/8, 127.0.0.1/32, fd00::/8) nor a host "
            "name (hooks.internal.example, *.internal.example)"
        )
    return name


@dataclass(frozen=True)
class AddressPolicy:
    """What may be connected to. ``key`` is the config section the messages name."""

    allow_private: bool = False
    allow: Sequence[str] = ()
    key: str = "http"
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False)
    _names: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        parsed = [parse_allow(entry) for entry in self.allow]
        nets = tuple(p for p in parsed if not isinstance(p, str))
        object.__setattr__(self, "_networks", nets)
        object.__setattr__(self, "_names", frozenset(p for p in parsed if isinstance(p, str)))

    def host_allowed(self, host: str) -> bool:
        """Whether ``host`` is a name the ``allow`` list names (then any address it
        resolves to may be used: the operator vouches for the name)."""
        name = normal_host(host)
        if name in self._names:
            return True
        return any(n.startswith("*.") and name.endswith(n[1:]) for n in self._names)

    def refusal(self, host: str, address: IPAddress) -> str | None:
        """Why connecting to ``address`` (resolved from ``host``) is refused, in words
        naming the config key that would allow it; None when it is allowed."""
        if self.host_allowed(host) or any(address in net for net in self._networks):
            return None
        unwrapped = _embedded(address) if isinstance(address, ipaddress.IPv6Address) else None
        if address in METADATA or unwrapped in METADATA:
            return (
                f"{self._what(host, address)} a cloud metadata address; only "
                f'{self.key}.allow naming it allows it (e.g. ["{address}/{address.max_prefixlen}"])'
            )
        why = category(address)
        if why is None or self.allow_private:
            return None
        return (
            f"{self._what(host, address)} {'an' if why[0] in 'aeiou' else 'a'} {why} address; "
            "TSS refuses it unless the config "
            f'allows it: {self.key}.allow: ["{address}/{address.max_prefixlen}"] or '
            f"{self.key}.allow_private: true"
        )

    def check(self, host: str, addresses: Iterable[IPAddress]) -> list[IPAddress]:
        """The addresses of ``host`` a connection may use, in order.

        :raises AddressRefused: none may, naming the first address and why.
        """
        found = list(addresses)
        allowed = [a for a in found if self.refusal(host, a) is None]
        if allowed:
            return allowed
        if not found:
            raise AddressRefused(f"{host} resolves to no address")
        reason = self.refusal(host, found[0])
        raise AddressRefused(f"refused to connect: {reason}")

    @staticmethod
    def _what(host: str, address: IPAddress) -> str:
        try:
            written = ipaddress.ip_address(normal_host(host))
        except ValueError:
            written = None
        if written == address:
            return f"{host} is"
        return f"{host} resolves to {address},"


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to (the system's resolver, off the event loop; an
    address written as one is taken as it is). Every spelling the C library accepts
    (``2130706433``, ``0x7f.1``) comes back as the address it means.

    :raises OSError: the name does not resolve.
    """
    try:
        return [ipaddress.ip_address(normal_host(host))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    seen: dict[IPAddress, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"): the address is before it.
        seen.setdefault(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]), None)
    return list(seen)
