"""The retained bridge description: one schema, built by the bridge, decoded by the integration.

Published on ``<topic_root>/<bridge_id>/description``; documented in docs/mqtt.md. It tells the
integration which devices, sensors and outputs a bridge has without parsing Home Assistant's
discovery format. ``contract`` is checked before anything else, so a bridge and an integration
that speak different versions of this contract can say which side to update.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final

import msgspec

from . import CONTRACT_VERSION
from .ids import BRIDGE_DEVICE_ID, BRIDGE_ID_PATTERN, ID_PATTERN

Id = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]
BridgeId = Annotated[str, msgspec.Meta(pattern=BRIDGE_ID_PATTERN)]


class SensorKind(StrEnum):
    """How a sensor's value is shaped; decides the Home Assistant platform."""

    NUMERIC = "numeric"  # sensor with a unit; the integration computes statistics over it
    BINARY = "binary"  # binary_sensor, value is a bool
    ENUM = "enum"  # sensor with device_class enum and a fixed set of options
    TEXT = "text"  # free text sensor
    LOCATION = "location"  # device_tracker, value is {"latitude": .., "longitude": ..}
    EVENT = "event"  # event entity, value is {"event_type": one of options, ...attributes}


class _Part(msgspec.Struct, frozen=True, kw_only=True):
    """Unknown fields are ignored: fields are only added within a contract version."""


class SensorDescription(_Part, frozen=True, kw_only=True):
    """One sensor as the integration needs it."""

    id: Id
    name: str | None
    """``None``: the sensor is named by its device class, in the user's language."""
    kind: SensorKind
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    options: tuple[str, ...] = ()
    precision: Annotated[int, msgspec.Meta(ge=0, le=15)] | None = None
    diagnostic: bool = False
    statistics: bool = True
    """``False``: a number with no rolling statistics (a machine's credit, stock, sales)."""

    @property
    def windowed(self) -> bool:
        """Whether the integration keeps rolling statistics of this sensor."""
        return self.kind is SensorKind.NUMERIC and self.statistics


class OutputDescription(_Part, frozen=True, kw_only=True):
    """One output (relay, LED, buzzer) Home Assistant can drive."""

    id: Id
    name: str


class DeviceDescription(_Part, frozen=True, kw_only=True):
    """The bridge itself (id ``bridge``) or a device behind it."""

    id: Id
    name: str
    model: str
    identifier: str
    """Home Assistant device identifier (``mqtt`` domain), as in its discovery ``dev.ids``."""
    sensors: tuple[SensorDescription, ...] = ()
    outputs: tuple[OutputDescription, ...] = ()

    @property
    def is_bridge(self) -> bool:
        """Whether this is the bridge's own device."""
        return self.id == BRIDGE_DEVICE_ID


class DescriptionTopics(_Part, frozen=True, kw_only=True):
    """The exact topics of the bridge, so a reader builds none of them itself."""

    availability: str
    stream: str
    command: str
    command_result: str


class BridgeDescription(_Part, frozen=True, kw_only=True):
    """What a bridge is and has; ``contract`` is always ``CONTRACT_VERSION`` when decoded."""

    contract: int = CONTRACT_VERSION
    id: BridgeId
    name: str
    version: str
    topic_root: str
    discovery_prefix: str
    topics: DescriptionTopics
    devices: tuple[DeviceDescription, ...] = ()

    @property
    def device_count(self) -> int:
        """Devices behind the bridge, not counting the bridge itself."""
        return sum(1 for device in self.devices if not device.is_bridge)


class InvalidDescriptionError(ValueError):
    """The payload is not a bridge description of this contract."""


class ContractMismatchError(InvalidDescriptionError):
    """A description of another contract version: one side needs an update."""

    def __init__(self, bridge_id: str | None, found: int | None) -> None:
        """Name the bridge and the version it speaks (``None``: older than versioning)."""
        self.bridge_id = bridge_id
        self.found = found
        self.spoken: Final = 1 if found is None else found
        """The version the bridge speaks: 1 had no ``contract`` field."""
        self.update: Final = "bridge" if self.spoken < CONTRACT_VERSION else "integration"
        super().__init__(
            f"bridge {bridge_id!r} speaks contract {self.spoken}, "
            f"this side {CONTRACT_VERSION}: update the {self.update}"
        )


class _Envelope(msgspec.Struct, frozen=True):
    contract: int | None = None
    id: str | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_DECODER = msgspec.json.Decoder(BridgeDescription)
_ENCODER = msgspec.json.Encoder()


def encode_description(description: BridgeDescription) -> bytes:
    """Return the retained payload of ``description``."""
    return _ENCODER.encode(description)


def decode_description(payload: bytes | bytearray | str) -> BridgeDescription:
    """Return the description in ``payload``.

    Raise ``ContractMismatchError`` for a description of another contract version and
    ``InvalidDescriptionError`` for anything else that is not a description.
    """
    try:
        envelope = _ENVELOPE.decode(payload)
    except msgspec.DecodeError as err:
        raise InvalidDescriptionError(f"not a description: {err}") from None
    if envelope.contract != CONTRACT_VERSION:
        raise ContractMismatchError(envelope.id, envelope.contract)
    try:
        return _DECODER.decode(payload)
    except msgspec.DecodeError as err:
        raise InvalidDescriptionError(str(err)) from None
