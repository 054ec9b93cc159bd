"""Hypothesis strategies for byte streams: how a port splits them, how a noisy line mangles them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from iot_monitor_bridge.parsers.base import Decoded, FrameDecoder

FrameT = TypeVar("FrameT")

PROPERTY_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
"""For the parsers' property tests: no timing checks, as CI runs them on two busy cores."""


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` as a port might deliver it: in pieces ending at the offsets in ``cuts``."""
    points = sorted({cut for cut in cuts if 0 < cut < len(data)})
    return [data[start:end] for start, end in zip([0, *points], [*points, len(data)], strict=True)]


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` split at arbitrary points."""
    return split_at(data, draw(st.lists(st.integers(0, len(data)), max_size=20)))


@st.composite
def mangled(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes replaced, inserted or dropped."""
    out = bytearray(data)
    edits = st.tuples(
        st.integers(0, max(len(data), 1)),
        st.sampled_from(("replace", "insert", "drop")),
        st.binary(min_size=1, max_size=1),
    )
    for position, action, byte in draw(st.lists(edits, min_size=1, max_size=8)):
        at = min(position, len(out))
        if action == "insert" or at == len(out):
            out[at:at] = byte
        elif action == "replace":
            out[at : at + 1] = byte
        else:
            del out[at]
    return bytes(out)


def noise(special: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, rich in ``special`` (a protocol's header and trailer bytes)."""
    byte = st.one_of(st.sampled_from(list(special)), st.integers(0, 255))
    return st.lists(byte, max_size=400).map(bytes)


def feed_all(decoder: FrameDecoder[FrameT], chunks: Iterable[bytes]) -> Decoded[FrameT]:
    """Feed every chunk; the frames and fault counts of all of them together."""
    frames: list[FrameT] = []
    bad_checksums = garbage = 0
    for chunk in chunks:
        decoded = decoder.feed(chunk)
        frames += decoded.frames
        bad_checksums += decoded.bad_checksums
        garbage += decoded.garbage_bytes
    return Decoded(frames, bad_checksums, garbage)
