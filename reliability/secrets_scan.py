"""Search everything a run left behind for secrets: Redis keys (every type), persistence files, logs, results.

kombu's Redis transport stores message bodies base64-encoded, so each secret is also searched in base64 (all
three alignments), and queued messages' bodies are decoded before searching. A hit count per source, plus how
much was scanned, so a scan that read nothing cannot pass for a clean one.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis


def needles(secret: str) -> list[bytes]:
    """``secret`` as bytes, and the parts of its base64 encoding that do not depend on what surrounds it."""
    raw = secret.encode()
    found = [raw]
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        # Keep the characters made only of the secret's bits: not those mixing in what comes before or after.
        start, end = (4 * offset + 2) // 3, (8 * (offset + len(raw))) // 6
        if end - start >= 8:
            found.append(encoded[start:end])
    return found


@dataclass
class ScanReport:
    hits: Counter[str] = field(default_factory=Counter)  # source -> hits (all secrets)
    scanned: Counter[str] = field(default_factory=Counter)  # source -> bytes (keys: number of keys)

    @property
    def total_hits(self) -> int:
        return sum(self.hits.values())

    def add(self, source: str, blob: bytes, secrets: Iterable[str], size: int | None = None) -> None:
        self.scanned[source] += len(blob) if size is None else size
        for secret in secrets:
            if any(n in blob for n in needles(secret)):
                self.hits[source] += 1

    def summary(self) -> str:
        parts = [f"{source}: {self.hits[source]} hits in {self.scanned[source]:,} {_unit(source)}"
                 for source in sorted(self.scanned)]  # fmt: skip
        return "; ".join(parts)


def _unit(source: str) -> str:
    return "keys" if source == "redis keys" else "lines" if source == "log lines" else "bytes"


def dump_redis(client: redis.Redis) -> tuple[bytes, int]:
    """Every key and value in the database, whatever its type, with queued message bodies decoded."""
    parts: list[bytes] = []
    keys = 0
    for key in client.scan_iter(count=1000):
        keys += 1
        kind = _b(client.type(key))
        raw: list[Any]
        if kind == b"string":
            raw = [client.get(key) or b""]
        elif kind == b"hash":
            raw = [b for pair in client.hgetall(key).items() for b in pair]
        elif kind == b"list":
            raw = list(client.lrange(key, 0, -1))
        elif kind == b"set":
            raw = list(client.smembers(key))
        elif kind == b"zset":
            raw = list(client.zrange(key, 0, -1))
        elif kind == b"stream":
            raw = [repr(client.xrange(key))]
        else:
            raw = [kind]
        values = [_b(v) for v in raw]
        parts.append(_b(key))
        parts.extend(values)
        parts.extend(_decoded_bodies(values))
    return b"\n".join(parts), keys


def _b(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _decoded_bodies(values: Iterable[bytes]) -> list[bytes]:
    """kombu messages (queued, or held in ``unacked``) carry a base64 body: decode it."""
    out = []
    for value in values:
        try:
            message = json.loads(value)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(message, list) and message:  # unacked: [message, exchange, routing_key]
            message = message[0]
        if isinstance(message, dict) and isinstance(message.get("body"), str):
            try:
                out.append(base64.b64decode(message["body"]))
            except (binascii.Error, ValueError):
                continue
    return out


def scan(
    secrets: Iterable[str],
    client: redis.Redis,
    logs: Mapping[str, str],
    results: Iterable[object] = (),
    persistence: Path | None = None,
    flower: Iterable[str] = (),
) -> ScanReport:
    """Search Redis, the processes' logs, the task results the client received, Redis's persistence files under
    ``persistence`` (AOF and RDB) and Flower's API answers."""
    secrets = list(secrets)
    report = ScanReport()
    blob, keys = dump_redis(client)
    report.add("redis keys", blob, secrets, size=keys)
    text = "\n".join(logs.values())
    report.add("log lines", text.encode(), secrets, size=text.count("\n"))
    report.add("task results", "\n".join(map(repr, results)).encode(), secrets)
    if persistence is not None:
        files = [p for p in persistence.rglob("*") if p.is_file() and (".aof" in p.name or p.suffix == ".rdb")]
        report.add("redis persistence files", b"\n".join(p.read_bytes() for p in files), secrets)
    bodies = list(flower)
    if bodies:
        report.add("flower api", "\n".join(bodies).encode(), secrets)
    return report
