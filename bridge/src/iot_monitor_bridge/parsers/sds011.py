"""Nova Fitness SDS011 particulate matter sensor: the data frames it reports (protocol V1.3).

A frame is ``AA C0 <PM2.5 lo> <PM2.5 hi> <PM10 lo> <PM10 hi> <id 1> <id 2> <checksum> AB``;
the checksum is the sum of the six data bytes modulo 256, the values are tenths of µg/m³.
"""

from __future__ import annotations

from dataclasses import dataclass

from iot_monitor_bridge.parsers.base import FrameDecoder


@dataclass(frozen=True, slots=True)
class Sds011Frame:
    """One report: PM2.5, PM10 and the sensor's id."""

    pm25: float
    """µg/m³"""
    pm10: float
    """µg/m³"""
    device_id: int
    """The two id bytes as printed on the sensor (``A160``)."""


def checksum(frame: bytes) -> int:
    """The checksum byte a frame must carry: its six data bytes summed, modulo 256."""
    return sum(frame[2:8]) & 0xFF


class Sds011Decoder(FrameDecoder[Sds011Frame]):
    """Data frames from the stream an SDS011 sends (once a second in its default mode)."""

    header = b"\xaa\xc0"
    trailer = b"\xab"
    length = 10

    def checksum_ok(self, frame: bytes) -> bool:
        """Byte 8 must be the data bytes' ``checksum``."""
        return checksum(frame) == frame[8]

    def decode(self, frame: bytes) -> Sds011Frame:
        """Values are little-endian tenths of µg/m³; the id reads big-endian, as printed."""
        return Sds011Frame(
            pm25=int.from_bytes(frame[2:4], "little") / 10,
            pm10=int.from_bytes(frame[4:6], "little") / 10,
            device_id=int.from_bytes(frame[6:8], "big"),
        )
