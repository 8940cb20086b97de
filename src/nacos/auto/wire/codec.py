"""One codec between Nacos gRPC payloads and our typed models, used by server and client alike.

Nacos puts a JSON body (camelCase, nulls omitted) inside ``google.protobuf.Any.value`` and names the
Java class in ``metadata.type``. Decoding is strict about shape (a clear :class:`WireDecodeError` naming
the message and field) but lenient about scalars the way Jackson is (``"8080"`` is a fine port), because
official clients in several languages disagree on such details.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar, Union

from nacos.auto.wire import models
from nacos.auto.wire.proto import Payload

M = TypeVar("M")


class WireDecodeError(ValueError):
    """A payload or JSON document that does not match the Nacos model it claims to be."""


class UnknownMessageType(WireDecodeError):
    """``metadata.type`` names a message this side does not know."""

    def __init__(self, type_name: str) -> None:
        super().__init__(f"unknown payload type {type_name!r}")
        self.type_name = type_name


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# --------------------------------------------------------------------------- encoding


def to_wire(obj: Any) -> Any:
    """A model (or value inside one) as JSON-ready data: camelCase keys, ``None`` fields omitted."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for name, wire_name, _ in _fields(type(obj)):
            value = getattr(obj, name)
            if value is not None:
                out[wire_name] = to_wire(value)
        return out
    if isinstance(obj, list | tuple):
        return [to_wire(item) for item in obj]
    if isinstance(obj, dict):
        return {str(key): to_wire(value) for key, value in obj.items()}
    return obj


