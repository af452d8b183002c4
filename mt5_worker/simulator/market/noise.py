"""Counter-based random numbers: every draw is a pure hash of ``(key, stream, parts)``, so the market needs no
stored state and any range can be regenerated in any order."""

from __future__ import annotations

import zlib

import numpy as np
import numpy.typing as npt

# Hash streams: one per independent quantity, so that no two draw the same numbers.
(
    S_ANCHOR,
    S_CLOSE,
    S_HIGH,
    S_LOW,
    S_COUNT,
    S_SPREAD,
    S_HOUR_HIGH_AT,
    S_HOUR_LOW_AT,
    S_MIN_PATH,
    S_MIN_CLOSE,
    S_MIN_HIGH,
    S_MIN_LOW,
    S_MIN_WEIGHT,
    S_MIN_SPREAD,
    S_TICK_TIME,
    S_TICK_HIGH_AT,
    S_TICK_LOW_AT,
    S_TICK_PATH,
    S_TICK_SPREAD,
    S_BOOK,
    S_TICK_BURST,
    S_BURST_AT,
    S_BURST_WHICH,
) = range(100, 123)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def stable_hash(text: str) -> int:
    """A hash of ``text`` that is the same in every process (``hash()`` of a str is not)."""
    return zlib.crc32(text.encode("utf-8")) | (zlib.adler32(text.encode("utf-8")) << 32)


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64's finaliser: a bijection of 64-bit integers that scatters every input bit."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def hash_bits(key: int, stream: int, *parts: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    arrays = np.broadcast_arrays(*(np.asarray(p, dtype=np.int64) for p in parts))
    start = (key ^ (stream * 0x9E3779B97F4A7C15)) & 0xFFFFFFFFFFFFFFFF
    with np.errstate(over="ignore"):
        h = _mix(np.full(arrays[0].shape, start, dtype=np.uint64))
        for a in arrays:
            h = _mix(h ^ np.ascontiguousarray(a).view(np.uint64))
    return h


def uniform(key: int, stream: int, *parts: npt.ArrayLike) -> F64:
    """Uniform in [0, 1)."""
    return (hash_bits(key, stream, *parts) >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def normal(key: int, stream: int, *parts: npt.ArrayLike) -> F64:
    """Standard normal (Box-Muller on two hashed uniforms)."""
    u1 = uniform(key, stream, *parts)
    u2 = uniform(key, stream + 1000, *parts)
    result: F64 = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
    return result
