"""Serial sensors through pyserial: SDS011 and MH-Z19B, and devices that print text lines.

A worker thread owns the port: it opens it, reads with a timeout, feeds the protocol's decoder
and emits what comes out. Faults (bad checksums, garbage, silence) are counted; a port that goes
away (USB adapter unplugged) is closed and reopened with exponential backoff, and ``run`` goes on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor

import serial

from iot_monitor_bridge.config import SerialConfig
from iot_monitor_bridge.drivers.base import Emit, FaultLog, SensorDriver, now_ms
from iot_monitor_bridge.model import SensorSpec
from iot_monitor_bridge.parsers.base import Fault
from iot_monitor_bridge.parsers.mhz19 import READ_COMMAND, Mhz19bDecoder
from iot_monitor_bridge.parsers.sds011 import Sds011Decoder
from iot_monitor_bridge.parsers.text import LineDecoder, parse_json_line, parse_key_value_line

_LOGGER = logging.getLogger(__name__)

MICROGRAMS_PER_CUBIC_METRE = "µg/m³"

Values = dict[str, float]
"""Sensor id -> value, for one frame or line."""


class Backoff:
    """Delays between attempts: ``initial``, doubling up to ``cap``; ``reset`` after a success."""

    def __init__(self, initial: float, cap: float) -> None:
        self._initial = initial
        self._cap = cap
        self._delay = initial

    def next_delay(self) -> float:
        """The delay before the next attempt; the one after is twice as long, up to ``cap``."""
        delay = self._delay
        self._delay = min(delay * 2, self._cap)
        return delay

    def reset(self) -> None:
        """Start again from ``initial``."""
        self._delay = self._initial


class _Stream(ABC):
    """One protocol: the sensors it yields, its line settings, and how bytes become values."""

    baudrate = 9600
    poll_command: bytes | None = None
    """Sent on opening the port and then every interval, for sensors that speak when asked."""
    sensors: tuple[SensorSpec, ...]

    @abstractmethod
    def restart(self) -> None:
        """Forget partial input: a new port starts a new stream."""

    @abstractmethod
    def feed(self, chunk: bytes) -> tuple[list[Values], list[Fault]]:
        """Values completed by ``chunk``, and the faults met on the way."""


class _Sds011Stream(_Stream):
    def __init__(self, cfg: SerialConfig) -> None:
        self._pm25, self._pm10 = f"{cfg.id}_pm25", f"{cfg.id}_pm10"
        self.sensors = tuple(
            SensorSpec(
                sensor_id,
                f"{cfg.display_name} {label}",
                unit=MICROGRAMS_PER_CUBIC_METRE,
                device_class=device_class,
                state_class="measurement",
                precision=1,
            )
            for sensor_id, label, device_class in (
                (self._pm25, "PM2.5", "pm25"),
                (self._pm10, "PM10", "pm10"),
            )
        )
        self.restart()

    def restart(self) -> None:
        self._decoder = Sds011Decoder()

    def feed(self, chunk: bytes) -> tuple[list[Values], list[Fault]]:
        decoded = self._decoder.feed(chunk)
        values = [{self._pm25: frame.pm25, self._pm10: frame.pm10} for frame in decoded.frames]
        return values, decoded.faults


class _Mhz19bStream(_Stream):
    poll_command = READ_COMMAND

    def __init__(self, cfg: SerialConfig) -> None:
        self._co2 = cfg.id
        self.sensors = (
            SensorSpec(
                cfg.id,
                cfg.display_name,
                unit="ppm",
                device_class="carbon_dioxide",
                state_class="measurement",
                precision=0,
            ),
        )
        self.restart()

    def restart(self) -> None:
        self._decoder = Mhz19bDecoder()

    def feed(self, chunk: bytes) -> tuple[list[Values], list[Fault]]:
        decoded = self._decoder.feed(chunk)
        return [{self._co2: float(frame.co2_ppm)} for frame in decoded.frames], decoded.faults


class _LineStream(_Stream):
    """JSON lines or key=value lines: one sensor per configured field, scaled and offset."""

    def __init__(self, cfg: SerialConfig) -> None:
        self._cfg = cfg
        self._parse = parse_json_line if cfg.protocol == "json_lines" else parse_key_value_line
        self.sensors = tuple(
            SensorSpec(
                f"{cfg.id}_{field_id}",
                field.name or f"{cfg.display_name} {field_id.replace('_', ' ')}",
                unit=field.unit,
                device_class=field.device_class,
                state_class=field.state_class,
            )
            for field_id, field in cfg.fields.items()
        )
        self.restart()

    def restart(self) -> None:
        self._decoder = LineDecoder(self._parse, tuple(self._cfg.fields))

    def feed(self, chunk: bytes) -> tuple[list[Values], list[Fault]]:
        decoded = self._decoder.feed(chunk)
        fields, sensor = self._cfg.fields, self._cfg.id
        values = [
            {
                f"{sensor}_{field_id}": fields[field_id].scale * value + fields[field_id].offset
                for field_id, value in line.items()
            }
            for line in decoded.values
        ]
        return values, decoded.faults


def _stream_for(cfg: SerialConfig) -> _Stream:
    if cfg.protocol == "sds011":
        return _Sds011Stream(cfg)
    if cfg.protocol == "mhz19b":
        return _Mhz19bStream(cfg)
    return _LineStream(cfg)


class SerialDriver(SensorDriver):
    """One serial sensor on one port.

    ``interval`` is how often a polled sensor is asked for a reading and, for every protocol,
    the longest silence before a ``timeout`` fault is counted.
    """

    def __init__(
        self,
        device_id: str,
        cfg: SerialConfig,
        *,
        read_timeout: float = 0.5,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
    ) -> None:
        self.device_id = device_id
        self._source = f"{device_id}/{cfg.id}"
        self.faults = FaultLog(_LOGGER, self._source)
        self._cfg = cfg
        self.interval: float = cfg.interval
        self._stream = _stream_for(cfg)
        self.sensors = self._stream.sensors
        self._baudrate = cfg.baudrate or self._stream.baudrate
        self._read_timeout = min(read_timeout, cfg.interval)
        self._retry = Backoff(retry_initial, retry_max)
        self._stop = threading.Event()
        self._port_lock = threading.Lock()
        self._port: serial.Serial | None = None

    async def run(self, emit: Emit) -> None:
        """Serve the port from a worker thread until cancelled.

        Cancelling stops the worker and waits for it, so the port is closed when ``run`` ends.
        """
        self._stop.clear()
        loop = asyncio.get_running_loop()
        name = f"serial {self._source}"
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) as executor:
            worker = loop.run_in_executor(executor, self._serve, emit)
            try:
                await asyncio.shield(worker)
            except asyncio.CancelledError:
                self._stop.set()
                self._interrupt_read()
                await worker
                raise

    def close(self) -> None:
        """Stop the worker thread and close the port."""
        self._stop.set()
        self._close_port()

    def _serve(self, emit: Emit) -> None:
        """The worker thread: keep the port open and read it until stopped."""
        while not self._stop.is_set():
            try:
                port = self._open_port()
            except OSError as err:  # serial.SerialException is an OSError
                self.faults.fault("port_unavailable", str(err))
            else:
                try:
                    self._read(port, emit)
                except OSError as err:
                    self.faults.fault("port_lost", str(err))
                finally:
                    self._close_port()
            self._stop.wait(self._retry.next_delay())

    def _read(self, port: serial.Serial, emit: Emit) -> None:
        poll = self._stream.poll_command
        self._stream.restart()
        checked = -math.inf
        heard = True
        while not self._stop.is_set():
            now = time.monotonic()
            interval = self.interval  # set_interval may change it at any time
            if now >= checked + interval:
                if not heard:
                    self.faults.fault("timeout", f"nothing decoded for {interval:g} s")
                heard = False
                checked = now
                if poll is not None:
                    port.write(poll)
            chunk = port.read(port.in_waiting or 1)
            if not chunk:
                continue
            values, faults = self._stream.feed(chunk)
            for fault in faults:  # first, so that faults are counted in stream order with values
                self.faults.fault(fault.kind, fault.detail)
            if not values:
                continue
            heard = True
            self._retry.reset()
            ts_ms = now_ms()
            for frame in values:
                for sensor_id, value in frame.items():
                    emit(self.reading(sensor_id, value, ts_ms))

    def _open_port(self) -> serial.Serial:
        port = serial.Serial(self._cfg.port, self._baudrate, timeout=self._read_timeout)
        with self._port_lock:
            self._port = port
        _LOGGER.info("%s: opened %s", self._source, self._cfg.port)
        return port

    def _close_port(self) -> None:
        with self._port_lock:
            if self._port is not None:
                self._port.close()
                self._port = None

    def _interrupt_read(self) -> None:
        """Wake the worker from a blocking read so that it sees the stop request now."""
        with self._port_lock:
            if self._port is not None:
                self._port.cancel_read()
