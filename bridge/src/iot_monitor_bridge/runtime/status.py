"""A point-in-time view of the running bridge, for /health, /metrics and the bridge's sensors."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    """A configured broker and whether the bridge is connected to it."""

    host: str
    port: int
    connected: bool
    index: int
    """Position in the configured broker list: 0 is the primary."""


@dataclass(frozen=True, slots=True)
class BridgeSnapshot:
    """What ``/health``, ``/metrics`` and the bridge's diagnostic sensors report, at once."""

    bridge_id: str
    version: str
    uptime_s: float
    broker: BrokerStatus | None
    """The broker in use (or being tried); ``None`` before the first connection attempt."""
    failovers: int
    readings_total: int
    """Readings the drivers produced since start."""
    published_total: int
    """Readings acknowledged by a broker (PUBACK) since start."""
    spool_depth: int
    spool_dropped: int
    spool_oldest_age_s: float | None
    devices: int
    faults: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per source (``device/sensor``), per fault kind: how many since start."""
    commands: dict[str, int] = field(default_factory=dict)
    """Command results since start, by outcome (ok, error, rate_limited)."""

    @property
    def healthy(self) -> bool:
        """Connected to a broker: ``/health`` answers 200 ``ok``, else 503 ``degraded``."""
        return self.broker is not None and self.broker.connected
