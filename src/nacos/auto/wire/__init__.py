"""Nacos wire layer: typed models, the payload codec and the protobuf envelope.

This package is the only place that knows how Nacos puts things on the wire; the embedded server and
the client both speak through it.
"""

from nacos.auto.wire.codec import UnknownMessageType, WireDecodeError, decode, encode
from nacos.auto.wire.util import content_md5

__all__ = ["UnknownMessageType", "WireDecodeError", "content_md5", "decode", "encode"]
