"""iot-monitor bridge: Raspberry Pi sensors to MQTT with Home Assistant discovery."""

__version__ = "0.2.0"
"""Written here only: the package metadata takes it from this line (``[tool.hatch.version]``),
so the daemon knows its version without loading ``importlib.metadata``."""
