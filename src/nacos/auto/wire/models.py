"""Typed models of every Nacos gRPC request and response we speak.

Attribute names are snake_case; on the wire they are camelCase (see :mod:`nacos.auto.wire.codec`).
A model's wire type name (``metadata.type`` in the gRPC payload) is its Python class name, because Nacos
uses the Java simple class name and we mirror those names one to one.

Defaults follow what the official clients send and expect, so that a model built with no arguments
encodes to what a Java or Python client would put on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

DEFAULT_NAMESPACE = "public"
DEFAULT_GROUP = "DEFAULT_GROUP"
DEFAULT_CLUSTER = "DEFAULT"
GROUP_SEPARATOR = "@@"

# Error codes carried in ``errorCode`` (and mirrored in ``resultCode`` where Java expects it).
OK = 0
NOT_FOUND = 300
CONNECTION_UNREGISTERED = 301
NO_HANDLER = 302
BAD_REQUEST = 400
FORBIDDEN = 403
SERVER_ERROR = 500
UNAVAILABLE = 503

#: Instance metadata keys that tune server-side health checking of HTTP-registered instances (ms).
HEART_BEAT_INTERVAL_KEY = "preserved.heart.beat.interval"
HEART_BEAT_TIMEOUT_KEY = "preserved.heart.beat.timeout"
IP_DELETE_TIMEOUT_KEY = "preserved.ip.delete.timeout"


@dataclass(slots=True)
class Message:
    """Anything that travels in a gRPC ``Payload``: a request or a response."""

    module: ClassVar[str] = "internal"
    #: Extra wire names accepted when decoding (wire name -> attribute), for clients that misspell one.
    wire_aliases: ClassVar[dict[str, str]] = {}

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__


@dataclass(slots=True)
class Request(Message):
    headers: dict[str, str] = field(default_factory=dict)
    request_id: str = ""


@dataclass(slots=True)
class Response(Message):
    result_code: int = 200
    error_code: int = OK
    message: str = ""
    request_id: str = ""

    @property
    def success(self) -> bool:
        return self.error_code == OK and self.result_code == 200

    def fail(self, code: int, message: str) -> Response:
        """Mark this response failed; both codes are set because Java reads one and Python the other."""
        self.result_code = 500
        self.error_code = code
        self.message = message
        return self


# --------------------------------------------------------------------------- shared value objects


@dataclass(slots=True)
class Instance:
    ip: str = ""
    port: int = 0
    weight: float = 1.0
    healthy: bool = True
    enabled: bool = True
    ephemeral: bool = True
    cluster_name: str = DEFAULT_CLUSTER
    service_name: str = ""
    instance_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    instance_heart_beat_interval: int = 5000
    instance_heart_beat_time_out: int = 15000
    ip_delete_timeout: int = 30000


@dataclass(slots=True)
class ServiceInfo:
    name: str = ""
    group_name: str = DEFAULT_GROUP
    clusters: str = ""
    cache_millis: int = 10000
    hosts: list[Instance] = field(default_factory=list)
    last_ref_time: int = 0
    checksum: str = ""
    all_ips: bool = False
    reach_protection_threshold: bool = False
    valid: bool = True


@dataclass(slots=True)
class ConfigListenContext:
    data_id: str = ""
    group: str = ""
    tenant: str = ""
    md5: str = ""


@dataclass(slots=True)
class ConfigContext:
    data_id: str = ""
    group: str = ""
    tenant: str = ""


# --------------------------------------------------------------------------- internal


@dataclass(slots=True)
class ServerCheckRequest(Request):
    pass


@dataclass(slots=True)
class ServerCheckResponse(Response):
    connection_id: str = ""
    support_ability_negotiation: bool = False


@dataclass(slots=True)
class ConnectionSetupRequest(Request):
    client_version: str = ""
    tenant: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    ability_table: dict[str, bool] = field(default_factory=dict)


@dataclass(slots=True)
class SetupAckRequest(Request):
    ability_table: dict[str, bool] = field(default_factory=dict)


@dataclass(slots=True)
class SetupAckResponse(Response):
    pass


@dataclass(slots=True)
class HealthCheckRequest(Request):
    pass


@dataclass(slots=True)
class HealthCheckResponse(Response):
    pass


@dataclass(slots=True)
class ClientDetectionRequest(Request):
    pass


@dataclass(slots=True)
class ClientDetectionResponse(Response):
    pass


@dataclass(slots=True)
class ConnectResetRequest(Request):
    server_ip: str = ""
    server_port: str = ""


@dataclass(slots=True)
class ConnectResetResponse(Response):
    pass


@dataclass(slots=True)
class ErrorResponse(Response):
    result_code: int = 500


# --------------------------------------------------------------------------- naming


@dataclass(slots=True)
class NamingRequest(Request):
    module: ClassVar[str] = "naming"
    namespace: str = ""
    service_name: str = ""
    group_name: str = ""


@dataclass(slots=True)
class InstanceRequest(NamingRequest):
    type: str = "registerInstance"
    instance: Instance | None = None


@dataclass(slots=True)
class PersistentInstanceRequest(NamingRequest):
    type: str = "registerInstance"
    instance: Instance | None = None


@dataclass(slots=True)
class BatchInstanceRequest(NamingRequest):
    type: str = "batchRegisterInstance"
    instances: list[Instance] = field(default_factory=list)


@dataclass(slots=True)
class InstanceResponse(Response):
    type: str = ""


@dataclass(slots=True)
class BatchInstanceResponse(Response):
    type: str = ""


@dataclass(slots=True)
class SubscribeServiceRequest(NamingRequest):
    subscribe: bool = True
    clusters: str = ""


@dataclass(slots=True)
class SubscribeServiceResponse(Response):
    service_info: ServiceInfo | None = None


@dataclass(slots=True)
class NotifySubscriberRequest(NamingRequest):
    service_info: ServiceInfo | None = None


@dataclass(slots=True)
class NotifySubscriberResponse(Response):
    pass


@dataclass(slots=True)
class ServiceQueryRequest(NamingRequest):
    # nacos-sdk-python sends ``healthOnly``; Java sends ``healthyOnly``.
    wire_aliases: ClassVar[dict[str, str]] = {"healthOnly": "healthy_only"}
    cluster: str = ""
    healthy_only: bool = False
    udp_port: int = 0


@dataclass(slots=True)
class QueryServiceResponse(Response):
    service_info: ServiceInfo | None = None


@dataclass(slots=True)
class ServiceListRequest(NamingRequest):
    page_no: int = 1
    page_size: int = 10
    selector: str = ""


@dataclass(slots=True)
class ServiceListResponse(Response):
    count: int = 0
    service_names: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- config


@dataclass(slots=True)
class ConfigRequest(Request):
    module: ClassVar[str] = "config"
    data_id: str = ""
    group: str = ""
    tenant: str = ""


@dataclass(slots=True)
class ConfigQueryRequest(ConfigRequest):
    tag: str = ""


@dataclass(slots=True)
class ConfigQueryResponse(Response):
    content: str = ""
    encrypted_data_key: str = ""
    content_type: str = ""
    md5: str = ""
    last_modified: int = 0
    beta: bool = False
    # Omitted unless set: nacos-sdk-python declares ``tag`` as a bool and rejects a string there.
    tag: str | None = None


@dataclass(slots=True)
class ConfigPublishRequest(ConfigRequest):
    content: str = ""
    cas_md5: str = ""
    addition_map: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class ConfigPublishResponse(Response):
    pass


@dataclass(slots=True)
class ConfigRemoveRequest(ConfigRequest):
    tag: str = ""


@dataclass(slots=True)
class ConfigRemoveResponse(Response):
    pass


@dataclass(slots=True)
class ConfigBatchListenRequest(ConfigRequest):
    listen: bool = True
    config_listen_contexts: list[ConfigListenContext] = field(default_factory=list)


@dataclass(slots=True)
class ConfigChangeBatchListenResponse(Response):
    changed_configs: list[ConfigContext] = field(default_factory=list)


@dataclass(slots=True)
class ConfigChangeNotifyRequest(ConfigRequest):
    pass


@dataclass(slots=True)
class ConfigChangeNotifyResponse(Response):
    pass


#: Every model that may appear as ``metadata.type``, by that name.
MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.__name__: cls
    for cls in (
        ServerCheckRequest,
        ServerCheckResponse,
        ConnectionSetupRequest,
        SetupAckRequest,
        SetupAckResponse,
        HealthCheckRequest,
        HealthCheckResponse,
        ClientDetectionRequest,
        ClientDetectionResponse,
        ConnectResetRequest,
        ConnectResetResponse,
        ErrorResponse,
        InstanceRequest,
        PersistentInstanceRequest,
        BatchInstanceRequest,
        InstanceResponse,
        BatchInstanceResponse,
        SubscribeServiceRequest,
        SubscribeServiceResponse,
        NotifySubscriberRequest,
        NotifySubscriberResponse,
        ServiceQueryRequest,
        QueryServiceResponse,
        ServiceListRequest,
        ServiceListResponse,
        ConfigQueryRequest,
        ConfigQueryResponse,
        ConfigPublishRequest,
        ConfigPublishResponse,
        ConfigRemoveRequest,
        ConfigRemoveResponse,
        ConfigBatchListenRequest,
        ConfigChangeBatchListenResponse,
        ConfigChangeNotifyRequest,
        ConfigChangeNotifyResponse,
    )
}


def grouped_name(group: str, service: str) -> str:
    """``group@@service``, the form Nacos uses inside instances and v1 answers."""
    return f"{group}{GROUP_SEPARATOR}{service}"


def split_grouped_name(name: str, default_group: str = DEFAULT_GROUP) -> tuple[str, str]:
    """Split ``group@@service`` (or a plain service name) into (group, service)."""
    if GROUP_SEPARATOR in name:
        group, _, service = name.partition(GROUP_SEPARATOR)
        return group or default_group, service
    return default_group, name


def instance_id(ip: str, port: int, cluster: str, group: str, service: str) -> str:
    """The id Nacos gives an instance: ``ip#port#cluster#group@@service``."""
    return f"{ip}#{port}#{cluster}#{grouped_name(group, service)}"
