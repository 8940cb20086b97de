"""AK/SK signatures: the strings signed and the header names Nacos' Java client uses."""

from __future__ import annotations

import base64
import hashlib
import hmac

from nacos.auto.client.signing import config_headers, naming_headers, sign, sign_request
from nacos.auto.wire import models


def reference(data: str, key: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), data.encode(), hashlib.sha1).digest()).decode()


def test_sign_is_base64_hmac_sha1() -> None:
    assert sign("1700000000000@@G@@svc", "sk") == reference("1700000000000@@G@@svc", "sk")
    assert sign("x", "sk") != sign("x", "other")


def test_naming_headers_sign_time_and_grouped_service() -> None:
    headers = naming_headers("ak1", "sk1", "G", "svc", 1700000000000)
    assert headers == {
        "ak": "ak1",
        "data": "1700000000000@@G@@svc",
        "signature": reference("1700000000000@@G@@svc", "sk1"),
    }
    assert naming_headers("ak1", "sk1", "G", "", 5)["data"] == "5"


def test_config_headers_sign_tenant_group_and_time() -> None:
    with_tenant = config_headers("ak1", "sk1", "dev", "G", 42)
    assert with_tenant == {"Spas-AccessKey": "ak1", "Timestamp": "42", "Spas-Signature": reference("dev+G+42", "sk1")}
    assert config_headers("ak1", "sk1", "", "G", 42)["Spas-Signature"] == reference("G+42", "sk1")
    assert config_headers("ak1", "sk1", "", "", 42)["Spas-Signature"] == reference("42", "sk1")


def test_sign_request_picks_the_scheme_by_module() -> None:
    naming = models.InstanceRequest(service_name="svc", group_name="")
    sign_request(naming, "ak", "sk", 7)
    assert naming.headers["data"] == "7@@DEFAULT_GROUP@@svc"
    config = models.ConfigQueryRequest(data_id="d", group="G", tenant="public")
    sign_request(config, "ak", "sk", 7)
    assert config.headers["Spas-Signature"] == reference("public+G+7", "sk")
    internal = models.HealthCheckRequest()
    sign_request(internal, "ak", "sk", 7)
    assert internal.headers == {}
