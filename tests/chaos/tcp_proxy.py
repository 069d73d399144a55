"""The TCP proxy moved to :mod:`tests.tcp_proxy`; this name stays so that imports written
against it keep working. Import from ``tests.tcp_proxy``."""

from tests.tcp_proxy import DEFAULT_PORTS, TcpProxy, black_hole, free_port, proxy_for, proxy_to

__all__ = ["DEFAULT_PORTS", "TcpProxy", "black_hole", "free_port", "proxy_for", "proxy_to"]
