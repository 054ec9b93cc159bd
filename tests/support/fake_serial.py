"""Fake serial devices on real pseudo-terminals, and the bytes real devices send.

The code under test opens ``FakeSerialDevice.path`` (the pty's slave side, a real tty) with
pyserial exactly as it would open ``/dev/ttyUSB0``; the fake writes and reads the master side.
The frame builders here are written from the datasheets independently of the bridge's parsers,
so that the tests check the parsers against the documents rather than against themselves.
"""

from __future__ import annotations

import os
import select
import threading
import tty

MHZ19B_READ_COMMAND = bytes.fromhex("ff 01 86 00 00 00 00 00 79")
"""The MH-Z19B datasheet's "read CO2 concentration" command, checksum included."""


def sds011_frame(
    pm25: float, pm10: float, device_id: int = 0xA160, *, bad_checksum: bool = False
) -> bytes:
    """One SDS011 data frame (PM values in µg/m³, sent as tenths, low byte first)."""
    data = (
        round(pm25 * 10).to_bytes(2, "little")
        + round(pm10 * 10).to_bytes(2, "little")
        + device_id.to_bytes(2, "big")
    )
    checksum = (sum(data) + bad_checksum) % 256
    return b"\xaa\xc0" + data + bytes([checksum]) + b"\xab"


def mhz19b_response(ppm: int, *, temperature_c: int = 24, bad_checksum: bool = False) -> bytes:
    """The MH-Z19B's answer to the read command."""
    body = bytes([0x86, ppm >> 8, ppm & 0xFF, temperature_c + 40, 0, 0, 0])
    checksum = (0xFF - sum(body) % 256 + 1 + bad_checksum) % 256
    return b"\xff" + body + bytes([checksum])


class FakeSerialDevice:
    """A serial device on a real pty pair.

    ``write`` sends bytes now; ``stream`` repeats bytes in the background the way an SDS011
    repeats its frame (pyserial discards input that arrived before the port was opened, so a
    test that cannot know when the port opens streams until the first value comes out).
    With ``co2_ppm`` set, the device answers every MH-Z19B read command it receives.
    """

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo and no line editing before the port is opened
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self.co2_ppm: int | None = None
        self.corrupt_answers = False
        self.commands: list[bytes] = []
        self._received = bytearray()
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._stop_stream = threading.Event()
        self._streamer: threading.Thread | None = None
        self._reader = threading.Thread(target=self._read_loop, name="fake-serial", daemon=True)
        self._reader.start()

    def write(self, data: bytes) -> None:
        """Send ``data``; bytes the pty cannot take (nobody reading) are lost, as on a UART."""
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._master, view) :]
            except BlockingIOError:
                return

    def stream(self, data: bytes, every: float = 0.02) -> None:
        """Send ``data`` every ``every`` seconds until ``stop_streaming``."""
        self.stop_streaming()
        self._stop_stream.clear()

        def repeat() -> None:
            while not self._stop_stream.is_set():
                self.write(data)
                self._stop_stream.wait(every)

        self._streamer = threading.Thread(target=repeat, name="fake-serial-stream", daemon=True)
        self._streamer.start()

    def stop_streaming(self) -> None:
        if self._streamer is not None:
            self._stop_stream.set()
            self._streamer.join()
            self._streamer = None

    def wait_for_commands(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """Block until ``count`` MH-Z19B read commands have arrived."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.commands) >= count, timeout):
                raise TimeoutError(f"{len(self.commands)} of {count} commands received")
            return list(self.commands)

    def close(self) -> None:
        """Hang up: the port the code under test holds open starts failing with EIO."""
        if self._closed.is_set():
            return
        self.stop_streaming()
        self._closed.set()
        os.write(self._wake_w, b"x")
        self._reader.join()
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            os.close(fd)

    def _read_loop(self) -> None:
        while not self._closed.is_set():
            ready, _, _ = select.select([self._master, self._wake_r], [], [])
            if self._master not in ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except BlockingIOError:
                continue
            with self._cond:
                self._received += data
                self._answer_commands()
                self._cond.notify_all()

    def _answer_commands(self) -> None:
        while (start := self._received.find(MHZ19B_READ_COMMAND)) >= 0:
            del self._received[: start + len(MHZ19B_READ_COMMAND)]
            self.commands.append(MHZ19B_READ_COMMAND)
            if self.co2_ppm is not None:
                self.write(mhz19b_response(self.co2_ppm, bad_checksum=self.corrupt_answers))
