"""AK/SK request signing as Nacos clients do it (verified by Alibaba Cloud MSE, not by open-source Nacos).

Naming requests carry ``ak``, ``data`` (``<ms>@@<group>@@<service>``) and ``signature``; config requests
carry ``Spas-AccessKey``, ``Timestamp`` and ``Spas-Signature`` over ``<tenant>+<group>+<ms>``. Signatures
are base64 HMAC-SHA1 with the secret key. Keys are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from nacos.auto.wire import models


def sign(data: str, secret_key: str) -> str:
    digest = hmac.new(secret_key.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def naming_headers(access_key: str, secret_key: str, group: str, service: str, now_ms: int) -> dict[str, str]:
    data = f"{now_ms}@@{models.grouped_name(group, service)}" if service else str(now_ms)
    return {"ak": access_key, "data": data, "signature": sign(data, secret_key)}


def config_headers(access_key: str, secret_key: str, tenant: str, group: str, now_ms: int) -> dict[str, str]:
    timestamp = str(now_ms)
    resource = f"{tenant}+{group}" if tenant.strip() and group.strip() else group.strip()
    signed = f"{resource}+{timestamp}" if resource else timestamp
    return {"Spas-AccessKey": access_key, "Timestamp": timestamp, "Spas-Signature": sign(signed, secret_key)}


def sign_request(request: models.Request, access_key: str, secret_key: str, now_ms: int) -> None:
    """Add the signature headers a request of this kind carries."""
    if isinstance(request, models.NamingRequest):
        group = request.group_name or models.DEFAULT_GROUP
        request.headers.update(naming_headers(access_key, secret_key, group, request.service_name, now_ms))
    elif isinstance(request, models.ConfigRequest):
        request.headers.update(config_headers(access_key, secret_key, request.tenant, request.group, now_ms))
