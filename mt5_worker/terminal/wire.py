"""What both ends of the bridge agree on: the handshake before RPyC starts, plain data, safe RPyC settings.

The client (:mod:`mt5_worker.terminal.bridge`) and the server (:mod:`mt5_worker.bridge.server`) both import
this module, so a change to the protocol is made in one place.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

# --- the handshake both ends speak before RPyC starts -----------------------------------------------------
# Client: MAGIC, VERSION (1 byte), token length (2 bytes, big-endian), token (UTF-8). Bridge: one byte,
# ACK_OK or ACK_REFUSED, then it closes the connection if it refused.
MAGIC = b"MT5BRIDGE"
VERSION = 1
HEADER = struct.Struct(f">{len(MAGIC)}sBH")
MAX_TOKEN_BYTES = 1024
ACK_OK = b"\x01"
ACK_REFUSED = b"\x00"

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


def is_plain(value: object) -> bool:
    """True for builtin scalars and tuples of them, at any depth: data, never a remote reference.

    ``type()`` rather than ``isinstance``: a netref answers ``isinstance`` by asking its peer.
    """
    if type(value) is tuple:
        return all(is_plain(item) for item in value)
    return type(value) in PLAIN_TYPES
