"""Checks on names and values coming from clients, with the messages Nacos users expect.

Real Nacos (2.3+) rejects malformed names with a 400 before touching its state; we do the same, so a
client that works against us does not later fail against a real cluster.
"""

from __future__ import annotations

import math
import re

from nacos.auto.wire import models

MAX_CONFIG_BYTES = 10 * 1024 * 1024
MAX_METADATA_BYTES = 64 * 1024

_CONFIG_NAME = re.compile(r"^[a-zA-Z0-9_.:\-]+$")
_NAMESPACE = re.compile(r"^[\w\-]+$")
_CLUSTER = re.compile(r"^[0-9a-zA-Z_\-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class InvalidParameter(ValueError):
    """A request parameter Nacos would refuse; the message names the parameter and the value."""


def _show(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")


def check_namespace(namespace: str) -> str:
    if len(namespace) > 128 or not _NAMESPACE.match(namespace):
        raise InvalidParameter(f"namespace {_show(namespace)} is invalid: use letters, digits, '_' and '-'")
    return namespace


def check_service_name(name: str, what: str = "serviceName") -> str:
    if not name or not name.strip():
        raise InvalidParameter(f"{what} is required")
    if len(name) > 512:
        raise InvalidParameter(f"{what} is longer than 512 characters")
    if models.GROUP_SEPARATOR in name or name.startswith("@"):
        raise InvalidParameter(f"{what} {_show(name)} is invalid: it must not contain '@@'")
    if _CONTROL.search(name):
        raise InvalidParameter(f"{what} {_show(name)} contains control characters")
    return name


def check_group(group: str) -> str:
    if len(group) > 128:
        raise InvalidParameter("groupName is longer than 128 characters")
    return check_service_name(group, "groupName")


def check_instance(instance: models.Instance) -> models.Instance:
    if not instance.ip or len(instance.ip) > 128 or _CONTROL.search(instance.ip) or " " in instance.ip:
        raise InvalidParameter(f"ip {_show(instance.ip)} is invalid")
    if not 0 <= instance.port <= 65535:
        raise InvalidParameter(f"port {instance.port} is out of range 0..65535")
    if not math.isfinite(instance.weight) or not 0.0 <= instance.weight <= 10000.0:
        raise InvalidParameter(f"weight {instance.weight} is out of range 0..10000")
    cluster = instance.cluster_name or models.DEFAULT_CLUSTER
    if len(cluster) > 64 or not _CLUSTER.match(cluster):
        raise InvalidParameter(f"clusterName {_show(cluster)} is invalid: use letters, digits, '_' and '-'")
    instance.cluster_name = cluster
    if any(_SURROGATE.search(k) or _SURROGATE.search(v) for k, v in instance.metadata.items()):
        raise InvalidParameter("metadata contains an unpaired surrogate (invalid \\u escape)")
    size = sum(len(k) + len(v) for k, v in instance.metadata.items())
    if size > MAX_METADATA_BYTES:
        raise InvalidParameter(f"metadata is {size} bytes, more than {MAX_METADATA_BYTES}")
    for key in (models.HEART_BEAT_TIMEOUT_KEY, models.IP_DELETE_TIMEOUT_KEY, models.HEART_BEAT_INTERVAL_KEY):
        if key in instance.metadata:
            try:
                if int(instance.metadata[key]) <= 0:
                    raise ValueError
            except ValueError:
                raise InvalidParameter(
                    f"metadata {key}={_show(instance.metadata[key])} must be a positive number of ms"
                ) from None
    return instance


def check_config_key(data_id: str, group: str) -> None:
    for what, value in (("dataId", data_id), ("group", group)):
        if not value:
            raise InvalidParameter(f"{what} is required")
        if len(value) > 256 or not _CONFIG_NAME.match(value):
            raise InvalidParameter(f"{what} {_show(value)} is invalid: use letters, digits and '_', '-', '.', ':'")


def check_config_content(data_id: str, content: str) -> None:
    if not content:
        raise InvalidParameter(f"content of {data_id!r} is empty")
    size = len(content.encode("utf-8"))
    if size > MAX_CONFIG_BYTES:
        raise InvalidParameter(
            f"content of {data_id!r} is {size} bytes, more than the limit of {MAX_CONFIG_BYTES} bytes"
        )
