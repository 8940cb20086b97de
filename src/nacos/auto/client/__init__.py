"""The Nacos client: one per process per server configuration, sync and async, that heals itself.

```python
from nacos.auto.client import ClientOptions, Instance, NacosClient

client = NacosClient.shared(ClientOptions(server="127.0.0.1:8848"))
client.register_instance("user-service", Instance(ip="10.0.0.5", port=8000))
snapshot = client.subscribe("user-service", callback=lambda snap: print(snap.hosts))
```
"""

from nacos.auto.client.client import AsyncNacosClient, NacosClient
from nacos.auto.client.errors import (
    AuthenticationError,
    ConfigConflictError,
    NacosError,
    NacosUnavailableError,
    RequestFailedError,
)
from nacos.auto.client.naming import ServiceSnapshot
from nacos.auto.client.options import ClientOptions, TlsOptions
from nacos.auto.wire.models import Instance

__all__ = [
    "AsyncNacosClient",
    "AuthenticationError",
    "ClientOptions",
    "ConfigConflictError",
    "Instance",
    "NacosClient",
    "NacosError",
    "NacosUnavailableError",
    "RequestFailedError",
    "ServiceSnapshot",
    "TlsOptions",
]
