"""DS18B20 temperature sensors on the 1-Wire bus, through the kernel's w1-therm sysfs files."""

from __future__ import annotations

import asyncio
import logging

from iot_monitor_bridge.config import Ds18b20Config
from iot_monitor_bridge.drivers.base import Emit, FaultLog, SensorDriver
from iot_monitor_bridge.model import SensorSpec
from iot_monitor_bridge.parsers.base import Fault
from iot_monitor_bridge.parsers.w1 import parse_w1_slave

_LOGGER = logging.getLogger(__name__)


class Ds18b20Driver(SensorDriver):
    """Reads ``<w1_root>/<address>/w1_slave`` every interval.

    Reading that file starts a conversion and blocks for about 750 ms, so it happens in a
    worker thread. A failed CRC, a missing device or a read error is counted and skipped.
    """

    def __init__(self, device_id: str, cfg: Ds18b20Config) -> None:
        self.device_id = device_id
        self.faults = FaultLog(_LOGGER, f"{device_id}/{cfg.id}")
        self.sensors = (
            SensorSpec(
                cfg.id,
                cfg.display_name,
                unit="°C",
                device_class="temperature",
                state_class="measurement",
                precision=1,
            ),
        )
        self._sensor_id = cfg.id
        self._path = cfg.w1_root / cfg.address / "w1_slave"
        self.interval = cfg.interval

    async def run(self, emit: Emit) -> None:
        """Read ``w1_slave`` every ``interval`` (each read blocks a worker thread for ~750 ms)."""
        ticker = self.ticker()
        while True:
            await ticker.wait()
            await self._read_once(emit)

    async def _read_once(self, emit: Emit) -> None:
        try:
            text = await asyncio.to_thread(self._path.read_text, "ascii", "replace")
        except FileNotFoundError:
            self.faults.fault("missing_device", f"{self._path} does not exist")
            return
        except OSError as err:
            self.faults.fault("read_error", f"{self._path}: {err}")
            return
        result = parse_w1_slave(text)
        if isinstance(result, Fault):
            self.faults.fault(result.kind, result.detail)
        else:
            emit(self.reading(self._sensor_id, result))