def dumps(obj: Any) -> bytes:
    return json.dumps(to_wire(obj), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def encode(message: models.Message, client_ip: str = "", headers: dict[str, str] | None = None) -> Any:
    """A model as a gRPC ``Payload``. Request headers travel in ``metadata.headers`` too, as Java does."""
    payload = Payload()
    payload.metadata.type = message.type_name()
    if client_ip:
        payload.metadata.clientIp = client_ip
    merged = dict(message.headers) if isinstance(message, models.Request) else {}
    if headers:
        merged.update(headers)
    for key, value in merged.items():
        payload.metadata.headers[key] = value
    payload.body.value = dumps(message)
    return payload


# --------------------------------------------------------------------------- decoding


def decode(payload: Any) -> models.Message:
    """A gRPC ``Payload`` as the model its ``metadata.type`` names.

    Raises :class:`UnknownMessageType` or :class:`WireDecodeError`; never anything else for bad input.
    """
    type_name = payload.metadata.type
    cls = models.MESSAGE_TYPES.get(type_name)
    if cls is None:
        raise UnknownMessageType(type_name or "<empty>")
    message = loads(cls, payload.body.value, what=type_name)
    if isinstance(message, models.Request) and payload.metadata.headers:
        # Metadata headers (where Java puts the access token) win over body headers.
        message.headers.update(dict(payload.metadata.headers))
    return message


def loads(cls: type[M], raw: bytes | str, what: str = "") -> M:
    """Parse JSON text into ``cls``."""
    label = what or cls.__name__
    try:
        data = json.loads(raw) if raw else {}
    except RecursionError:
        raise WireDecodeError(f"{label}: body nests too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, and int's 4300-digit limit
        raise WireDecodeError(f"{label}: body is not valid JSON ({exc})") from None
    return from_wire(cls, data, label)


def from_wire(cls: type[M], data: Any, path: str) -> M:
    """Build ``cls`` from decoded JSON, converting scalars leniently and naming the bad field on error."""
    if not isinstance(data, dict):
        raise WireDecodeError(f"{path}: expected a JSON object, got {_kind(data)}")
    kwargs: dict[str, Any] = {}
    by_wire = _by_wire_name(cls)
    for key, value in data.items():
        target = by_wire.get(key)
        if target is None or value is None:
            continue  # unknown fields are ignored, nulls mean "absent"
        name, hint = target
        kwargs[name] = _convert(hint, value, f"{path}.{key}")
    return cls(**kwargs)


_FIELDS: dict[type[Any], tuple[tuple[str, str, Any], ...]] = {}
_BY_WIRE_NAME: dict[type[Any], dict[str, tuple[str, Any]]] = {}


def _fields(cls: type[Any]) -> tuple[tuple[str, str, Any], ...]:
    """(attribute, wire name, type hint) of a model, computed once per class."""
    found = _FIELDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = _FIELDS[cls] = tuple((f.name, camel(f.name), hints[f.name]) for f in dataclasses.fields(cls))
    return found


def _by_wire_name(cls: type[Any]) -> dict[str, tuple[str, Any]]:
    table = _BY_WIRE_NAME.get(cls)
    if table is None:
        table = {wire: (name, hint) for name, wire, hint in _fields(cls)}
        for alias, name in getattr(cls, "wire_aliases", {}).items():
            hint = next(h for n, _, h in _fields(cls) if n == name)
            table.setdefault(alias, (name, hint))
        _BY_WIRE_NAME[cls] = table
    return table


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _text(value: str, path: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise WireDecodeError(f"{path}: contains an unpaired surrogate (invalid \\u escape)") from None
    return value


def _to_str(value: Any, path: str) -> str:
    if isinstance(value, str):
        return _text(value, path)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise WireDecodeError(f"{path}: expected a string, got {_kind(value)}")


def _to_int(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise WireDecodeError(f"{path}: expected an integer, got {_kind(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise WireDecodeError(f"{path}: expected an integer, got {_kind(value)}")


def _to_float(value: Any, path: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            result = float(value)
        except OverflowError:
            raise WireDecodeError(f"{path}: expected a finite number, got a number too large") from None
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise WireDecodeError(f"{path}: expected a number, got {_kind(value)}") from None
    else:
        raise WireDecodeError(f"{path}: expected a number, got {_kind(value)}")
    if not math.isfinite(result):
        raise WireDecodeError(f"{path}: expected a finite number, got {value!r}")
    return result


def _to_bool(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise WireDecodeError(f"{path}: expected true or false, got {_kind(value)}")


_SCALARS: dict[Any, Callable[[Any, str], Any]] = {
    str: _to_str,
    int: _to_int,
    float: _to_float,
    bool: _to_bool,
}


def _convert(hint: Any, value: Any, path: str) -> Any:
    scalar = _SCALARS.get(hint)
    if scalar is not None:
        return scalar(value, path)
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _convert(inner[0], value, path)
    if origin is list:
        (item_hint,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise WireDecodeError(f"{path}: expected a list, got {_kind(value)}")
        return [_convert(item_hint, item, f"{path}[{i}]") for i, item in enumerate(value) if item is not None]
    if origin is dict:
        _, value_hint = typing.get_args(hint)
        if not isinstance(value, dict):
            raise WireDecodeError(f"{path}: expected an object, got {_kind(value)}")
        return {_text(str(k), path): _convert(value_hint, v, f"{path}.{k}") for k, v in value.items() if v is not None}
    if dataclasses.is_dataclass(hint):
        return from_wire(typing.cast(type[Any], hint), value, path)
    if hint is Any:
        return value
    raise TypeError(f"no wire conversion for {hint!r} at {path}")  # a bug in models, not bad input


_REQUEST_ID_SLOT = "\x00request-id\x00"


class PayloadTemplate:
    """A request encoded once, stamped with a fresh ``requestId`` per recipient.

    Server pushes send the same message to many connections; only the request id differs. Encoding
    the JSON once and splicing the id in keeps fan-out cost per recipient to a protobuf build.
    """

    __slots__ = ("_head", "_tail", "_type")

    def __init__(self, message: models.Request) -> None:
        message.request_id = _REQUEST_ID_SLOT
        body = dumps(message).decode("utf-8")
        slot = json.dumps(_REQUEST_ID_SLOT, ensure_ascii=False)
        head, found, tail = body.partition(slot)
        if not found:  # pragma: no cover - dumps always writes requestId
            raise AssertionError("requestId slot missing from the encoded body")
        self._head, self._tail = head.encode("utf-8"), tail.encode("utf-8")
        self._type = message.type_name()

    def render(self, request_id: str) -> Any:
        payload = Payload()
        payload.metadata.type = self._type
        payload.body.value = self._head + json.dumps(request_id).encode() + self._tail
        return payload


def response_request_id(payload: Any) -> str | None:
    """The ``requestId`` of a response payload, without building the model (acks are hot)."""
    try:
        data = json.loads(payload.body.value)
    except (ValueError, RecursionError):
        return None
    value = data.get("requestId") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None
