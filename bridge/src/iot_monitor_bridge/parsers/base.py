"""What the wire-format parsers share: faults, and finding fixed-length frames in a byte stream."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

FrameT = TypeVar("FrameT")


@dataclass(frozen=True, slots=True)
class Fault:
    """Why some input yielded no value; ``kind`` is what a driver's fault log counts."""

    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class Decoded(Generic[FrameT]):
    """What one chunk of a byte stream completed: good frames and what had to be skipped."""

    frames: list[FrameT]
    bad_checksums: int = 0
    garbage_bytes: int = 0

    @property
    def faults(self) -> list[Fault]:
        """What was skipped, as faults for a driver's fault log: one per kind that occurred."""
        faults = []
        if self.bad_checksums:
            faults.append(
                Fault("bad_checksum", f"{self.bad_checksums} frame(s) failed the checksum")
            )
        if self.garbage_bytes:
            faults.append(Fault("garbage", f"{self.garbage_bytes} byte(s) outside any frame"))
        return faults


class FrameDecoder(ABC, Generic[FrameT]):
    """Finds fixed-length frames in a stream that may start mid-frame, lose bytes or carry noise.

    Feed it whatever the port returned; a frame split across reads is reassembled. A candidate
    whose trailer is wrong was no frame (its first byte is garbage and the search goes on from the
    next byte). A candidate whose checksum is wrong is counted and skipped, unless another header
    starts inside it: then it was a frame cut short by lost bytes, and decoding resumes there.
    Between calls at most one frame's worth of bytes is held.
    """

    header: ClassVar[bytes]
    trailer: ClassVar[bytes] = b""
    length: ClassVar[int]

    def __init__(self) -> None:
        self._buffer = bytearray()

    @abstractmethod
    def checksum_ok(self, frame: bytes) -> bool:
        """Whether a candidate frame (right header, length and trailer) carries a valid checksum."""

    @abstractmethod
    def decode(self, frame: bytes) -> FrameT:
        """Turn a frame that passed every check into its values."""

    def feed(self, chunk: bytes) -> Decoded[FrameT]:
        """The frames ``chunk`` completed and what was skipped; a partial frame waits for more."""
        buffer = self._buffer
        buffer += chunk
        frames: list[FrameT] = []
        bad_checksums = garbage = 0
        pos = 0
        while True:
            start = buffer.find(self.header, pos)
            if start < 0:
                keep = self._partial_header(pos)
                garbage += len(buffer) - keep - pos
                pos = len(buffer) - keep
                break
            garbage += start - pos
            pos = start
            end = pos + self.length
            if end > len(buffer):
                break  # the rest of this frame is still on its way
            frame = bytes(buffer[pos:end])
            if not frame.endswith(self.trailer):
                garbage += 1
                pos += 1
            elif not self.checksum_ok(frame):
                bad_checksums += 1
                resume = buffer.find(self.header, pos + 1, end + len(self.header) - 1)
                pos = end if resume < 0 else resume
            else:
                frames.append(self.decode(frame))
                pos = end
        del buffer[:pos]
        return Decoded(frames, bad_checksums, garbage)

    def _partial_header(self, pos: int) -> int:
        """How many bytes at the end of the buffer (from ``pos``) could start a header."""
        for size in range(min(len(self.header) - 1, len(self._buffer) - pos), 0, -1):
            if self._buffer.endswith(self.header[:size]):
                return size
        return 0
