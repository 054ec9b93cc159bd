"""``iot-monitor-bridge``: run the bridge, or check a configuration without running it.

Exit codes: 0 clean (also after SIGTERM/SIGINT); 1 the bridge could not start (state
directory or spool unusable); 2 the configuration (or a driver it asks for) is unusable,
each problem on its own line on stderr without a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sqlite3
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from iot_monitor_bridge import __version__
from iot_monitor_bridge.config import (
    DEFAULT_CONFIG_PATH,
    BridgeConfig,
    ConfigError,
    load_config,
)
from iot_monitor_bridge.drivers.base import DriverError

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_CONFIG: Final = 2

_LOGGER = logging.getLogger("iot_monitor_bridge")

_SYSLOG_PRIORITY: Final = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


class JournalFormatter(logging.Formatter):
    """``<priority>`` prefixes let journald store each line's level; it adds the time."""

    def format(self, record: logging.LogRecord) -> str:
        """The line with its syslog priority prefix (``<4>`` for a warning)."""
        priority = _SYSLOG_PRIORITY.get(record.levelno, 6)
        return f"<{priority}>{super().format(record)}"


def setup_logging(level: str) -> None:
    """Log to stderr; under systemd (``JOURNAL_STREAM`` set) without timestamps."""
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iot-monitor-bridge",
        description="Raspberry Pi sensors to MQTT with Home Assistant discovery.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in (
        ("run", "run the bridge until SIGTERM or Ctrl-C"),
        ("check-config", "validate a configuration and summarise it; changes nothing"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "--config",
            type=Path,
            default=DEFAULT_CONFIG_PATH,
            metavar="PATH",
            help=f"configuration file (default: {DEFAULT_CONFIG_PATH})",
        )
    return parser


def _report_problems(problems: Sequence[str]) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    return EXIT_CONFIG


def password_exposed(path: Path, config: BridgeConfig) -> bool:
    """Whether the file holds the MQTT password and every user on the machine can read it."""
    if config.mqtt.password is None:
        return False
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & stat.S_IROTH)


def _summary(config: BridgeConfig) -> list[str]:
    from iot_monitor_bridge.runtime.app import BridgeApp  # noqa: PLC0415 - heavy, run only

    app = BridgeApp(config)
    lines = [f"bridge: {config.bridge.id} ({config.bridge.display_name})"]
    for index, broker in enumerate(config.mqtt.brokers):
        role = "primary" if index == 0 else "failover"
        lines.append(f"broker: {broker.host}:{broker.port} ({role})")
    for device in app.devices:
        outputs = f", {len(device.outputs)} outputs" if device.outputs else ""
        lines.append(f"device: {device.id} ({device.name}): {len(device.sensors)} sensors{outputs}")
    sensors = sum(len(device.sensors) for device in app.devices)
    lines.append(f"total: {len(app.devices)} devices, {sensors} sensors")
    for machine in config.machines:
        kind = "vending machine" if machine.vending is not None else "state machine"
        lines.append(f"machine: {machine.id} ({kind}, {len(machine.states)} states)")
    return lines


def _load(path: Path) -> BridgeConfig | None:
    try:
        return load_config(path)
    except ConfigError as err:
        _report_problems(err.problems)
        return None


def _exposure_warning(path: Path) -> str:
    return f"{path} holds the MQTT password and is readable by every user; run: chmod o-r {path}"


def check_config(path: Path) -> int:
    """``check-config``: validate the file and print what it describes; the exit code.

    The drivers are built but not started, so a driver the machine cannot have (a missing
    library, a bad pin) is reported like a problem in the file.
    """
    config = _load(path)
    if config is None:
        return EXIT_CONFIG
    if password_exposed(path, config):
        print(f"warning: {_exposure_warning(path)}", file=sys.stderr)
    try:
        lines = _summary(config)
    except DriverError as err:
        return _report_problems([str(err)])
    print(f"{path}: ok")
    for line in lines:
        print(f"  {line}")
    return EXIT_OK


async def _serve(config: BridgeConfig) -> None:
    from iot_monitor_bridge.runtime.app import BridgeApp  # noqa: PLC0415 - after logging setup

    app = BridgeApp(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await app.run(stop)


def run(path: Path) -> int:
    """``run``: serve until SIGTERM or SIGINT; the exit code (see the module docstring)."""
    config = _load(path)
    if config is None:
        return EXIT_CONFIG
    setup_logging(config.log_level)
    _LOGGER.info("iot-monitor-bridge %s, config %s", __version__, path)
    if password_exposed(path, config):
        _LOGGER.warning("%s", _exposure_warning(path))
    try:
        asyncio.run(_serve(config))
    except DriverError as err:
        _LOGGER.error("%s", err)
        return EXIT_CONFIG
    except (OSError, sqlite3.Error) as err:  # state directory or spool unusable
        _LOGGER.error("Cannot start: %s", err)
        return EXIT_FAILURE
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were in place
        return EXIT_OK
    _LOGGER.info("Stopped")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """The ``iot-monitor-bridge`` entry point: parse ``argv``, run the command, the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return check_config(args.config)
    return run(args.config)
