"""What both ends of the bridge agree on: the handshake before RPyC starts, plain data, safe RPyC settings.

The client (:mod:`mt5_worker.bridge.terminal`) and the server (:mod:`mt5_worker.bridge.server`) both import
this module, so a change to the protocol is made in one place.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import numpy as np

# --- the handshake both ends speak before RPyC starts -----------------------------------------------------
# Client: MAGIC, VERSION (1 byte), token length (2 bytes, big-endian), token (UTF-8). Bridge: one byte,
# ACK_OK, ACK_REFUSED or ACK_VERSION (it speaks another version), then it closes the connection if it refused.
# VERSION changes whenever what crosses changes shape (mt5_worker.bridge.codec): ends of different versions then
# refuse each other at the handshake, with a reason, instead of failing call by call.
MAGIC = b"MT5BRIDGE"
VERSION = 2
HEADER = struct.Struct(f">{len(MAGIC)}sBH")
MAX_TOKEN_BYTES = 1024
ACK_OK = b"\x01"
ACK_REFUSED = b"\x00"
ACK_VERSION = b"\x02"

# RPyC settings for both ends: no pickle, no attribute access beyond what a service exposes, no remote
# exception classes imported or instantiated, no local tracebacks sent to the peer.
SAFE_PROTOCOL_CONFIG: dict[str, Any] = {
    "allow_safe_attrs": False,
    "allow_exposed_attrs": True,
    "allow_public_attrs": False,
    "allow_all_attrs": False,
    "allow_setattr": False,
    "allow_delattr": False,
    "allow_pickle": False,
    "instantiate_custom_exceptions": False,
    "import_custom_exceptions": False,
    "include_local_traceback": False,
    "include_local_version": False,
}

PLAIN_TYPES = (bool, int, float, str, type(None))
# Answers may also carry bytes: the raw rows of a numpy array (see encode_array).
REPLY_TYPES = (*PLAIN_TYPES, bytes)
_PLAIN_SET, _REPLY_SET = frozenset(PLAIN_TYPES), frozenset(REPLY_TYPES)

# A numpy structured array crosses as (ARRAY_TAG, its dtype's description, its raw rows): plain data, never a
# pickle; the receiver accepts only the dtype it expects, so no object columns can be smuggled in.
ARRAY_TAG = "numpy.ndarray"


def hello(token: str) -> bytes:
    """The client's opening frame."""
    raw = token.encode("utf-8")
    if not 0 < len(raw) <= MAX_TOKEN_BYTES:
        raise ValueError(f"the bridge token must be 1 to {MAX_TOKEN_BYTES} bytes of UTF-8")
    return HEADER.pack(MAGIC, VERSION, len(raw)) + raw


def recv_exact(sock: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes; ``EOFError`` if the peer closes first."""
    chunks: list[bytes] = []
    while size > 0:
        chunk = sock.recv(size)
        if not chunk:
            raise EOFError("connection closed during the bridge handshake")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def is_plain(value: object, *, allow_bytes: bool = False) -> bool:
    """True for builtin scalars and tuples of them, at any depth: data, never a remote reference. Bytes count
    only when ``allow_bytes`` (answers, which may carry arrays).

    ``type()`` rather than ``isinstance``: a netref answers ``isinstance`` by asking its peer.
    """
    allowed = _REPLY_SET if allow_bytes else _PLAIN_SET
    if type(value) is not tuple:
        return type(value) in allowed
    # The types of a tuple's items in one pass (this runs on every call, both ends); only nested tuples recurse.
    kinds = set(map(type, value))
    if tuple in kinds:
        kinds.discard(tuple)
        for item in value:
            if type(item) is tuple and not is_plain(item, allow_bytes=allow_bytes):
                return False
    return kinds <= allowed


def encode_array(array: np.ndarray[Any, Any]) -> tuple[str, tuple[tuple[str, str], ...], bytes]:
    """A structured array as plain data: its tag, its fields as ``(name, type string)`` pairs, its rows' bytes."""
    rows = np.ascontiguousarray(array)
    fields = _fields(rows.dtype)
    return (ARRAY_TAG, fields, rows.tobytes())


def decode_array(value: object, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """The array :func:`encode_array` made, if it has exactly ``dtype``'s fields; ``ValueError`` otherwise."""
    if not (type(value) is tuple and len(value) == 3 and value[0] == ARRAY_TAG and type(value[2]) is bytes):
        raise ValueError("not an encoded array")
    expected = _fields(dtype)
    if value[1] != expected:
        raise ValueError(f"unexpected array fields {value[1]!r}")
    if len(value[2]) % dtype.itemsize:
        raise ValueError("array bytes are not a whole number of rows")
    return np.frombuffer(value[2], dtype=dtype).copy()


def _fields(dtype: np.dtype[Any]) -> tuple[tuple[str, str], ...]:
    return tuple((str(field[0]), str(field[1])) for field in dtype.descr)
