"""iot-monitor bridge: Raspberry Pi sensors to MQTT with Home Assistant discovery."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("iot-monitor-bridge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
