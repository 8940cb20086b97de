"""Fuzzing the payload decoder: whatever arrives, ``decode`` returns a model or raises WireDecodeError.

Anything else escaping (TypeError, KeyError, RecursionError, OverflowError, ...) would surface in the
server as a gRPC UNKNOWN status instead of a Nacos error response, or end a bi-stream.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import typing
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nacos.auto.wire import codec, models
from nacos.auto.wire.proto import Payload

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TYPE_NAMES = sorted(models.MESSAGE_TYPES)


def _all_wire_names() -> list[str]:
    """Every wire field name of every model and nested value object, plus the aliases."""
    names: set[str] = set()
    seen: set[type] = set()

    def walk(cls: type) -> None:
        if cls in seen:
            return
        seen.add(cls)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            names.add(codec.camel(f.name))
            for arg in (hints[f.name], *typing.get_args(hints[f.name])):
                if dataclasses.is_dataclass(arg):
                    walk(arg)
        names.update(getattr(cls, "wire_aliases", {}))

    for cls in models.MESSAGE_TYPES.values():
        walk(cls)
    return sorted(names)


WIRE_NAMES = _all_wire_names()

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["", "true", "FALSE", "8080", " 42 ", "1e3", "NaN", "-Infinity", "1.5", "0x10", "∞"])
)
keys = st.sampled_from(WIRE_NAMES) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=6),
    max_leaves=30,
)
json_objects = st.dictionaries(keys, json_values, max_size=8)


def payload(type_name: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
    p = Payload()
    p.metadata.type = type_name
    p.body.value = body
    for k, v in (headers or {}).items():
        p.metadata.headers[k] = v
    return p


def decode_or_wire_error(p: Any) -> models.Message | None:
    """The property: a model of the named type, or WireDecodeError. Anything else fails the test."""
    try:
        message = codec.decode(p)
    except codec.WireDecodeError as exc:
        assert str(exc), "error messages must not be empty"
        return None
    assert type(message) is models.MESSAGE_TYPES[p.metadata.type]
    return message


@FUZZ
@given(type_name=st.sampled_from(TYPE_NAMES), body=st.binary(max_size=300))
@example(type_name="InstanceRequest", body=b"\xef\xbb\xbf{}")
@example(type_name="InstanceRequest", body=b"\x00\x00\x00{")
@example(type_name="InstanceRequest", body=b"[" * 50_000)
@example(type_name="InstanceRequest", body=b'{"instance":' * 5_000)
@example(type_name="ConfigQueryRequest", body=b"null")
@example(type_name="ConfigQueryRequest", body=b"NaN")
def test_arbitrary_bytes_as_body(type_name: str, body: bytes) -> None:
    decode_or_wire_error(payload(type_name, body))


@FUZZ
@given(type_name=st.sampled_from(TYPE_NAMES), value=json_values)
def test_arbitrary_json_values_as_body(type_name: str, value: Any) -> None:
    decode_or_wire_error(payload(type_name, json.dumps(value).encode()))


@FUZZ
@given(type_name=st.sampled_from(TYPE_NAMES), obj=json_objects)
def test_arbitrary_json_objects_with_real_field_names(type_name: str, obj: dict[str, Any]) -> None:
    message = decode_or_wire_error(payload(type_name, json.dumps(obj).encode()))
    if message is not None:
        # Whatever was accepted has the declared field types, so it encodes and re-decodes unchanged.
        again = codec.decode(Payload.FromString(codec.encode(message).SerializeToString()))
        assert _same(again, message)


@FUZZ
@given(
    type_name=st.sampled_from(TYPE_NAMES),
    field=st.data(),
    value=json_values,
)
def test_every_field_of_every_type_with_arbitrary_values(type_name: str, field: Any, value: Any) -> None:
    cls = models.MESSAGE_TYPES[type_name]
    names = [codec.camel(f.name) for f in dataclasses.fields(cls)] + list(cls.wire_aliases)
    name = field.draw(st.sampled_from(names))
    nested = field.draw(st.booleans())
    body: dict[str, Any] = {name: value}
    if nested and name in ("instance", "serviceInfo"):
        body = {name: {field.draw(st.sampled_from(WIRE_NAMES)): value}}
    if nested and name in ("instances", "configListenContexts", "hosts"):
        body = {name: [{field.draw(st.sampled_from(WIRE_NAMES)): value}]}
    decode_or_wire_error(payload(type_name, json.dumps(body).encode()))


@FUZZ
@given(
    type_name=st.text(max_size=40) | st.sampled_from(TYPE_NAMES).map(lambda n: n.lower()),
    body=st.sampled_from([b"", b"{}", b"[]", b"{bad"]) | json_objects.map(lambda o: json.dumps(o).encode()),
    headers=st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
)
def test_arbitrary_type_names(type_name: str, body: bytes, headers: dict[str, str]) -> None:
    p = payload(type_name, body, headers)
    if type_name in models.MESSAGE_TYPES:
        decode_or_wire_error(p)
        return
    with pytest.raises(codec.UnknownMessageType):
        codec.decode(p)


@FUZZ
@given(raw=st.binary(max_size=200))
@example(raw=codec.encode(models.HealthCheckRequest()).SerializeToString()[:-3])
def test_arbitrary_protobuf_bytes(raw: bytes) -> None:
    """Whatever protobuf accepts as a Payload, our decoder handles; protobuf's own errors stay its own."""
    from google.protobuf.message import DecodeError

    try:
        p = Payload.FromString(raw)
    except DecodeError:
        return
    with contextlib.suppress(codec.WireDecodeError):
        codec.decode(p)


def _model_strategy(hint: Any) -> st.SearchStrategy[Any]:
    text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
    if hint is str:
        return text
    if hint is int:
        return st.integers(min_value=-(2**63), max_value=2**63 - 1)
    if hint is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if hint is bool:
        return st.booleans()
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is list:
        return st.lists(_model_strategy(args[0]), max_size=2)
    if origin is dict:
        return st.dictionaries(text, _model_strategy(args[1]), max_size=3)
    if type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return st.none() | _model_strategy(inner)
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return st.builds(hint, **{f.name: _model_strategy(hints[f.name]) for f in dataclasses.fields(hint)})
    raise AssertionError(f"no strategy for {hint!r}")


@FUZZ
@given(message=st.sampled_from(TYPE_NAMES).flatmap(lambda n: _model_strategy(models.MESSAGE_TYPES[n])))
def test_arbitrary_models_round_trip(message: models.Message) -> None:
    again = codec.decode(Payload.FromString(codec.encode(message).SerializeToString()))
    assert again == message


@settings(max_examples=60, deadline=None)
@given(
    type_name=st.sampled_from(["InstanceRequest", "BatchInstanceRequest", "ServiceListRequest"]),
    digits=st.integers(min_value=300, max_value=6000),
)
def test_huge_numeric_literals(type_name: str, digits: int) -> None:
    number = "9" * digits
    bodies = {
        "InstanceRequest": '{"instance":{"ip":"1.1.1.1","weight":%s}}',
        "BatchInstanceRequest": '{"instances":[{"port":%s}]}',
        "ServiceListRequest": '{"pageNo":%s}',
    }
    decode_or_wire_error(payload(type_name, (bodies[type_name] % number).encode()))


def _same(a: Any, b: Any) -> bool:
    """Equality that treats NaN as equal to itself (nothing NaN should get through, but be precise)."""
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)
