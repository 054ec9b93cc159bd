"""The running bridge: builds every part from the configuration and runs them together.

One asyncio loop holds it all: driver tasks (each restarted with backoff if it fails, so
one broken sensor never takes the daemon down), the MQTT link and publisher, the bridge's
own diagnostic readings, the HTTP endpoint (with the kiosk page) and the zeroconf announcement.
Shutdown runs in reverse: drivers stop, in-flight readings get a moment to be
acknowledged, ``offline`` is published and acknowledged, the spool is committed and
closed, the announcement withdrawn and the HTTP server stopped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Final

from iot_monitor_bridge import __version__
from iot_monitor_bridge.commands import (
    SETTINGS_META_KEY,
    CommandHandler,
    CommandOutcome,
    DriveOutput,
    Effect,
    ErrorCode,
    FireMachineEvent,
    PersistSettings,
    SetCommitInterval,
    SetHealthInterval,
    SetMachineState,
    SetSensorInterval,
)
from iot_monitor_bridge.config import BridgeConfig
from iot_monitor_bridge.contract.topics import Topics
from iot_monitor_bridge.drivers import build_device_set
from iot_monitor_bridge.drivers.base import DriverError, SensorDriver, now_ms
from iot_monitor_bridge.model import SensorSpec
from iot_monitor_bridge.protocol.discovery import BridgeInfo
from iot_monitor_bridge.runtime.bridge_device import (
    bridge_device,
    broker_reading,
    diagnostic_readings,
)
from iot_monitor_bridge.runtime.ledger import Ledger
from iot_monitor_bridge.runtime.machines import (
    MachineRunner,
    build_runners,
    machine_device,
    machine_device_id,
    machine_state_filters,
)
from iot_monitor_bridge.runtime.mqtt import MqttLink
from iot_monitor_bridge.runtime.publisher import Publisher
from iot_monitor_bridge.runtime.spool import Spool
from iot_monitor_bridge.runtime.status import BridgeSnapshot, BrokerStatus

if TYPE_CHECKING:
    from iot_monitor_bridge.drivers.health import HealthDriver
    from iot_monitor_bridge.runtime.announce import Announcer
    from iot_monitor_bridge.runtime.http import HttpServer
    from iot_monitor_bridge.runtime.kiosk import Kiosk

_LOGGER = logging.getLogger(__name__)

RESTART_DELAY_S: Final = 1.0
RESTART_DELAY_MAX_S: Final = 60.0
STABLE_RUN_S: Final = 60.0
"""A driver that ran this long before failing starts its backoff from the beginning."""
IDLE_WAIT_S: Final = 2.0
"""At shutdown, how long in-flight readings may take to be acknowledged (the rest stay
in the spool and are sent on the next start)."""
SNAPSHOT_WAIT_S: Final = 2.0


def _fault_source(driver: SensorDriver) -> str:
    if len(driver.sensors) == 1:
        return f"{driver.device_id}/{driver.sensors[0].id}"
    return driver.device_id


class BridgeApp:
    """Everything one configuration describes, wired together."""

    def __init__(self, config: BridgeConfig, *, version: str = __version__) -> None:
        """Build drivers and device descriptions; raises ``DriverError`` for unusable ones."""
        self.commands = CommandHandler(config)
        self.version = version
        topics = Topics(config.mqtt.topic_root, config.bridge.id, config.mqtt.discovery_prefix)
        self.info = BridgeInfo(config.bridge.id, config.bridge.display_name, version, topics)
        self.device_set = build_device_set(config)
        self.health: HealthDriver | None = None
        health_sensors: tuple[SensorSpec, ...] = ()
        if config.health.enabled:
            from iot_monitor_bridge.drivers.health import HealthDriver  # noqa: PLC0415 - psutil

            self.health = HealthDriver(config.health)
            health_sensors = self.health.sensors
        self.devices = [
            bridge_device(config.bridge.display_name, health_sensors),
            *self.device_set.devices,
        ]
        taken = {device.id for device in self.devices}
        for machine in config.machines:
            if machine_device_id(machine.id) in taken:
                raise DriverError(
                    f"machines: machine '{machine.id}' is announced as device "
                    f"'{machine_device_id(machine.id)}', which is already a device id"
                )
            self.devices.append(machine_device(machine))
        self.machines: dict[str, MachineRunner] = {}
        self._ledger: Ledger | None = None
        self.sensor_drivers: list[SensorDriver] = list(self.device_set.sensors)
        if self.health is not None:
            self.sensor_drivers.append(self.health)
        self._started = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._spool: Spool | None = None
        self._link: MqttLink | None = None
        self._publisher: Publisher | None = None
        self._announcer: Announcer | None = None
        self._http: HttpServer | None = None
        self._kiosk: Kiosk | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._last_snapshot: BridgeSnapshot | None = None

    @property
    def config(self) -> BridgeConfig:
        """The file's configuration with the remote settings (``set_config``) applied."""
        return self.commands.config

    @property
    def link(self) -> MqttLink:
        """The MQTT link, once ``run`` has started."""
        assert self._link is not None, "the bridge is not running"
        return self._link

    @property
    def publisher(self) -> Publisher:
        """The publisher, once ``run`` has started."""
        assert self._publisher is not None, "the bridge is not running"
        return self._publisher

    @property
    def http_port(self) -> int | None:
        """The port ``/health`` is served on (``http.port: 0`` picks one); ``None`` if not."""
        return self._http.port if self._http is not None else None

    # ----- running -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then shut down cleanly."""
        config = self.config
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._started = time.monotonic()
        self._spool = Spool(config.spool_path, config.spool)
        self._apply(self.commands.restore(self._spool.get_meta(SETTINGS_META_KEY)))
        self._link = MqttLink(
            config.mqtt,
            client_id=f"iot-monitor-{config.bridge.id}",
            availability_topic=self.info.topics.availability,
        )
        self._link.subscribe(self.info.topics.command, self._command)
        outputs = {(o.device_id, o.spec.id): o for o in self.device_set.outputs}
        self._publisher = Publisher(
            link=self._link,
            spool=self._spool,
            info=self.info,
            devices=self.devices,
            outputs=outputs,
            state_filters=self.device_set.state_filters | machine_state_filters(self.devices),
        )
        self._link.on_up.append(self._broker_changed)
        self._publisher.start()
        self._start_machines()
        await self._start_http()
        self._link.start()
        if config.zeroconf.enabled:
            self._start_announcer()
        self._publisher.output_states()
        workers = [
            asyncio.create_task(self._supervise(driver), name=f"driver-{driver.device_id}")
            for driver in self.sensor_drivers
        ]
        workers.append(asyncio.create_task(self._diagnostics_forever(), name="diagnostics"))
        _LOGGER.info(
            "Bridge %s running: %d devices, %d drivers",
            config.bridge.id,
            len(self.devices),
            len(self.sensor_drivers),
        )
        try:
            await stop.wait()
        finally:
            await self._shutdown(workers)

    async def _shutdown(self, workers: list[asyncio.Task[None]]) -> None:
        _LOGGER.info("Shutting down")
        if self._kiosk is not None:
            self._kiosk.close()  # no presses while the machines stop
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for runner in self.machines.values():
            await runner.stop()
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
        publisher, link, spool = self.publisher, self.link, self._spool
        if link.connected:
            await publisher.wait_idle(IDLE_WAIT_S)
        acknowledged = await link.close()
        _LOGGER.info("Availability offline %s", "acknowledged" if acknowledged else "not sent")
        await publisher.stop()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._build_snapshot()  # kept for /health requests that arrive from now on
        if spool is not None:
            spool.close()
            self._spool = None
        if self._announcer is not None:
            await self._announcer.stop()
        if self._http is not None:
            await self._http.stop()
        for output in self.device_set.outputs:
            self._close_quietly(output.close, output.device_id)

    def _start_machines(self) -> None:
        """Restore and start every machine (docs/machines.md); they run offline too."""
        publisher = self.publisher

        def drive(device_id: str, output_id: str, on: bool) -> None:
            publisher.drive_output(device_id, output_id, on=on)

        self._ledger, runners = build_runners(
            self.config,
            emit=publisher.emit,
            drive=drive,
            commit=publisher.commit,
        )
        for runner in runners:
            self.machines[runner.id] = runner
            publisher.listeners.append(runner.reading)
            runner.start()

    async def _start_http(self) -> None:
        """``/health``, ``/metrics`` and, with vending machines, the kiosk page (docs/kiosk.md)."""
        http = self.config.http
        if not http.enabled:
            return
        from iot_monitor_bridge.runtime.http import HttpServer  # noqa: PLC0415 - optional part
        from iot_monitor_bridge.runtime.kiosk import Kiosk, kiosk_token  # noqa: PLC0415

        kiosk: Kiosk | None = None
        vending = {key: r for key, r in self.machines.items() if r.config.vending is not None}
        if vending:
            token: str | None = None
            try:
                token = kiosk_token(self.config)
            except OSError as err:  # the page still works from the Pi's own browser
                _LOGGER.error("Kiosk token unavailable, buttons work on this host only: %s", err)
            kiosk = Kiosk(vending, token)
        server = HttpServer(http.bind, http.port, self.snapshot, kiosk)
        try:
            await server.start()
        except OSError as err:  # port in use: the bridge's real job goes on without it
            _LOGGER.error("HTTP endpoint on %s:%d unavailable: %s", http.bind, http.port, err)
            if kiosk is not None:
                kiosk.close()
            return
        self._http, self._kiosk = server, kiosk
        _LOGGER.info("HTTP endpoint on %s:%d", http.bind, server.port)

    def _start_announcer(self) -> None:
        from iot_monitor_bridge.runtime.announce import Announcer  # noqa: PLC0415 - zeroconf

        mqtt = self.config.mqtt
        self._announcer = Announcer(
            bridge_id=self.info.id,
            name=self.info.name,
            version=self.version,
            topic_root=mqtt.topic_root,
            discovery_prefix=mqtt.discovery_prefix,
            http_port=self.http_port or 0,
        )
        self._in_background(self._announcer.start(None))

    def _in_background(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _broker_changed(self, broker: BrokerStatus) -> None:
        reading = broker_reading(broker, now_ms())
        if reading is not None:
            self.publisher.emit(reading)
        if self._announcer is not None:  # it re-announces only if the TXT or addresses changed
            self._in_background(self._announcer.update((broker.host, broker.port)))

    def _command(self, _topic: str, payload: bytes) -> None:
        """One payload on the command topic: decide, apply the effects, answer at QoS 1."""
        outcome = self.commands.handle(payload, time.monotonic())
        result = outcome.result_payload
        try:
            machine_result = self._apply(outcome.effects)
            if machine_result is not None:
                result = machine_result(outcome)
        except (OSError, sqlite3.Error) as err:  # hardware or the spool file refused
            result = self.commands.failed(outcome, str(err) or type(err).__name__)
        except Exception as err:  # a bug; still exactly one answer
            _LOGGER.exception("Applying command %r failed", outcome.command_id)
            result = self.commands.failed(outcome, f"internal error: {type(err).__name__}")
        self.link.publish(self.info.topics.command_result, result, qos=1)

    def _apply(self, effects: Iterable[Effect]) -> Callable[[CommandOutcome], bytes] | None:
        """Carry out what the command handler decided (docs/mqtt.md, "Command channel").

        A machine command's answer depends on the machine: it is returned, to be published
        instead of the handler's.
        """
        spool = self._spool
        assert spool is not None, "the bridge is not running"
        answer: Callable[[CommandOutcome], bytes] | None = None
        for effect in effects:
            if isinstance(effect, FireMachineEvent | SetMachineState):
                answer = self._machine_command(effect)
            elif isinstance(effect, DriveOutput):
                self.publisher.drive_output(effect.device_id, effect.output_id, on=effect.on)
            elif isinstance(effect, SetSensorInterval):
                driver = self.device_set.configured[(effect.device_id, effect.sensor_id)]
                driver.set_interval(effect.seconds)
            elif isinstance(effect, SetHealthInterval):
                if self.health is not None:  # the diagnostics loop reads self.config
                    self.health.set_interval(effect.seconds)
            elif isinstance(effect, SetCommitInterval):
                spool.set_commit_interval(effect.seconds)
            elif isinstance(effect, PersistSettings):
                spool.set_meta(effect.key, effect.value)
        return answer

    def _machine_command(
        self, effect: FireMachineEvent | SetMachineState
    ) -> Callable[[CommandOutcome], bytes]:
        runner = self.machines.get(effect.machine)
        if runner is None:  # a machine this version does not run
            message = f"machine '{effect.machine}' is not running"
            return lambda outcome: self.commands.refused(outcome, ErrorCode.NOT_ALLOWED, message)
        if isinstance(effect, SetMachineState):
            step = runner.set_state(effect.state)
        else:
            step = runner.fire(effect.event, effect.data)
        result = step.result
        if not result.ok:
            code, message = result.code, result.message
            return lambda outcome: self.commands.refused(outcome, code, message)
        state = runner.machine.s
        answer = {
            "machine": effect.machine,
            "event": result.event,
            "state": runner.machine.state,
            "credit": state.credit,
        }
        return lambda outcome: self.commands.answered(outcome, answer)

    async def _supervise(self, driver: SensorDriver) -> None:
        """Run a driver for ever: a failure is logged and the driver restarted with backoff."""
        name = f"{type(driver).__name__} {_fault_source(driver)}"
        delay = RESTART_DELAY_S
        while True:
            started = time.monotonic()
            try:
                await driver.run(self.publisher.emit)
                _LOGGER.warning("%s stopped by itself; restarting in %.1f s", name, delay)
            except DriverError as err:
                _LOGGER.error("%s: %s; retrying in %.1f s", name, err, delay)
            except Exception:
                _LOGGER.exception("%s failed; restarting in %.1f s", name, delay)
            finally:
                self._close_quietly(driver.close, name)
            if time.monotonic() - started >= STABLE_RUN_S:
                delay = RESTART_DELAY_S
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_DELAY_MAX_S)

    @staticmethod
    def _close_quietly(close: Callable[[], None], name: str) -> None:
        try:
            close()
        except Exception:
            _LOGGER.exception("Closing %s failed", name)

    async def _diagnostics_forever(self) -> None:
        """The bridge's own sensors (broker, spool), at the health interval."""
        while True:
            await asyncio.sleep(self.config.health.interval)
            for reading in diagnostic_readings(self._build_snapshot(), now_ms()):
                self.publisher.emit(reading)

    # ----- the one view of the running bridge ---------------------------------------------

    def snapshot(self) -> BridgeSnapshot:
        """A snapshot from any thread (the HTTP server's included)."""
        loop = self._loop
        if loop is None or loop.is_closed() or self._on_loop_thread():
            return self._build_snapshot()
        result: concurrent.futures.Future[BridgeSnapshot] = concurrent.futures.Future()

        def fill() -> None:
            try:
                result.set_result(self._build_snapshot())
            except Exception as err:  # noqa: BLE001 - handed to the waiting thread
                result.set_exception(err)

        try:
            loop.call_soon_threadsafe(fill)
            return result.result(SNAPSHOT_WAIT_S)
        except (RuntimeError, concurrent.futures.TimeoutError):
            return self._last_snapshot or self._build_snapshot(with_spool=False)

    def _on_loop_thread(self) -> bool:
        return self._loop_thread == threading.get_ident()

    def _build_snapshot(self, *, with_spool: bool = True) -> BridgeSnapshot:
        spool = self._spool if with_spool else None
        link, publisher = self._link, self._publisher
        faults = {
            _fault_source(driver): dict(driver.faults.counts)
            for driver in self.sensor_drivers
            if driver.faults.counts
        }
        for source, log in (
            ("publisher", publisher.faults if publisher else None),
            ("mqtt", link.faults if link else None),
        ):
            if log is not None and log.counts:
                faults[source] = dict(log.counts)
        snapshot = BridgeSnapshot(
            bridge_id=self.info.id,
            version=self.version,
            uptime_s=round(time.monotonic() - self._started, 3),
            broker=link.broker if link else None,
            failovers=link.failovers if link else 0,
            readings_total=publisher.readings_total if publisher else 0,
            published_total=publisher.published_total if publisher else 0,
            spool_depth=spool.depth if spool else 0,
            spool_dropped=spool.dropped if spool else 0,
            spool_oldest_age_s=spool.oldest_age_s() if spool else None,
            devices=len(self.devices) - 1,
            faults=faults,
            commands=dict(self.commands.counts),
        )
        if with_spool:
            self._last_snapshot = snapshot
        return snapshot
