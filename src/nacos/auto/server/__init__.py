"""The embedded, single-node, Nacos-compatible registry (``nacos-serving server``).

It speaks enough of Nacos' gRPC and HTTP protocols that the official clients cannot tell it from a
real Nacos for registration, discovery with push, and configuration. Real Nacos stays the production
engine.
"""

from nacos.auto.server.app import PortInUse, RegistryServer, ServerOptions

__all__ = ["PortInUse", "RegistryServer", "ServerOptions"]
