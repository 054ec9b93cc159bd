"""Winsen MH-Z19B CO2 sensor: its read command and the response it answers with.

Every packet is nine bytes, ``FF`` first and a checksum last: the two's complement of the sum
of bytes 1 to 7. The response to read command ``86`` is ``FF 86 <ppm hi> <ppm lo> ... <checksum>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from iot_monitor_bridge.parsers.base import FrameDecoder

READ_COMMAND = bytes.fromhex("ff 01 86 00 00 00 00 00 79")
"""Ask for the gas concentration; the sensor only speaks when asked."""


@dataclass(frozen=True, slots=True)
class Mhz19bResponse:
    """The answer to the read command: the CO2 concentration."""

    co2_ppm: int


def checksum(packet: bytes) -> int:
    """The checksum byte a packet must carry: ``(0xFF - sum(bytes 1..7)) + 1``, modulo 256."""
    return -sum(packet[1:8]) & 0xFF


class Mhz19bDecoder(FrameDecoder[Mhz19bResponse]):
    """Responses to the read command, from whatever the sensor's port returns."""

    header = b"\xff\x86"
    length = 9

    def checksum_ok(self, frame: bytes) -> bool:
        """Byte 8 must be the packet's ``checksum``."""
        return checksum(frame) == frame[8]

    def decode(self, frame: bytes) -> Mhz19bResponse:
        """The concentration is bytes 2 (high) and 3 (low), in ppm."""
        return Mhz19bResponse(co2_ppm=frame[2] * 256 + frame[3])
